"""Retracting a landed file is explicit and logged; removing it from the landing folder is not a retraction."""

import datetime as dt
import json

import pytest

from shop_pipeline import cli
from shop_pipeline.settings import ShopPaths
from shop_pipeline.warehouse.connection import connect
from shop_pipeline.warehouse.retract import NotIngested, landing_relative, retract
from shop_pipeline_tests.landing_fixtures import event_line, write_events
from shop_pipeline_tests.warehouse.helpers import DAY1, DAY2, rows, run_days


def _day(day, ids):
    return [event_line(i, when=f"{day}T10:00:00Z", user=f"u-{i}", product=f"p-{i}") for i in ids]


def test_retract_removes_the_files_rows_brings_back_its_duplicates_and_stays_retracted(con, landing, tmp_path):
    write_events(landing, "events_2025-01-01.csv", _day("2025-01-01", ["a1", "a2", "a3"]))
    # a later file repeats a2: a duplicate kept in the first file
    write_events(landing, "events_2025-01-02.csv", _day("2025-01-01", ["a2"]) + _day("2025-01-02", ["b1"]))
    run_days(con, landing, [DAY1, DAY2])
    assert rows(con, "SELECT count(*) FROM staging.duplicate_events") == [(1,)]

    log = tmp_path / "logs" / "retractions.jsonl"
    done = retract(con, "events/events_2025-01-01.csv", log_file=log)
    assert (done.raw_events, done.clean_events, done.days_to_restage) == (3, 3, ["2025-01-01", "2025-01-02"])
    assert rows(con, "SELECT count(*) FROM raw.events WHERE source_file = 'events/events_2025-01-01.csv'") == [(0,)]
    assert json.loads(log.read_text())["path"] == "events/events_2025-01-01.csv"

    # the next run: the retracted file (still landed) is not read again; a2 comes back from the other file
    run_days(con, landing, [DAY1, DAY2])
    assert rows(con, "SELECT event_id, source_file FROM staging.events ORDER BY 1") == [
        ("a2", "events/events_2025-01-02.csv"),
        ("b1", "events/events_2025-01-02.csv"),
    ]
    assert rows(con, "SELECT status FROM raw.ingested_files WHERE path = 'events/events_2025-01-01.csv'") == [
        ("retracted",)
    ]
    with pytest.raises(NotIngested, match="its status is retracted"):
        retract(con, "events/events_2025-01-01.csv")


def test_the_command_names_what_it_removed(tmp_path, capsys, monkeypatch):
    paths = ShopPaths.at(tmp_path / "shop").ensure()
    write_events(paths.landing, "events_2025-01-01.csv", _day("2025-01-01", ["a1", "a2"]))
    with connect(paths.warehouse) as con:
        run_days(con, paths.landing, [DAY1])
    monkeypatch.chdir(paths.landing)
    assert cli.main(["retract", "events/events_2025-01-01.csv", "--home", str(paths.home)]) == 0
    assert "retracted events/events_2025-01-01.csv: removed 2 raw events" in capsys.readouterr().out
    assert cli.main(["retract", "events/nothing.csv", "--home", str(paths.home)]) == 1
    assert "no landed file has that name" in capsys.readouterr().err


_PER_FILE = {
    "raw.events": "SELECT * FROM raw.events WHERE source_file = $f ORDER BY ALL",
    "raw.rejected_lines": "SELECT * FROM raw.rejected_lines WHERE source_file = $f ORDER BY ALL",
    "staging.events": "SELECT * FROM staging.events WHERE source_file = $f ORDER BY ALL",
    "staging.quarantined_events": "SELECT * FROM staging.quarantined_events WHERE source_file = $f ORDER BY ALL",
    "staging.duplicate_events": "SELECT * FROM staging.duplicate_events WHERE source_file = $f ORDER BY ALL",
}


def _file_rows(con, path):
    return {table: rows(con, query, {"f": path}) for table, query in _PER_FILE.items()}


def test_retract_removes_every_kind_of_row_of_the_file_reports_each_count_and_keeps_other_files(con, landing):
    """A wrong file leaves the warehouse whole: its clean rows, its quarantined rows, its dropped
    duplicates and its rejected lines, and the report says how many of each went. The other
    file's rows of every kind stay as they were."""

    def mixed(day, prefix):
        good = _day(day, [f"{prefix}1", f"{prefix}2", f"{prefix}3"])
        bad_price = event_line(f"{prefix}q", when=f"{day}T11:00:00Z", price="-1", user=f"u-{prefix}q")
        return [*good, good[0], bad_price, "not,enough,fields", "", good[1]]  # 3 clean, 2 duplicates, 3 quarantined

    wrong, kept = "events/wrong_2025-01-02.csv", "events/other_2025-01-02.csv"
    write_events(landing, "wrong_2025-01-02.csv", mixed("2025-01-02", "w"))
    write_events(landing, "other_2025-01-02.csv", mixed("2025-01-02", "o"))
    run_days(con, landing, [DAY2])
    before = _file_rows(con, wrong)
    assert {table: len(found) for table, found in before.items()} == {
        "raw.events": 6,
        "raw.rejected_lines": 2,
        "staging.events": 3,
        "staging.quarantined_events": 3,
        "staging.duplicate_events": 2,
    }, "every kind of row is there to be removed"
    others = _file_rows(con, kept)

    done = retract(con, wrong)

    assert (
        done.raw_events,
        done.rejected_lines,
        done.clean_events,
        done.quarantined_events,
        done.duplicate_events,
    ) == (6, 2, 3, 3, 2)
    assert "3 quarantined and 2 duplicate rows" in done.describe()
    assert _file_rows(con, wrong) == {table: [] for table in _PER_FILE}
    assert _file_rows(con, kept) == others


def test_each_retraction_is_appended_to_the_log_with_its_days_time_and_who(con, landing, tmp_path):
    """logs/retractions.jsonl is the audit trail: one JSON line per retraction, appended (the
    log's folder is made when missing), naming the file, its days, when and by whom."""
    import getpass

    write_events(landing, "events_2025-01-01.csv", _day("2025-01-01", ["a1"]))
    write_events(landing, "events_2025-01-02.csv", _day("2025-01-02", ["b1", "b2"]))
    run_days(con, landing, [DAY1, DAY2])
    log = tmp_path / "home" / "logs" / "retractions.jsonl"  # neither folder exists yet
    first_at, second_at = dt.datetime(2025, 1, 5, 8, 0, 0), dt.datetime(2025, 1, 5, 9, 30, 0)

    retract(con, "events/events_2025-01-01.csv", log_file=log, now=first_at)
    retract(con, "events/events_2025-01-02.csv", log_file=log, now=second_at)

    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [
        (e["path"], e["days"], e["raw_events"], e["days_to_restage"], e["retracted_at"], e["by"]) for e in entries
    ] == [
        ("events/events_2025-01-01.csv", ["2025-01-01"], 1, ["2025-01-01"], "2025-01-05T08:00:00", getpass.getuser()),
        ("events/events_2025-01-02.csv", ["2025-01-02"], 2, ["2025-01-02"], "2025-01-05T09:30:00", getpass.getuser()),
    ]


def test_the_retraction_says_in_full_what_it_removed_and_which_days_to_stage_again(con, landing):
    write_events(landing, "events_2025-01-01.csv", _day("2025-01-01", ["a1", "a2"]))
    write_events(landing, "events_2025-01-02.csv", _day("2025-01-01", ["a2"]) + _day("2025-01-02", ["b1"]))
    run_days(con, landing, [DAY1, DAY2])

    done = retract(con, "events/events_2025-01-01.csv")

    assert done.days == ["2025-01-01"]
    assert done.describe() == (
        "retracted events/events_2025-01-01.csv: removed 2 raw events and 0 rejected lines, 2 clean, "
        "0 quarantined and 0 duplicate rows from staging; days to stage again: 2025-01-01, 2025-01-02 "
        "(`shop-pipeline run` does it and rebuilds what depends on them)"
    )


def test_the_retraction_time_is_utc_whatever_the_machines_time_zone(con, landing, monkeypatch):
    """The record says "UTC": without an explicit time, the retraction is stamped in UTC even
    on a machine set to another zone."""
    import time

    write_events(landing, "events_2025-01-01.csv", _day("2025-01-01", ["a1"]))
    run_days(con, landing, [DAY1])
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # UTC+9, no daylight saving
    time.tzset()
    try:
        before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        done = retract(con, "events/events_2025-01-01.csv")
        after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    stamped = dt.datetime.fromisoformat(done.retracted_at)
    assert before <= stamped <= after
    (error,) = rows(con, "SELECT error FROM raw.ingested_files WHERE path = 'events/events_2025-01-01.csv'")[0]
    assert error == f"retracted by shop-pipeline retract at {stamped:%Y-%m-%d %H:%M:%S} UTC"


def test_nothing_to_retract_says_why_naming_every_verdict_the_file_got(con, landing):
    """A file without ingested rows is refused with its verdicts (a name without a date takes
    its day from its modification time, so the same name can have a verdict on two days)."""
    import os
    import shutil

    original = write_events(landing, "events_2025-01-01.csv", _day("2025-01-01", ["a1"]))
    run_days(con, landing, [DAY1])
    undated = landing / "events" / "export.csv"
    undated.write_bytes(b"")  # empty: failed on day 1
    day1_noon = dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC).timestamp()
    os.utime(undated, (day1_noon, day1_noon))
    run_days(con, landing, [DAY1])
    shutil.copy(original, undated)  # re-exported the next day with day 1's bytes: a duplicate file
    os.utime(undated, (day1_noon + 86_400, day1_noon + 86_400))
    run_days(con, landing, [DAY2])
    assert sorted(rows(con, "SELECT status FROM raw.ingested_files WHERE path = 'events/export.csv'")) == [
        ("duplicate_file",),
        ("failed",),
    ]

    with pytest.raises(NotIngested) as refused:
        retract(con, "events/export.csv")
    message = str(refused.value)
    assert message.startswith("events/export.csv has no ingested rows to retract (its status is ")
    assert sorted(
        message.removeprefix("events/export.csv has no ingested rows to retract (its status is ")
        .removesuffix(")")
        .split(", ")
    ) == ["duplicate_file", "failed"]
    with pytest.raises(NotIngested) as unknown:
        retract(con, "events/nothing.csv")
    assert str(unknown.value) == "events/nothing.csv has no ingested rows to retract (no landed file has that name)"


def test_a_path_names_its_landed_file_from_any_working_directory(tmp_path, monkeypatch):
    """`shop-pipeline retract PATH` takes the file's name in the landing folder or a path on disk:
    relative to the working directory or to the landing folder, with `..` segments or absolute."""
    landing = tmp_path / "shop" / "landing"
    (landing / "events").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert landing_relative("events/x_2025-01-01.csv", landing) == "events/x_2025-01-01.csv"
    assert landing_relative("events/../events/x_2025-01-01.csv", landing) == "events/x_2025-01-01.csv"
    assert landing_relative(str(landing / "events" / "x_2025-01-01.csv"), landing) == "events/x_2025-01-01.csv"
    assert landing_relative("../shop/landing/events/x_2025-01-01.csv", landing) == "events/x_2025-01-01.csv"
    monkeypatch.chdir(landing / "events")
    assert landing_relative("x_2025-01-01.csv", landing) == "events/x_2025-01-01.csv"
    # not inside the landing folder: the name as given (the warehouse then knows no such file)
    assert landing_relative(str(elsewhere / "y.csv"), landing) == (elsewhere / "y.csv").as_posix()
