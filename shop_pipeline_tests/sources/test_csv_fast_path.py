"""DuckDB's CSV reader (fast path) and the line-by-line reader must agree line for line."""

import duckdb
import pytest

from shop_pipeline.sources import native
from shop_pipeline.sources.landing import fingerprint
from shop_pipeline_tests.landing_fixtures import HEADER, event_line

ROWS = "SELECT * FROM landed_rows ORDER BY line"
REJECTS = "SELECT * FROM landed_rejects ORDER BY line"


def read_both(path):
    fp = fingerprint(path)
    header = HEADER.split(",")
    fast = duckdb.connect()
    used_fast = native._read_csv_fast(fast, path, fp, header)
    slow = duckdb.connect()
    native.register_functions(slow)
    native._read_lines(slow, path, fp)
    slow.execute(native.sql.load("parse_csv_lines"))
    positions = native.csv_header_positions(path)
    slow.execute(native.sql.load("split_csv_rows"), {**{f"pos_{c}": p for c, p in positions.items()}, "field_count": 11})
    slow.execute(native.sql.load("split_csv_rejects"), {"field_count": 11})
    return used_fast, fast, slow


def test_fast_path_matches_the_line_reader_on_wrong_field_counts_and_bad_utf8(tmp_path):
    path = tmp_path / "events_2025-01-02.csv"
    lines = [event_line(f"e{i}") for i in range(20)]
    lines[3] = "e3,2025-01-02T00:00:00Z,view"
    lines[7] = event_line("e7") + ",extra"
    body = ("\n".join([HEADER, *lines]) + "\n").encode().replace(b",acme,10.00,1,\ne12", b",ac\xffme,10.00,1,\ne12")
    path.write_bytes(body)

    used_fast, fast, slow = read_both(path)

    assert used_fast
    assert fast.execute(ROWS).fetchall() == slow.execute(ROWS).fetchall()
    fast_rejects = [(line, code, reason) for line, _, code, reason in fast.execute(REJECTS).fetchall()]
    slow_rejects = [(line, code, reason) for line, _, code, reason in slow.execute(REJECTS).fetchall()]
    assert fast_rejects == slow_rejects == [
        (4, "malformed_line", "expected 11 fields, found 3"),
        (8, "malformed_line", "expected 11 fields, found 12"),
        (12, "invalid_encoding", "line is not valid UTF-8"),
    ]


@pytest.mark.parametrize(
    "bad_line",
    ["", 'e9,2025-01-02T00:00:00Z,view,u1,s1,p1,books,"unterminated,10.00,1,', 'e9,"multi\nline",view,u1,s1,p1,b,a,1,1,'],
)
def test_fast_path_steps_aside_when_lines_and_records_do_not_match(tmp_path, bad_line):
    path = tmp_path / "events_2025-01-02.csv"
    path.write_text("\n".join([HEADER, event_line("e1"), bad_line, event_line("e2")]) + "\n")
    used_fast, _, _ = read_both(path)
    assert not used_fast
