"""Landed files rewritten without some customers' lines: CSV, JSON Lines and Parquet, the removed
data lines numbered as ingestion numbers them, every other byte kept."""

import json
import os

import duckdb

from shop_pipeline.sources.landing_erase import put_in_place, stage_rewrite
from shop_pipeline_tests.landing_fixtures import HEADER, event_line


def test_csv_lines_of_the_customer_go_and_every_other_byte_stays(tmp_path):
    path = tmp_path / "events_2025-01-01.csv"
    kept = [event_line("e1", user="bob"), event_line("e3", user="alicia")]
    path.write_bytes(
        "\r\n".join([HEADER, kept[0], event_line("e2", user="alice"), kept[1], "broken,alice", ""]).encode()
    )
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    rewrite = stage_rewrite(path, frozenset({"alice"}), "t")
    assert rewrite.removed_lines == (2, 4)  # data lines: the one after the header is line 1
    assert rewrite.staged.name.startswith(".")  # hidden: no landed file while staged
    put_in_place(rewrite)
    assert path.read_bytes() == "\r\n".join([HEADER, *kept, ""]).encode()
    assert path.stat().st_mtime_ns == 1_700_000_000_000_000_000
    assert stage_rewrite(path, frozenset({"alice"}), "t") is None  # nothing left: no rewrite


def test_json_lines_match_nested_values_and_parquet_rows_match_user_id(tmp_path):
    jsonl = tmp_path / "events_2025-01-01.jsonl"
    rows = [
        {"event_id": "e1", "user_id": "bob"},
        {"event_id": "e2", "user_id": "alice"},
        {"request": {"customer_id": "alice"}},
    ]
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rewrite = stage_rewrite(jsonl, frozenset({"alice"}), "t")
    assert rewrite.removed_lines == (2, 3)
    put_in_place(rewrite)
    assert jsonl.read_text() == json.dumps(rows[0]) + "\n"

    parquet = tmp_path / "events_2025-01-02.parquet"
    duckdb.sql(
        "SELECT * FROM (VALUES ('e1', 'bob'), ('e2', 'alice'), ('e3', 'carol'), ('e4', 'alice')) AS t(event_id, user_id)"
    ).write_parquet(str(parquet))
    rewrite = stage_rewrite(parquet, frozenset({"alice"}), "t")
    assert rewrite.removed_lines == (2, 4)
    put_in_place(rewrite)
    assert duckdb.sql(f"SELECT event_id, user_id FROM '{parquet}'").fetchall() == [("e1", "bob"), ("e3", "carol")]


def test_a_customer_is_found_in_a_quoted_field_a_broken_line_and_a_nested_list(tmp_path):
    csv = tmp_path / "events_2025-01-01.csv"
    lines = [
        event_line("e1", user="bob"),
        event_line("e2", user='"Ann Lee"'),  # an id with a space, quoted
        # a field over csv's size limit (128 KiB): csv refuses the line, its tokens still name her
        "e3,2025-01-01T10:00:00Z,view,zed,s1,p1," + "x" * 140_000 + ",acme,1,1,",
    ]
    csv.write_text("\n".join([HEADER, *lines]) + "\n")
    assert stage_rewrite(csv, frozenset({"Ann Lee", "zed"}), "t").removed_lines == (2, 3)

    jsonl = tmp_path / "answers.jsonl"
    rows = [
        '{"customer": "bob", "tags": ["x"]}',
        '{"customer": "alice", "tags": ["x"]}',  # the id before a list
        '{"customer": "alice", "broken"',  # not JSON: its tokens still name her
        '{"request": [{"customer_id": "carol"}, "alice"]}',
    ]
    jsonl.write_text("\n".join(rows) + "\n")
    assert stage_rewrite(jsonl, frozenset({"alice"}), "t").removed_lines == (2, 3, 4)
