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
from shop_pipeline_tests.warehouse.helpers import DAY1, DAY2, DAY3, NOW, ingest_days, rows, run_days, snapshot, stage


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
    write_events(
        landing, "b_2025-01-02.csv", [event_line("e5", user="u5"), event_line("e1", when="2025-01-01T10:00:00Z")]
    )  # a late copy
    run_days(con, landing, [DAY1, DAY2])
    assert rows(con, "SELECT event_id, partition_date FROM staging.events ORDER BY 1") == [("e1", DAY1), ("e5", DAY2)]
    assert rows(con, "SELECT event_id, kept_source_file FROM staging.duplicate_events") == [
        ("e1", "events/a_2025-01-01.csv")
    ]
    write_events(landing, "a_2025-01-01.csv", [event_line("e9", when="2025-01-01T11:00:00Z", user="u9")])
    ingest.load_batch(con, files_for_days(landing, {DAY1, DAY2}), [DAY1, DAY2], NOW + dt.timedelta(hours=1))
    ingest.publish_batch(con)
    assert staging.days_to_stage(con, [DAY1, DAY2], StagingRules()) == [DAY1, DAY2]
    stage(con, [DAY1, DAY2])
    # the changed file no longer has e1: the late copy is now the first one
    assert rows(con, "SELECT event_id, partition_date FROM staging.events ORDER BY 1") == [
        ("e1", DAY2),
        ("e5", DAY2),
        ("e9", DAY1),
    ]


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
        con, "SELECT path, status, rows_clean FROM raw.ingested_files"
    )


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
        "dated 2019-06-01, before the first partition day 2025-01-01"
    )
    assert [f.path for f in report.ingested] == ["events/events_2025-01-02.csv"]
    assert rows(con, "SELECT event_id FROM staging.events") == [("e1",)]
    assert rows(con, "SELECT count(*) FROM raw.events") == [(1,)]


@pytest.mark.parametrize(
    "name", ["copy [1] 2025-01-02.csv", "star*2025-01-02.csv", "what? 2025-01-02.csv", "[ab] 2025-01-02.csv"]
)
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


def _hashed_paths(monkeypatch, unreadable=()):
    """Record which files ingestion hashes (reads); the names in `unreadable` fail to open."""
    hashed = []
    real = ingest.fingerprint

    def spy(path):
        hashed.append(path.name)
        if path.name in unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(ingest, "fingerprint", spy)
    return hashed


def _outcomes(report):
    return [(f.path, f.status, f.rows_read, f.duplicate_of, f.error) for f in report.files]


def test_an_unchanged_file_is_not_read_again_and_the_report_keeps_its_verdict(con, landing, monkeypatch):
    """Cost follows the change: a file recorded with the same size and modification time is not
    even hashed, whatever its verdict, and the run's report still lists it with that verdict."""
    events = landing / "events"
    original = write_events(
        landing,
        "a_2025-01-01.csv",
        [event_line("e1", when="2025-01-01T10:00:00Z"), event_line("e2", when="2025-01-01T11:00:00Z", user="u2")],
    )
    copy = events / "copy_2025-01-01.csv"
    copy.write_bytes(original.read_bytes())
    os.utime(copy, ns=(original.stat().st_mtime_ns + 10**9,) * 2)  # arrived after the original
    (events / "sheet_2025-01-02.xlsx").write_bytes(b"PK\x03\x04")
    (events / "notes_2025-01-02").write_text("not events")
    (events / "empty_2025-01-02.csv").write_bytes(b"")

    first = ingest.load_batch(con, files_for_days(landing, {DAY1, DAY2}), [DAY2, DAY1], NOW)
    ingest.publish_batch(con)

    assert first.days == [DAY1, DAY2]
    outcomes = _outcomes(first)
    empty_error = first.failed[0].error
    assert outcomes == [
        ("events/a_2025-01-01.csv", "ingested", 2, None, None),
        ("events/copy_2025-01-01.csv", "duplicate_file", 2, "events/a_2025-01-01.csv", None),
        ("events/empty_2025-01-02.csv", "failed", None, None, empty_error),
        (
            "events/notes_2025-01-02",
            "failed",
            None,
            None,
            "unsupported file type '(no extension)': expected .csv, .jsonl or .parquet",
        ),
        (
            "events/sheet_2025-01-02.xlsx",
            "failed",
            None,
            None,
            "unsupported file type '.xlsx': expected .csv, .jsonl or .parquet",
        ),
    ]
    assert "empty" in empty_error
    manifest = rows(con, "SELECT * FROM raw.ingested_files ORDER BY path")

    write_events(landing, "b_2025-01-02.csv", [event_line("e3", user="u3")])
    hashed = _hashed_paths(monkeypatch)
    second = ingest.load_batch(con, files_for_days(landing, {DAY1, DAY2}), [DAY1, DAY2], NOW + dt.timedelta(days=1))
    ingest.publish_batch(con)

    assert hashed == ["b_2025-01-02.csv"]
    assert [f.path for f in second.changed] == ["events/b_2025-01-02.csv"]
    assert [o for o, f in zip(_outcomes(second), second.files) if f.unchanged] == outcomes
    assert (
        rows(con, "SELECT * FROM raw.ingested_files WHERE path <> 'events/b_2025-01-02.csv' ORDER BY path") == manifest
    )


def test_a_file_gone_before_it_is_read_fails_with_the_reason_and_the_others_go_through(con, landing):
    """A file listed, then moved away before ingestion reached it (an upload tool tidying up)."""
    gone = write_events(landing, "gone_2025-01-02.csv", [event_line("g1")])
    write_events(landing, "kept_2025-01-02.csv", [event_line("k1", user="u2")])
    os.utime(gone, ns=(1_700_000_000 * 10**9,) * 2)  # listed first
    files = files_for_days(landing, {DAY2})
    assert [f.relative for f in files] == ["events/gone_2025-01-02.csv", "events/kept_2025-01-02.csv"]
    gone.unlink()

    report = ingest.load_batch(con, files, [DAY2], NOW)
    ingest.publish_batch(con)

    assert _outcomes(report) == [
        ("events/gone_2025-01-02.csv", "failed", None, None, "cannot read file: No such file or directory"),
        ("events/kept_2025-01-02.csv", "ingested", 1, None, None),
    ]
    assert rows(con, "SELECT path, status, error FROM raw.ingested_files ORDER BY path") == [
        ("events/gone_2025-01-02.csv", "failed", "cannot read file: No such file or directory"),
        ("events/kept_2025-01-02.csv", "ingested", None),
    ]
    assert rows(con, "SELECT event_id FROM raw.events") == [("k1",)]


def test_a_file_that_cannot_be_opened_fails_with_the_reason_and_is_read_once_it_can(con, landing, monkeypatch):
    locked = write_events(landing, "locked_2025-01-02.csv", [event_line("l1")])
    write_events(landing, "open_2025-01-02.csv", [event_line("o1", user="u2")])
    os.utime(locked, ns=(1_700_000_000 * 10**9,) * 2)  # hashed first
    _hashed_paths(monkeypatch, unreadable={"locked_2025-01-02.csv"})

    report = run_days(con, landing, [DAY2])

    assert _outcomes(report) == [
        ("events/locked_2025-01-02.csv", "failed", None, None, "cannot read file: Permission denied"),
        ("events/open_2025-01-02.csv", "ingested", 1, None, None),
    ]
    assert rows(
        con,
        "SELECT status, error, modified_ns FROM raw.ingested_files WHERE path = $p",
        {"p": "events/locked_2025-01-02.csv"},
    ) == [("failed", "cannot read file: Permission denied", locked.stat().st_mtime_ns)]
    assert rows(con, "SELECT event_id FROM staging.events") == [("o1",)]

    monkeypatch.undo()  # the permissions are fixed; the file itself did not change
    report = run_days(con, landing, [DAY2], now=NOW + dt.timedelta(hours=1))
    assert [(f.path, f.status) for f in report.changed] == [("events/locked_2025-01-02.csv", "ingested")]
    assert sorted(rows(con, "SELECT event_id FROM staging.events")) == [("l1",), ("o1",)]


@pytest.mark.parametrize("what_became_of_the_file", ["rewritten", "unreadable"])
def test_old_bytes_landed_again_under_a_new_name_keep_their_events_when_their_file_is_replaced(
    con, landing, monkeypatch, what_became_of_the_file
):
    """Exactly once without loss: a file's old bytes, landed again under a new name in the batch
    that replaces the file, are not a duplicate of rows that batch removes: they are ingested."""
    first = write_events(landing, "x_2025-01-02.csv", [event_line("e1"), event_line("e2", user="u2")])
    run_days(con, landing, [DAY2])
    old = landing / "events" / "x_old_2025-01-02.csv"
    old.write_bytes(first.read_bytes())
    if what_became_of_the_file == "rewritten":
        write_events(landing, "x_2025-01-02.csv", [event_line("e3", user="u3")])
    else:
        os.utime(first, ns=(first.stat().st_mtime_ns + 10**9,) * 2)
        _hashed_paths(monkeypatch, unreadable={"x_2025-01-02.csv"})

    run_days(con, landing, [DAY2], now=NOW + dt.timedelta(hours=1))

    assert rows(
        con, "SELECT status, duplicate_of FROM raw.ingested_files WHERE path = 'events/x_old_2025-01-02.csv'"
    ) == [("ingested", None)]
    expected = [("e1", "events/x_old_2025-01-02.csv"), ("e2", "events/x_old_2025-01-02.csv")]
    if what_became_of_the_file == "rewritten":
        expected.append(("e3", "events/x_2025-01-02.csv"))
    assert rows(con, "SELECT event_id, source_file FROM staging.events ORDER BY 1") == expected


@pytest.mark.parametrize("what_became_of_the_file", ["rewritten", "unreadable"])
@pytest.mark.parametrize("copy_day, run", [(DAY2, [DAY2]), (DAY3, [DAY2, DAY3])])
def test_a_copy_recorded_as_duplicate_keeps_the_events_when_its_original_is_replaced(
    con, landing, monkeypatch, what_became_of_the_file, copy_day, run
):
    """A copy of a file's bytes landed earlier was recorded as duplicate_file (no rows of its own). When the
    original is rewritten (or can no longer be read), its old rows go: the copy then holds the only landed
    instance of those events and becomes the ingested one, so nothing is lost."""
    first = write_events(landing, "x_2025-01-02.csv", [event_line("e1"), event_line("e2", user="u2")])
    copy_name = f"events/x_copy_{copy_day.isoformat()}.csv"
    (landing / copy_name).write_bytes(first.read_bytes())
    run_days(con, landing, run)
    assert rows(con, "SELECT status, duplicate_of FROM raw.ingested_files WHERE path = $p", {"p": copy_name}) == [
        ("duplicate_file", "events/x_2025-01-02.csv")
    ]
    if what_became_of_the_file == "rewritten":
        write_events(landing, "x_2025-01-02.csv", [event_line("e3", user="u3")])
    else:
        os.utime(first, ns=(first.stat().st_mtime_ns + 10**9,) * 2)
        _hashed_paths(monkeypatch, unreadable={"x_2025-01-02.csv"})

    report = run_days(con, landing, run, now=NOW + dt.timedelta(hours=1))

    assert ("events/x_copy_" + copy_day.isoformat() + ".csv", copy_day, "ingested") in [
        (f.path, f.day, f.status) for f in report.changed
    ]
    assert rows(
        con, "SELECT status, duplicate_of, rows_read FROM raw.ingested_files WHERE path = $p", {"p": copy_name}
    ) == [("ingested", None, 2)]
    expected = [("e1", copy_name, copy_day), ("e2", copy_name, copy_day)]
    if what_became_of_the_file == "rewritten":
        expected.append(("e3", "events/x_2025-01-02.csv", DAY2))
    assert rows(con, "SELECT event_id, source_file, partition_date FROM staging.events ORDER BY 1") == expected
    assert rows(con, "SELECT event_id, source_file, partition_date FROM raw.events ORDER BY 1") == expected
    # ingested_at stays the first time these bytes were ingested
    assert rows(con, "SELECT DISTINCT ingested_at FROM raw.events WHERE source_file = $p", {"p": copy_name}) == [(NOW,)]
    # and a run on unchanged files changes nothing more (an unreadable file is tried again each run)
    if what_became_of_the_file == "rewritten":
        before = snapshot(con)
        run_days(con, landing, run, now=NOW + dt.timedelta(hours=2))
        assert snapshot(con) == before


def test_a_copy_on_a_day_outside_the_run_keeps_the_events_and_its_day_is_staged_when_next_run(con, landing):
    first = write_events(landing, "x_2025-01-02.csv", [event_line("e1"), event_line("e2", user="u2")])
    (landing / "events" / "x_copy_2025-01-03.csv").write_bytes(first.read_bytes())
    run_days(con, landing, [DAY2, DAY3])
    write_events(landing, "x_2025-01-02.csv", [event_line("e3", user="u3")])

    run_days(con, landing, [DAY2], now=NOW + dt.timedelta(hours=1))  # the copy's day is not in this run

    assert rows(con, "SELECT event_id, source_file, partition_date FROM raw.events ORDER BY 1") == [
        ("e1", "events/x_copy_2025-01-03.csv", DAY3),
        ("e2", "events/x_copy_2025-01-03.csv", DAY3),
        ("e3", "events/x_2025-01-02.csv", DAY2),
    ]
    assert staging.days_to_stage(con, [DAY2, DAY3], StagingRules()) == [DAY3]
    stage(con, [DAY3])
    assert rows(con, "SELECT event_id, partition_date FROM staging.events ORDER BY 1") == [
        ("e1", DAY3),
        ("e2", DAY3),
        ("e3", DAY2),
    ]


def test_of_several_recorded_copies_one_keeps_the_events_and_the_others_point_at_it(con, landing):
    first = write_events(landing, "x_2025-01-02.csv", [event_line("e1")])
    for name in ("y_copy_2025-01-02.csv", "w_copy_2025-01-02.csv"):
        (landing / "events" / name).write_bytes(first.read_bytes())
    run_days(con, landing, [DAY2])
    write_events(landing, "x_2025-01-02.csv", [event_line("e3", user="u3")])

    report = run_days(con, landing, [DAY2], now=NOW + dt.timedelta(hours=1))

    assert sorted((f.path, f.status, f.duplicate_of) for f in report.changed) == [
        ("events/w_copy_2025-01-02.csv", "ingested", None),
        ("events/x_2025-01-02.csv", "ingested", None),
        ("events/y_copy_2025-01-02.csv", "duplicate_file", "events/w_copy_2025-01-02.csv"),
    ]
    assert rows(con, "SELECT event_id, source_file FROM staging.events ORDER BY 1") == [
        ("e1", "events/w_copy_2025-01-02.csv"),
        ("e3", "events/x_2025-01-02.csv"),
    ]


def test_a_warehouse_recorded_without_modification_times_is_checked_once_and_stays_the_same(con, landing):
    """raw.ingested_files.modified_ns came with a later version (ALTER TABLE ... ADD COLUMN): a
    record without it is checked once by reading the file again, and re-ingesting the same bytes
    at the same path gives the same tables: every verdict and ingested_at are kept."""
    original = write_events(landing, "a_2025-01-02.csv", [event_line("e1"), event_line("e2", user="u2"), ""])
    copy = landing / "events" / "copy_2025-01-02.csv"
    copy.write_bytes(original.read_bytes())
    os.utime(copy, ns=(original.stat().st_mtime_ns + 10**9,) * 2)
    (landing / "events" / "garbage_2025-01-02.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x00")
    (landing / "events" / "sheet_2025-01-02.xlsx").write_bytes(b"PK\x03\x04")
    run_days(con, landing, [DAY2])
    before = snapshot(con)
    con.execute("UPDATE raw.ingested_files SET modified_ns = NULL")  # as the migration leaves old records

    report = run_days(con, landing, [DAY2], now=NOW + dt.timedelta(days=2))

    assert sorted(f.path for f in report.changed) == [
        "events/a_2025-01-02.csv",
        "events/copy_2025-01-02.csv",
        "events/garbage_2025-01-02.csv",
        "events/sheet_2025-01-02.xlsx",
    ]
    assert snapshot(con) == before
    assert ingest.load_batch(con, files_for_days(landing, {DAY2}), [DAY2], NOW + dt.timedelta(days=3)).changed == []


def test_before_read_is_called_once_before_the_first_file_is_read_and_not_when_nothing_is(con, landing):
    write_events(landing, "a_2025-01-02.csv", [event_line("e1")])
    original = write_events(landing, "b_2025-01-02.csv", [event_line("e2", user="u2")])
    (landing / "events" / "c_2025-01-02.csv").write_bytes(original.read_bytes())  # waits for b's read
    calls = []

    def before_read():
        calls.append(rows(con, "SELECT count(*) FROM batch_events")[0][0])

    ingest.load_batch(con, files_for_days(landing, {DAY2}), [DAY2], NOW, before_read=before_read)
    assert calls == [0]
    ingest.publish_batch(con)
    ingest.load_batch(con, files_for_days(landing, {DAY2}), [DAY2], NOW, before_read=before_read)
    assert calls == [0]


def test_the_reason_for_a_file_outside_the_partitions_says_what_to_do_and_the_first_day_is_inside():
    first, last = DAY1, dt.date(2025, 1, 3)
    valid = (first, last)
    assert ingest.out_of_range_reason(first, valid) is None
    assert ingest.out_of_range_reason(last, valid) is None
    assert ingest.out_of_range_reason(dt.date(2025, 1, 4), valid) == (
        "dated 2025-01-04, after tomorrow (2025-01-03, UTC): not ingested; "
        "name the file with the day its events belong to"
    )
    assert ingest.out_of_range_reason(dt.date(2024, 12, 31), valid) == (
        "dated 2024-12-31, before the first partition day 2025-01-01: not ingested; "
        "set SHOP_PIPELINE_PARTITIONS_START earlier or name the file with its real day"
    )


def test_a_touched_file_keeps_its_verdict_and_the_new_files_after_it_are_read(con, landing, monkeypatch):
    """Same bytes, newer modification time (a sync tool re-copying): not read again, its new time
    remembered; files that landed after it in the same run are read as usual."""
    touched = write_events(landing, "a_2025-01-02.csv", [event_line("e1")])
    run_days(con, landing, [DAY2])
    later = touched.stat().st_mtime_ns + 10**9
    os.utime(touched, ns=(later, later))
    new = write_events(landing, "b_2025-01-02.csv", [event_line("e2", user="u2")])
    os.utime(new, ns=(later + 10**9, later + 10**9))  # listed after the touched file

    report = run_days(con, landing, [DAY2], now=NOW + dt.timedelta(hours=1))

    assert [(f.path, f.status, f.unchanged) for f in report.files] == [
        ("events/a_2025-01-02.csv", "ingested", True),
        ("events/b_2025-01-02.csv", "ingested", False),
    ]
    assert rows(con, "SELECT path, modified_ns FROM raw.ingested_files ORDER BY 1") == [
        ("events/a_2025-01-02.csv", later),
        ("events/b_2025-01-02.csv", later + 10**9),
    ]
    assert rows(con, "SELECT event_id FROM staging.events ORDER BY 1") == [("e1",), ("e2",)]


def test_a_copy_that_becomes_the_ingested_one_counts_the_rows_it_holds_not_its_lines(con, landing):
    """A duplicate file's rows are counted from its lines without reading it; once its original is
    rewritten the copy is the ingested file, and the manifest must then hold the rows read from it
    (here one fewer than its lines after the header: a quoted value spans two) and no duplicates."""
    multiline = 'e2,2025-01-02T10:00:00.000Z,view,u2,s1,p1,"books\nand more",acme,10.00,1,'
    first = write_events(landing, "x_2025-01-02.csv", [event_line("e1"), multiline])
    copy_name = "events/x_copy_2025-01-02.csv"
    (landing / copy_name).write_bytes(first.read_bytes())
    run_days(con, landing, [DAY2])
    write_events(landing, "x_2025-01-02.csv", [event_line("e3", user="u3")])

    ingest_days(con, landing, [DAY2], now=NOW + dt.timedelta(hours=1))
    manifest = "SELECT status, rows_read, rows_duplicate FROM raw.ingested_files WHERE path = $p"
    assert rows(con, manifest, {"p": copy_name}) == [("ingested", 2, None)]
    stage(con, [DAY2])  # rows read = clean + quarantined + duplicates, file by file
    assert rows(con, manifest, {"p": copy_name}) == [("ingested", 2, 0)]
