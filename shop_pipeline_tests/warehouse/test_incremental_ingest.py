"""Cost follows the change: unchanged files are not read again, unchanged days not staged again,
removed files keep their rows, files dated outside the partitions fail alone, and a file name
with glob characters reads only that file."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from shop_pipeline.sources.landing import discover, files_for_days
from shop_pipeline.warehouse import ingest, staging
from shop_pipeline.warehouse.staging import StagingRules
from shop_pipeline_tests.landing_fixtures import event_line, write_events
from shop_pipeline_tests.warehouse.helpers import DAY1, DAY2, NOW, rows, run_days, snapshot, stage


def test_unchanged_files_are_not_read_again_and_unchanged_days_not_staged(con, landing):
    write_events(landing, "a_2025-01-01.csv", [event_line("e1", when="2025-01-01T10:00:00Z")])
    write_events(landing, "b_2025-01-02.csv", [event_line("e2", user="u2")])
    run_days(con, landing, [DAY1, DAY2])
    before = snapshot(con)
    rules = StagingRules()
    assert staging.days_to_stage(con, [DAY1, DAY2], rules) == []

    report = ingest.load_batch(con, files_for_days(landing, {DAY1, DAY2}), [DAY1, DAY2], NOW + dt.timedelta(days=1))
    assert report.changed == [] and all(f.unchanged for f in report.files)
    assert rows(con, "SELECT count(*) FROM batch_events") == [(0,)]
    ingest.publish_batch(con, [DAY1, DAY2])
    assert snapshot(con) == before

    # touched but the same bytes: still not read; new bytes: read, and only that day is staged again
    path = landing / "events" / "b_2025-01-02.csv"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    report = ingest.load_batch(con, files_for_days(landing, {DAY1, DAY2}), [DAY1, DAY2], NOW)
    assert report.changed == []
    write_events(landing, "b_2025-01-02.csv", [event_line("e2", user="u2"), event_line("e3", user="u3")])
    report = ingest.load_batch(con, files_for_days(landing, {DAY1, DAY2}), [DAY1, DAY2], NOW)
    assert [f.path for f in report.changed] == ["events/b_2025-01-02.csv"]
    ingest.publish_batch(con, [DAY1, DAY2])
    assert staging.days_to_stage(con, [DAY1, DAY2], rules) == [DAY2]
    stage(con, [DAY2])
    assert staging.days_to_stage(con, [DAY1, DAY2], rules) == []
    assert sorted(r[0] for r in rows(con, "SELECT event_id FROM staging.events")) == ["e1", "e2", "e3"]
    # other rules: every day is staged again
    assert staging.days_to_stage(con, [DAY1, DAY2], StagingRules(max_lateness_days=1)) == [DAY1, DAY2]


def test_a_day_holding_duplicates_of_a_changed_file_is_staged_again(con, landing):
    write_events(landing, "a_2025-01-01.csv", [event_line("e1", when="2025-01-01T10:00:00Z")])
    write_events(landing, "b_2025-01-02.csv", [event_line("e5", user="u5"),
                                                event_line("e1", when="2025-01-01T10:00:00Z")])  # a late copy
    run_days(con, landing, [DAY1, DAY2])
    assert rows(con, "SELECT event_id, partition_date FROM staging.events ORDER BY 1") == [("e1", DAY1), ("e5", DAY2)]
    assert rows(con, "SELECT event_id, kept_source_file FROM staging.duplicate_events") == [
        ("e1", "events/a_2025-01-01.csv")]
    write_events(landing, "a_2025-01-01.csv", [event_line("e9", when="2025-01-01T11:00:00Z", user="u9")])
    ingest.load_batch(con, files_for_days(landing, {DAY1, DAY2}), [DAY1, DAY2], NOW + dt.timedelta(hours=1))
    ingest.publish_batch(con)
    assert staging.days_to_stage(con, [DAY1, DAY2], StagingRules()) == [DAY1, DAY2]
    stage(con, [DAY1, DAY2])
    # the changed file no longer has e1: the late copy is now the first one
    assert rows(con, "SELECT event_id, partition_date FROM staging.events ORDER BY 1") == [
        ("e1", DAY2), ("e5", DAY2), ("e9", DAY1)]


def test_removing_a_landed_file_keeps_its_published_events(con, landing):
    """Issue 13 item 3: a file that left the landing folder keeps its rows (and its record)."""
    kept = write_events(landing, "a_2025-01-02.csv", [event_line("e1")])
    write_events(landing, "b_2025-01-02.csv", [event_line("e2", user="u2")])
    run_days(con, landing, [DAY2])
    before = snapshot(con)
    kept.unlink()
    run_days(con, landing, [DAY2], now=NOW + dt.timedelta(days=1))
    assert snapshot(con) == before
    # a new file on that day: the removed file's events stay next to the new ones
    write_events(landing, "c_2025-01-02.csv", [event_line("e3", user="u3")])
    run_days(con, landing, [DAY2], now=NOW + dt.timedelta(days=1))
    assert sorted(r[0] for r in rows(con, "SELECT event_id FROM staging.events")) == ["e1", "e2", "e3"]
    assert ("events/a_2025-01-02.csv", "ingested", 1) in rows(
        con, "SELECT path, status, rows_clean FROM raw.ingested_files")


def test_a_file_dated_after_tomorrow_fails_alone_with_a_readable_reason(con, landing):
    write_events(landing, "events_2099-01-01.csv", [event_line("x1")])
    write_events(landing, "events_2019-06-01.csv", [event_line("x0")])
    write_events(landing, "events_2025-01-02.csv", [event_line("e1")])
    valid = (DAY1, dt.date(2026, 12, 2))
    files = [f for f in discover(landing) if f.day == DAY2 or ingest.out_of_range_reason(f.day, valid)]
    report = ingest.load_batch(con, files, [DAY2], NOW, valid_days=valid)
    ingest.publish_batch(con, [DAY2])
    stage(con, [DAY2])
    errors = dict(rows(con, "SELECT path, error FROM raw.ingested_files WHERE status = 'failed'"))
    assert errors["events/events_2099-01-01.csv"].startswith("dated 2099-01-01, after tomorrow (2026-12-02")
    assert errors["events/events_2019-06-01.csv"].startswith(
        "dated 2019-06-01, before the first partition day 2025-01-01")
    assert [f.path for f in report.ingested] == ["events/events_2025-01-02.csv"]
    assert rows(con, "SELECT event_id FROM staging.events") == [("e1",)]
    assert rows(con, "SELECT count(*) FROM raw.events") == [(1,)]


@pytest.mark.parametrize("name", ["copy [1] 2025-01-02.csv", "star*2025-01-02.csv", "what? 2025-01-02.csv",
                                  "[ab] 2025-01-02.csv"])
def test_a_name_with_glob_characters_reads_only_that_file(con, landing, name):
    """DuckDB's readers expand [ ] * ? even in a parameter: names are escaped before they reach it."""
    write_events(landing, name, [event_line("mine")])
    for neighbour in ("copy 1 2025-01-02.csv", "starX2025-01-02.csv", "whatX 2025-01-02.csv", "a 2025-01-02.csv"):
        write_events(landing, neighbour, [event_line(f"other-{neighbour[:4]}", user=neighbour[:4])])
    run_days(con, landing, [DAY2])
    assert rows(con, "SELECT event_id FROM raw.events WHERE source_file = $f", {"f": f"events/{name}"}) == [("mine",)]
    assert rows(con, "SELECT count(*) FROM raw.events") == [(5,)]
    files = dict(rows(con, "SELECT path, rows_read FROM raw.ingested_files"))
    assert files[f"events/{name}"] == 1 and len(files) == 5


def test_a_file_dated_tomorrow_utc_is_ingested_and_the_day_after_is_refused(con, landing, monkeypatch):
    """Shops east of UTC name files by their local day, which is already tomorrow in UTC: such a
    file, inside the run's range, is ingested; a file dated the day after tomorrow is refused
    with a reason a person can read. The bounds are the ones the raw_events asset uses."""
    from shop_pipeline.settings import PARTITIONS_START_ENV, partition_bounds

    monkeypatch.setenv(PARTITIONS_START_ENV, DAY1.isoformat())
    today, tomorrow, after = DAY1, DAY2, DAY2 + dt.timedelta(days=1)
    write_events(landing, "tokyo_2025-01-02.csv", [event_line("east", when="2025-01-02T01:00:00Z")])
    write_events(landing, "early_2025-01-03.csv", [event_line("early", when="2025-01-03T01:00:00Z", user="u2")])
    valid = partition_bounds(today=today)
    files = [f for f in discover(landing) if f.day == tomorrow or ingest.out_of_range_reason(f.day, valid)]
    report = ingest.load_batch(con, files, [tomorrow], NOW, valid_days=valid)
    ingest.publish_batch(con, [tomorrow])
    stage(con, [tomorrow])
    assert [f.path for f in report.ingested] == ["events/tokyo_2025-01-02.csv"]
    assert rows(con, "SELECT event_id FROM staging.events") == [("east",)]
    assert [f.path for f in report.failed] == ["events/early_2025-01-03.csv"]
    refused = report.failed[0]
    assert refused.error.startswith(f"dated {after.isoformat()}, after tomorrow ({tomorrow.isoformat()}, UTC)")
    assert "name the file with the day its events belong to" in refused.error
