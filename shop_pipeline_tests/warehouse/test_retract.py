"""Retracting a landed file is explicit and logged; removing it from the landing folder is not a retraction."""

import json

import pytest

from shop_pipeline import cli
from shop_pipeline.settings import ShopPaths
from shop_pipeline.warehouse.connection import connect
from shop_pipeline.warehouse.retract import NotIngested, retract
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
        ("a2", "events/events_2025-01-02.csv"), ("b1", "events/events_2025-01-02.csv")]
    assert rows(con, "SELECT status FROM raw.ingested_files WHERE path = 'events/events_2025-01-01.csv'") == [
        ("retracted",)]
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
        "raw.events": 6, "raw.rejected_lines": 2, "staging.events": 3, "staging.quarantined_events": 3,
        "staging.duplicate_events": 2}, "every kind of row is there to be removed"
    others = _file_rows(con, kept)

    done = retract(con, wrong)

    assert (done.raw_events, done.rejected_lines, done.clean_events, done.quarantined_events,
            done.duplicate_events) == (6, 2, 3, 3, 2)
    assert "3 quarantined and 2 duplicate rows" in done.describe()
    assert _file_rows(con, wrong) == {table: [] for table in _PER_FILE}
    assert _file_rows(con, kept) == others
