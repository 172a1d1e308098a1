"""Ingestion and staging on a real DuckDB file: quarantine, dedup, exactly once, idempotence,
conservation and last-good-state publishing (plain functions, no Dagster)."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shop_pipeline.contracts import EVENT_COLUMNS
from shop_pipeline.sources.landing import files_for_days
from shop_pipeline.warehouse import ingest, staging
from shop_pipeline.warehouse.connection import connect
from shop_pipeline.warehouse.staging import StagingRules
from shop_pipeline_tests.landing_fixtures import HEADER, event_line, write_events
from shop_pipeline_tests.warehouse.helpers import (
    DAY1,
    DAY2,
    DAY3,
    NOW,
    TABLES,
    ingest_days,
    rows,
    run_days,
    snapshot,
    stage,
)


def _write_bytes(landing, name, data: bytes):
    path = landing / "events" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _files(con):
    return {
        r[0]: r[1:]
        for r in rows(
            con,
            "SELECT path, status, rows_read, rows_clean, rows_quarantined, rows_duplicate, duplicate_of, error "
            "FROM raw.ingested_files",
        )
    }


def _assert_manifest_conserves(con):
    broken = rows(
        con,
        "SELECT path, rows_read, rows_clean, rows_quarantined, rows_duplicate FROM raw.ingested_files "
        "WHERE status <> 'failed' AND (rows_read IS NULL OR rows_clean IS NULL OR rows_quarantined IS NULL "
        "OR rows_duplicate IS NULL OR rows_read <> rows_clean + rows_quarantined + rows_duplicate)",
    )
    assert broken == []


# --- quarantine ------------------------------------------------------------------------

# event_id -> (line, expected reason_code); the file's day is 2025-01-02, rules are the defaults
QUARANTINE_CASES = [
    (event_line("", user="q1"), "missing_event_id"),
    (event_line("q2", event_type="click"), "unknown_event_type"),
    (event_line("q3", event_type=""), "missing_event_type"),
    (event_line("q4", user=""), "missing_user_id"),
    (event_line("q5", product=""), "missing_product_id"),
    (event_line("q6", when=""), "missing_event_time"),
    (event_line("q7", when="yesterday at noon"), "unparseable_event_time"),
    (event_line("q8", when="2025-01-03T01:00:00Z"), "event_time_in_future"),
    (event_line("q9", when="2025-01-03T03:00:00+02:00"), "event_time_in_future"),
    (event_line("q10", when="2024-12-29T23:59:59Z"), "event_time_too_old"),
    (event_line("q11", price="ten"), "unparseable_price"),
    (event_line("q12", price="NaN"), "unparseable_price"),
    (event_line("q13", price="1_000"), "unparseable_price"),
    (event_line("q14", price=""), "missing_price"),
    (event_line("q15", price="-0.01"), "negative_price"),
    (event_line("q16", price="100000.01"), "price_out_of_range"),
    (event_line("q17", quantity="0"), "invalid_quantity"),
    (event_line("q18", quantity="1.5"), "invalid_quantity"),
    (event_line("q19", quantity="many"), "invalid_quantity"),
    (event_line("q20", quantity="1001"), "invalid_quantity"),
    (event_line("q21", quantity="-2"), "invalid_quantity"),
    (event_line("q22", event_type="purchase", order=""), "missing_order_id"),
]


def test_every_quarantine_reason_is_recorded_with_readable_text(con, landing):
    good = [
        event_line("ok1"),
        event_line("ok2", event_type="purchase", order="o1", quantity="2", user="u2"),
        event_line("ok3", when="2025-01-03T00:59:59Z", user="u3"),  # inside the future tolerance
        event_line("ok4", price="100000", quantity="1000", user="u4"),  # limits are inclusive
        event_line("ok5", quantity="", user="u5"),  # no quantity means 1
    ]
    lines = [line.encode() for line, _ in QUARANTINE_CASES]
    lines += [b"not,enough,fields", b"", b"bad,\xff\xfe,utf8", *(g.encode() for g in good)]
    _write_bytes(landing, "mixed_2025-01-02.csv", HEADER.encode() + b"\n" + b"\n".join(lines) + b"\n")

    run_days(con, landing, [DAY2])

    quarantined = rows(
        con, "SELECT line, event_id, reason_code, reason, raw_record FROM staging.quarantined_events ORDER BY line"
    )
    by_line = {line: (event_id, code, reason, raw) for line, event_id, code, reason, raw in quarantined}
    for index, (_, code) in enumerate(QUARANTINE_CASES, start=1):
        assert by_line[index][1] == code, (index, by_line[index])
    n = len(QUARANTINE_CASES)
    assert by_line[n + 1][1] == "malformed_line"
    assert by_line[n + 2][1] == "blank_line"
    assert by_line[n + 3][1] == "invalid_encoding"
    assert len(quarantined) == n + 3

    reasons = {event_id: reason for event_id, _, reason, _ in by_line.values() if event_id}
    assert reasons["q2"] == "event_type 'click' is not one of view, cart, remove_from_cart, purchase"
    assert reasons["q7"] == "event_time 'yesterday at noon' is not an ISO-8601 timestamp"
    assert reasons["q8"] == "event_time 2025-01-03T01:00:00Z is after the end of the file's day 2025-01-02"
    assert reasons["q10"] == "event_time 2024-12-29T23:59:59Z is more than 3 days before the file's day 2025-01-02"
    assert reasons["q11"] == "price 'ten' is not a number"
    assert reasons["q15"] == "price -0.01 is negative"
    assert "above the maximum" in reasons["q16"]
    assert reasons["q18"] == "quantity '1.5' is not an integer from 1 to 1000"
    assert reasons["q22"] == "purchase without an order_id"
    assert by_line[1][2] == "event_id is empty"
    assert by_line[n + 1][2] == "expected 11 fields, found 3"
    for _, code, reason, _ in by_line.values():
        assert (reason and code not in reason) or code == "blank_line", "a sentence, not the code"
    # typed-rule quarantines keep the whole raw record for a person to look at
    assert json.loads(by_line[2][3])["event_type"] == "click"

    clean = rows(con, "SELECT event_id, quantity, price FROM staging.events ORDER BY event_id")
    assert clean == [("ok1", 1, 10.0), ("ok2", 2, 10.0), ("ok3", 1, 10.0), ("ok4", 1000, 100000.0), ("ok5", 1, 10.0)]
    assert _files(con)["events/mixed_2025-01-02.csv"][:5] == ("ingested", n + 3 + 5, 5, n + 3, 0)
    _assert_manifest_conserves(con)


def test_mixed_utc_offsets_are_normalised_to_utc(con, landing):
    write_events(
        landing,
        "tz_2025-01-02.csv",
        [
            event_line("z", when="2025-01-02T10:00:00Z", user="a"),
            event_line("plus2", when="2025-01-02T12:00:00+02:00", user="b"),
            event_line("minus5", when="2025-01-02T05:30:00-05:00", user="c"),
            event_line("naive", when="2025-01-02 10:00:00", user="d"),
            event_line("frac", when="2025-01-02T10:00:00.250+00:00", user="e"),
            event_line("compact", when="2025-01-02T13:30:00+0330", user="f"),
        ],
    )
    run_days(con, landing, [DAY2])
    got = dict(rows(con, "SELECT event_id, event_time FROM staging.events"))
    assert got == {
        "z": dt.datetime(2025, 1, 2, 10, 0),
        "plus2": dt.datetime(2025, 1, 2, 10, 0),
        "minus5": dt.datetime(2025, 1, 2, 10, 30),
        "naive": dt.datetime(2025, 1, 2, 10, 0),
        "frac": dt.datetime(2025, 1, 2, 10, 0, 0, 250000),
        "compact": dt.datetime(2025, 1, 2, 10, 0),
    }
    first, last = rows(con, "SELECT first_event_time, last_event_time FROM raw.ingested_files")[0]
    assert (first, last) == (dt.datetime(2025, 1, 2, 10, 0), dt.datetime(2025, 1, 2, 10, 30))


def test_late_events_within_the_limit_are_clean_and_flagged(con, landing):
    write_events(
        landing,
        "late_2025-01-05.csv",
        [
            event_line("on_time", when="2025-01-05T00:00:00Z", user="a"),
            event_line("late", when="2025-01-04T23:59:59Z", user="b"),
            event_line("oldest_ok", when="2025-01-02T00:00:00Z", user="c"),
            event_line("late_offset", when="2025-01-02T01:30:00+01:00", user="d"),  # 00:30 UTC
            event_line("too_old", when="2025-01-01T23:59:59Z", user="e"),
            event_line("too_old_offset", when="2025-01-02T00:30:00+01:00", user="f"),  # 01-01 23:30 UTC
        ],
    )
    run_days(con, landing, [dt.date(2025, 1, 5)])
    clean = dict(rows(con, "SELECT event_id, is_late FROM staging.events"))
    assert clean == {"on_time": False, "late": True, "oldest_ok": True, "late_offset": True}
    assert dict(rows(con, "SELECT event_id, reason_code FROM staging.quarantined_events")) == {
        "too_old": "event_time_too_old",
        "too_old_offset": "event_time_too_old",
    }
    # a narrower rule moves the boundary
    stage(con, [dt.date(2025, 1, 5)], StagingRules(max_lateness_days=1))
    assert sorted(r[0] for r in rows(con, "SELECT event_id FROM staging.events")) == ["late", "on_time"]


# --- exactly once and duplicates --------------------------------------------------------


def test_same_bytes_under_a_new_name_is_a_duplicate_file(con, landing):
    original = write_events(landing, "orig_2025-01-02.csv", [event_line("e1"), event_line("e2", user="u2"), ""])
    ingest_days(con, landing, [DAY2])
    raw_before = snapshot(con, ["raw.events", "raw.rejected_lines"])

    shutil.copy(original, landing / "events" / "copy_2025-01-02.csv")  # same day, new name
    shutil.copy(original, landing / "events" / "resent_2025-01-03.csv")  # another day
    run_days(con, landing, [DAY2, DAY3])

    files = _files(con)
    assert files["events/orig_2025-01-02.csv"][:5] == ("ingested", 3, 2, 1, 0)
    for copy in ("events/copy_2025-01-02.csv", "events/resent_2025-01-03.csv"):
        status, rows_read, clean, quarantined, duplicate, duplicate_of, _ = files[copy]
        assert (status, duplicate_of) == ("duplicate_file", "events/orig_2025-01-02.csv")
        assert (rows_read, clean, quarantined, duplicate) == (3, 0, 0, 3)
    assert snapshot(con, ["raw.events", "raw.rejected_lines"]) == raw_before
    assert sorted(r[0] for r in rows(con, "SELECT event_id FROM staging.events")) == ["e1", "e2"]
    _assert_manifest_conserves(con)

    # staging the later day alone: the copy still adds nothing
    run_days(con, landing, [DAY3])
    assert files == _files(con)


def test_renamed_parquet_copy_is_a_duplicate_file_and_conserves(con, landing):
    values = {c: ["x"] for c in EVENT_COLUMNS}
    values.update(event_time=["2025-01-02T09:00:00Z"], event_type=["view"], price=["1.5"], quantity=["2"])
    values["order_id"] = [None]
    path = landing / "events" / "a_2025-01-02.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table(values), path)
    shutil.copy(path, landing / "events" / "b_2025-01-02.parquet")
    run_days(con, landing, [DAY2])
    files = _files(con)
    assert files["events/a_2025-01-02.parquet"][:5] == ("ingested", 1, 1, 0, 0)
    assert files["events/b_2025-01-02.parquet"][:6] == ("duplicate_file", 1, 0, 0, 1, "events/a_2025-01-02.parquet")
    _assert_manifest_conserves(con)


def _parquet_events(path, event_ids):
    values = {c: ["x"] * len(event_ids) for c in EVENT_COLUMNS}
    values.update(
        event_id=event_ids,
        user_id=event_ids,
        event_time=["2025-01-02T09:00:00Z"] * len(event_ids),
        event_type=["view"] * len(event_ids),
        price=["1.5"] * len(event_ids),
        quantity=["2"] * len(event_ids),
    )
    values["order_id"] = [None] * len(event_ids)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(values), path)
    return path


@pytest.mark.parametrize(
    "copy_name, neighbour_name",
    [
        ("copy [1] 2025-01-02.parquet", "copy 1 2025-01-02.parquet"),
        ("[ab] 2025-01-02.parquet", "a 2025-01-02.parquet"),
        ("star*2025-01-02.parquet", "star 2025-01-02.parquet"),
        ("what? 2025-01-02.parquet", "what! 2025-01-02.parquet"),
    ],
)
def test_a_resent_parquet_copy_with_glob_characters_counts_its_own_rows(con, landing, copy_name, neighbour_name):
    """A re-landed Parquet copy is a duplicate_file counted from its own footer: its rows read
    (all duplicates) are the original's, not those of a neighbour its name matches as a glob."""
    import os

    events = landing / "events"
    original = _parquet_events(events / "orig_2025-01-02.parquet", ["e1"])
    _parquet_events(events / neighbour_name, ["n1", "n2", "n3"])
    copy = events / copy_name
    shutil.copy(original, copy)
    os.utime(original, ns=(1_700_000_000 * 10**9,) * 2)
    os.utime(copy, ns=(1_700_000_100 * 10**9,) * 2)
    run_days(con, landing, [DAY2])
    files = _files(con)
    assert files[f"events/{copy_name}"][:6] == ("duplicate_file", 1, 0, 0, 1, "events/orig_2025-01-02.parquet")
    assert files[f"events/{neighbour_name}"][:5] == ("ingested", 3, 3, 0, 0)
    _assert_manifest_conserves(con)


def test_a_resent_text_file_counts_its_own_lines_as_duplicates(con, landing):
    """A re-landed copy is not read, yet its rows read are counted (all duplicates): a JSON Lines
    copy by its lines (a blank one included), a CSV copy with only its header as no rows."""
    events = landing / "events"
    header_only = write_events(landing, "h_2025-01-02.csv", [])
    shutil.copy(header_only, events / "h_copy_2025-01-02.csv")
    lines = _write_bytes(
        landing,
        "j_2025-01-02.jsonl",
        b'{"event_id":"j1","event_time":"2025-01-02T01:00:00Z",'
        b'"event_type":"view","user_id":"u","product_id":"p","price":1}\n\n',
    )
    shutil.copy(lines, events / "j_copy_2025-01-02.jsonl")
    run_days(con, landing, [DAY2])
    files = _files(con)
    assert files["events/h_2025-01-02.csv"][:5] == ("ingested", 0, 0, 0, 0)
    assert files["events/h_copy_2025-01-02.csv"][:6] == ("duplicate_file", 0, 0, 0, 0, "events/h_2025-01-02.csv")
    assert files["events/j_2025-01-02.jsonl"][:5] == ("ingested", 2, 1, 1, 0)
    assert files["events/j_copy_2025-01-02.jsonl"][:6] == ("duplicate_file", 2, 0, 0, 2, "events/j_2025-01-02.jsonl")
    _assert_manifest_conserves(con)


def _dup_days(landing):
    # day 1: e1; a repeat of e1's id with other content; a repeat of e1's content with a new id
    write_events(
        landing,
        "shop_2025-01-01.csv",
        [
            event_line("e1", when="2025-01-01T10:00:00Z"),
            event_line("e1", when="2025-01-01T11:00:00Z", product="p2"),
            event_line("e1-resent", when="2025-01-01T10:00:00Z"),
            event_line("e2", when="2025-01-01T12:00:00Z", user="u2"),
        ],
    )
    # day 2: e1 again (by id), e2's content again under a new id (late event), a new event
    write_events(
        landing,
        "shop_2025-01-02.csv",
        [
            event_line("e3", when="2025-01-02T08:00:00Z", user="u3"),
            event_line("e1", when="2025-01-02T09:00:00Z", user="u9"),
            event_line("e2-again", when="2025-01-01T12:00:00+00:00", user="u2"),
            event_line("e3", when="2025-01-02T08:00:00Z", user="u3"),
        ],
    )


EXPECTED_DUPLICATES = [
    (DAY1, "events/shop_2025-01-01.csv", 2, "e1", "same_event_id", "events/shop_2025-01-01.csv", 1),
    (DAY1, "events/shop_2025-01-01.csv", 3, "e1-resent", "same_content", "events/shop_2025-01-01.csv", 1),
    (DAY2, "events/shop_2025-01-02.csv", 2, "e1", "same_event_id", "events/shop_2025-01-01.csv", 1),
    (DAY2, "events/shop_2025-01-02.csv", 3, "e2-again", "same_content", "events/shop_2025-01-01.csv", 4),
    (DAY2, "events/shop_2025-01-02.csv", 4, "e3", "same_event_id", "events/shop_2025-01-02.csv", 1),
]


def test_duplicates_within_a_file_and_across_days(con, landing):
    _dup_days(landing)
    run_days(con, landing, [DAY1, DAY2])
    assert rows(con, "SELECT event_id, partition_date, line FROM staging.events ORDER BY ALL") == [
        ("e1", DAY1, 1),
        ("e2", DAY1, 4),
        ("e3", DAY2, 1),
    ]
    assert rows(con, "SELECT * FROM staging.duplicate_events ORDER BY ALL") == EXPECTED_DUPLICATES
    files = _files(con)
    assert files["events/shop_2025-01-01.csv"][:5] == ("ingested", 4, 2, 0, 2)
    assert files["events/shop_2025-01-02.csv"][:5] == ("ingested", 4, 1, 0, 3)
    # one row per real event: no event_id twice in the published table
    assert rows(con, "SELECT event_id FROM staging.events GROUP BY 1 HAVING count(*) > 1") == []


@pytest.mark.parametrize("order", [[[DAY1], [DAY2]], [[DAY2], [DAY1]], [[DAY1, DAY2]], [[DAY2], [DAY1], [DAY2]]])
def test_staging_does_not_depend_on_the_order_of_days(tmp_path, landing, order):
    _dup_days(landing)
    with connect(tmp_path / "shop.duckdb") as con:
        ingest_days(con, landing, [DAY1, DAY2])
        for days in order:
            stage(con, days)
        assert rows(con, "SELECT * FROM staging.duplicate_events ORDER BY ALL") == EXPECTED_DUPLICATES
        got = snapshot(con, ["staging.events", "staging.quarantined_events", "staging.duplicate_events"])
    with connect(tmp_path / "reference.duckdb") as con:
        ingest_days(con, landing, [DAY1, DAY2])
        stage(con, [DAY1, DAY2])
        assert got == snapshot(con, ["staging.events", "staging.quarantined_events", "staging.duplicate_events"])


def test_late_backfill_of_an_earlier_day_keeps_one_row_per_event(tmp_path, landing):
    """Arrival order decides which copy is kept: the day published first keeps its events."""
    _dup_days(landing)
    day1_file = landing / "events" / "shop_2025-01-01.csv"
    held_back = day1_file.read_bytes()
    day1_file.unlink()
    with connect(tmp_path / "shop.duckdb") as con:
        run_days(con, landing, [DAY2], now=NOW)
        published_day2 = rows(con, "SELECT * FROM staging.events ORDER BY ALL")
        _write_bytes(landing, "shop_2025-01-01.csv", held_back)
        run_days(con, landing, [DAY1], now=NOW + dt.timedelta(days=1))
        assert rows(con, "SELECT event_id FROM staging.events GROUP BY 1 HAVING count(*) > 1") == []
        # Re-staging day 2 now that day 1 has landed changes nothing: day 2 arrived first.
        stage(con, [DAY2])
        assert rows(con, "SELECT * FROM staging.events WHERE partition_date = $d ORDER BY ALL", {"d": DAY2}) == [
            r for r in published_day2
        ]


# --- idempotence -----------------------------------------------------------------------


def test_loading_and_staging_twice_gives_identical_tables(con, landing):
    _dup_days(landing)
    _write_bytes(landing, "bad_2025-01-02.csv", b"who,what\n1,2\n")
    shutil.copy(landing / "events" / "shop_2025-01-01.csv", landing / "events" / "again_2025-01-02.csv")
    write_events(landing, "q_2025-01-02.csv", [event_line("q", price="-1"), "", "a,b"])
    run_days(con, landing, [DAY1, DAY2], now=NOW)
    first = snapshot(con)
    assert all(first[t] for t in TABLES), "every table has rows, so the comparison means something"

    later = NOW + dt.timedelta(days=3)
    run_days(con, landing, [DAY1, DAY2], now=later)
    assert snapshot(con) == first
    run_days(con, landing, [DAY2], now=later)
    run_days(con, landing, [DAY1], now=later)
    assert snapshot(con) == first
    assert {r[0] for r in rows(con, "SELECT DISTINCT ingested_at FROM raw.events")} == {NOW}


def test_a_changed_file_replaces_its_rows(con, landing):
    write_events(landing, "a_2025-01-02.csv", [event_line("e1"), event_line("e2", user="u2")])
    run_days(con, landing, [DAY2])
    write_events(landing, "a_2025-01-02.csv", [event_line("e1")])
    later = NOW + dt.timedelta(hours=1)
    run_days(con, landing, [DAY2], now=later)
    assert rows(con, "SELECT event_id, ingested_at FROM staging.events") == [("e1", later)]
    assert _files(con)["events/a_2025-01-02.csv"][:5] == ("ingested", 1, 1, 0, 0)


# --- conservation, unreadable files, names ----------------------------------------------


def test_conservation_per_file(con, landing):
    _dup_days(landing)
    write_events(landing, "q_2025-01-02.csv", [event_line("q", price="-1"), "", "a,b", event_line("e3", user="u3")])
    _write_bytes(
        landing,
        "j_2025-01-02.jsonl",
        b'{"event_id":"j1","event_time":"2025-01-02T01:00:00Z","event_type":"view",'
        b'"user_id":"u","product_id":"p","price":1}\n\nnope\n',
    )
    run_days(con, landing, [DAY1, DAY2])
    counts = staging.file_counts(con, [DAY1, DAY2])
    assert staging.conservation_breaks(counts).empty
    assert len(counts) == 4
    _assert_manifest_conserves(con)
    files = _files(con)
    # of two same-day files, the one first by name keeps e3 (by name, not by arrival: stable on re-runs)
    assert files["events/q_2025-01-02.csv"][:5] == ("ingested", 4, 1, 3, 0)
    assert files["events/shop_2025-01-02.csv"][:5] == ("ingested", 4, 0, 0, 4)
    assert files["events/j_2025-01-02.jsonl"][:5] == ("ingested", 3, 1, 2, 0)


def test_conservation_breaks_reports_a_file_that_lost_rows(con, landing):
    write_events(landing, "a_2025-01-02.csv", [event_line("e1"), event_line("e2", user="u2")])
    ingest_days(con, landing, [DAY2])
    staging.stage_days(con, [DAY2], StagingRules())
    con.execute("DELETE FROM staged_rows WHERE event_id = 'e2'")
    counts = staging.file_counts(con, [DAY2])
    broken = staging.conservation_breaks(counts)
    assert broken["path"].tolist() == ["events/a_2025-01-02.csv"]


def test_the_manifest_keeps_the_counts_staging_recorded(con, landing):
    """When nothing changed, the file manifest's counts answer for conservation: they are the
    counts the last staging computed, per file of the days asked for (and only those days)."""
    _dup_days(landing)
    shutil.copy(landing / "events" / "shop_2025-01-01.csv", landing / "events" / "again_2025-01-02.csv")
    write_events(landing, "q_2025-01-02.csv", [event_line("q", price="-1"), "", "a,b"])
    _write_bytes(landing, "bad_2025-01-02.csv", b"who,what\n1,2\n")
    write_events(landing, "other_2025-01-03.csv", [event_line("o1", when="2025-01-03T10:00:00Z", user="o")])
    ingest_days(con, landing, [DAY1, DAY2, DAY3])
    staging.stage_days(con, [DAY1, DAY2], StagingRules())
    staged = staging.file_counts(con, [DAY1, DAY2])
    staging.publish_staging(con, [DAY1, DAY2], staged)

    published = staging.published_file_counts(con, [DAY1, DAY2])

    pd.testing.assert_frame_equal(published, staged, check_dtype=False)
    assert published["path"].tolist() == [
        "events/shop_2025-01-01.csv",
        "events/again_2025-01-02.csv",
        "events/bad_2025-01-02.csv",
        "events/q_2025-01-02.csv",
        "events/shop_2025-01-02.csv",
    ]
    assert staging.conservation_breaks(published).empty


def test_conservation_counts_missing_duplicates_as_none_and_an_unknown_read_count_as_a_break():
    """A file with no duplicates recorded conserves when its rows read are all clean or
    quarantined; a file whose rows read were never counted cannot be shown to conserve."""
    counts = pd.DataFrame.from_records(
        [
            {
                "path": "events/no_dups.csv",
                "status": "ingested",
                "rows_read": 1,
                "rows_clean": 1,
                "rows_quarantined": 0,
                "rows_duplicate": None,
            },
            {
                "path": "events/unknown.csv",
                "status": "ingested",
                "rows_read": None,
                "rows_clean": 1,
                "rows_quarantined": 0,
                "rows_duplicate": 0,
            },
            {
                "path": "events/nothing_read.csv",
                "status": "ingested",
                "rows_read": None,
                "rows_clean": 0,
                "rows_quarantined": 0,
                "rows_duplicate": None,
            },
            {
                "path": "events/failed.csv",
                "status": "failed",
                "rows_read": None,
                "rows_clean": 0,
                "rows_quarantined": 0,
                "rows_duplicate": None,
            },
        ]
    )
    assert staging.conservation_breaks(counts)["path"].tolist() == ["events/unknown.csv", "events/nothing_read.csv"]


def test_unreadable_files_fail_while_the_rest_of_the_batch_is_ingested(con, landing):
    write_events(landing, "good_2025-01-02.csv", [event_line("e1")])
    write_events(landing, "drift_2025-01-02.csv", ["1,2"], header=HEADER.replace("price", "amount"))
    _write_bytes(landing, "garbage_2025-01-02.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00")
    _write_bytes(landing, "sheet_2025-01-02.xlsx", b"PK\x03\x04\x14\x00\x06\x00")
    _write_bytes(landing, "empty_2025-01-02.csv", b"")
    _write_bytes(landing, "empty_2025-01-02.jsonl", b"")
    _write_bytes(landing, "fake_2025-01-02.parquet", b"not parquet")

    report = run_days(con, landing, [DAY2])

    assert [f.path for f in report.ingested] == ["events/good_2025-01-02.csv"]
    errors = {f.path: f.error for f in report.failed}
    assert "missing columns price" in errors["events/drift_2025-01-02.csv"]
    assert "unexpected columns amount" in errors["events/drift_2025-01-02.csv"]
    assert "UTF-8" in errors["events/garbage_2025-01-02.csv"]
    assert "unsupported file type '.xlsx'" in errors["events/sheet_2025-01-02.xlsx"]
    assert "empty" in errors["events/empty_2025-01-02.csv"]
    assert "empty" in errors["events/empty_2025-01-02.jsonl"]
    assert "Parquet" in errors["events/fake_2025-01-02.parquet"]
    files = _files(con)
    for path, error in errors.items():
        assert files[path][0] == "failed" and files[path][-1] == error
    assert rows(con, "SELECT event_id, source_file FROM raw.events") == [("e1", "events/good_2025-01-02.csv")]
    assert rows(con, "SELECT event_id FROM staging.events") == [("e1",)]
    assert rows(con, "SELECT count(*) FROM staging.quarantined_events") == [(0,)]


@pytest.mark.parametrize(
    "name",
    [
        "my events 2025-01-02.csv",
        "it's 2025-01-02.csv",
        'say "hi" 2025-01-02.csv',
        "a..b 2025-01-02.csv",
        "x'); DROP TABLE raw.events; -- 2025-01-02.csv",
        "naïve – 2025-01-02.csv",  # noqa: RUF001 - the dash is the point: a name beyond ASCII
    ],
)
def test_awkward_file_names_ingest_fine(con, landing, name):
    write_events(landing, name, [event_line("e1"), "", event_line("e1", user="u2")])
    write_events(landing, "plain_2025-01-02.csv", [event_line("p1", user="u3")])
    report = run_days(con, landing, [DAY2])
    assert report.failed == []
    relative = f"events/{name}"
    assert _files(con)[relative][:5] == ("ingested", 3, 1, 1, 1)
    assert rows(con, "SELECT event_id FROM staging.events WHERE source_file = $f", {"f": relative}) == [("e1",)]
    assert rows(con, "SELECT kept_source_file FROM staging.duplicate_events") == [(relative,)]
    # and again: exactly once, by name too
    run_days(con, landing, [DAY2])
    assert rows(con, "SELECT count(*) FROM raw.events") == [(3,)]


@pytest.mark.parametrize("name", ["copy [1] 2025-01-02.csv", "star*2025-01-02.csv", "what? 2025-01-02.csv"])
def test_glob_characters_in_file_names(con, landing, name):
    write_events(landing, name, [event_line("e1")])
    report = run_days(con, landing, [DAY2])
    assert report.failed == []
    assert rows(con, "SELECT event_id, source_file FROM raw.events") == [("e1", f"events/{name}")]


# --- last good state --------------------------------------------------------------------


class _FailingConnection:
    """A connection whose execute fails on statements containing `marker` (a killed write)."""

    def __init__(self, con, marker):
        self._con = con
        self._marker = marker

    def execute(self, query, *args, **kwargs):
        if self._marker in query:
            raise duckdb.IOException("simulated crash: disk full")
        return self._con.execute(query, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_a_killed_publish_batch_leaves_the_last_good_raw_tables(con, landing):
    write_events(landing, "a_2025-01-02.csv", [event_line("e1"), ""])
    run_days(con, landing, [DAY2])
    before = snapshot(con)

    write_events(landing, "b_2025-01-02.csv", [event_line("e2", user="u2"), "a,b"])
    ingest.load_batch(con, files_for_days(landing, {DAY2}), [DAY2], NOW)
    with pytest.raises(duckdb.IOException):
        ingest.publish_batch(_FailingConnection(con, "INSERT INTO raw.ingested_files"), [DAY2])
    assert snapshot(con) == before
    # the connection is usable and the next publish goes through
    ingest.publish_batch(con, [DAY2])
    assert rows(con, "SELECT count(*) FROM raw.events") == [(2,)]


def test_a_killed_publish_staging_leaves_the_last_good_staging_tables(con, landing):
    _dup_days(landing)
    run_days(con, landing, [DAY1, DAY2])
    before = snapshot(con)

    write_events(landing, "more_2025-01-02.csv", [event_line("e9", user="u9"), event_line("e9", user="u9"), ""])
    ingest_days(con, landing, [DAY2])
    raw_now = snapshot(con, ["raw.events", "raw.rejected_lines"])
    staging.stage_days(con, [DAY2], StagingRules())
    counts = staging.file_counts(con, [DAY2])
    for marker in ("INSERT INTO staging.duplicate_events", "UPDATE raw.ingested_files"):
        with pytest.raises(duckdb.IOException):
            staging.publish_staging(_FailingConnection(con, marker), [DAY2], counts)
        after = snapshot(con, ["staging.events", "staging.quarantined_events", "staging.duplicate_events"])
        assert after == {t: before[t] for t in after}
        assert snapshot(con, ["raw.events", "raw.rejected_lines"]) == raw_now
    staging.publish_staging(con, [DAY2], counts)
    assert ("e9",) in rows(con, "SELECT event_id FROM staging.events")
    _assert_manifest_conserves(con)


def test_the_original_of_a_resent_file_does_not_depend_on_how_days_are_batched(tmp_path, landing):
    import os

    original = write_events(landing, "x_2025-01-02.csv", [event_line("e1"), event_line("e2", user="u2")])
    resent = landing / "events" / "y_2025-01-01.csv"  # the same bytes, arriving later, named for an earlier day
    shutil.copy(original, resent)
    os.utime(original, ns=(1_700_000_000 * 10**9,) * 2)
    os.utime(resent, ns=(1_700_000_100 * 10**9,) * 2)
    with connect(tmp_path / "one_by_one.duckdb") as con:
        run_days(con, landing, [DAY2])
        run_days(con, landing, [DAY1])
        one_by_one = snapshot(con)
        run_days(con, landing, [DAY1, DAY2])  # a backfill of both days re-materializes the same tables
        assert snapshot(con) == one_by_one
    with connect(tmp_path / "together.duckdb") as con:
        run_days(con, landing, [DAY1, DAY2])
        assert snapshot(con) == one_by_one
        assert _files(con)["events/y_2025-01-01.csv"][0] == "duplicate_file"


def test_a_csv_record_with_a_quoted_line_break_is_one_clean_row_and_conservation_holds(con, landing):
    """Issue 13 item 8: rows_read counts records, the continuation line is neither lost nor
    counted twice (rows_read = clean + quarantined + duplicates)."""
    multi = 'e2,2025-01-02T10:00:00.000Z,view,u2,s2,p2,books,"acme\nco",10.00,1,'
    lines = [event_line("e1"), multi, event_line("e3", user="u3", session="s3", product="p3"), "bad"]
    _write_bytes(landing, "multi_2025-01-02.csv", (HEADER + "\n" + "\n".join(lines) + "\n").encode())
    run_days(con, landing, [DAY2])
    (counts,) = rows(con, "SELECT rows_read, rows_clean, rows_quarantined, rows_duplicate FROM raw.ingested_files")
    assert counts == (4, 3, 1, 0)
    clean = dict(rows(con, "SELECT event_id, brand FROM staging.events"))
    assert clean == {"e1": "acme", "e2": "acme\nco", "e3": "acme"}
    # data lines: e1 1, e2 2-3, e3 4, bad 5 (a record is numbered by its first line)
    assert rows(con, "SELECT line, reason_code FROM staging.quarantined_events") == [(5, "malformed_line")]
