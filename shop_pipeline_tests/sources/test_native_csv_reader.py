"""sources/native/csv_reader.py: DuckDB's CSV reader (fast path) and the line-by-line reader must agree line for line."""

import duckdb
import pytest

from shop_pipeline import sql
from shop_pipeline.sources.landing import fingerprint
from shop_pipeline.sources.native import batch, csv_reader
from shop_pipeline_tests.landing_fixtures import HEADER, event_line

ROWS = "SELECT * FROM landed_rows ORDER BY line"
REJECTS = "SELECT * FROM landed_rejects ORDER BY line"


def read_both(path):
    fp = fingerprint(path)
    header = HEADER.split(",")
    fast = duckdb.connect()
    used_fast = csv_reader.read_csv_fast(fast, path, fp, header)
    slow = duckdb.connect()
    csv_reader.read_csv_lines(slow, path, fp)
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
    assert (
        fast_rejects
        == slow_rejects
        == [
            (4, "malformed_line", "expected 11 fields, found 3"),
            (8, "malformed_line", "expected 11 fields, found 12"),
            (12, "invalid_encoding", "line is not valid UTF-8"),
        ]
    )


def test_fast_path_steps_aside_on_blank_lines(tmp_path):
    """The reader skips a blank line silently: lines and records no longer match one to one."""
    path = tmp_path / "events_2025-01-02.csv"
    path.write_text("\n".join([HEADER, event_line("e1"), "", event_line("e2")]) + "\n")
    used_fast, _, _ = read_both(path)
    assert not used_fast


@pytest.mark.parametrize(
    "bad_line",
    [
        'e9,2025-01-02T00:00:00Z,view,u1,s1,p1,books,"unterminated,10.00,1,',
        'e9,2025-01-02T00:00:00Z,view,u1,s1,p1,"books, used","the ""best"" shop",10,1,',
        'e9,2025-01-02T00:00:00Z,view,u1,s1,p1,"books",acme,10,1,',
        'e9,2025-01-02T00:00:00Z,view,u1,s1,p1,"a,b,c",acme,10,1,',
        # values kept as the line reader keeps them: only spaces trimmed (a tab, an X at the edge stay)
        'e9,2025-01-02T00:00:00Z,view,u1,s1,p1,"books", \tXerox X ,10,1,',
    ],
)
def test_quoted_lines_are_parsed_again_and_match_the_line_reader(tmp_path, bad_line):
    """Read without quoting, a stray quote cannot swallow the next lines; quoted lines are re-parsed."""
    path = tmp_path / "events_2025-01-02.csv"
    path.write_text("\n".join([HEADER, event_line("e1"), bad_line, event_line("e2"), "x,y"]) + "\n")
    used_fast, fast, slow = read_both(path)
    assert used_fast
    assert fast.execute(ROWS).fetchall() == slow.execute(ROWS).fetchall()
    fast_rejects = [(line, code, reason) for line, _, code, reason in fast.execute(REJECTS).fetchall()]
    slow_rejects = [(line, code, reason) for line, _, code, reason in slow.execute(REJECTS).fetchall()]
    assert fast_rejects == slow_rejects


def test_fast_path_steps_aside_on_a_line_break_inside_quotes(tmp_path):
    """Issue 13 item 8: the line reader joins the record (numbered by its first line)."""
    path = tmp_path / "events_2025-01-02.csv"
    multi = 'e9,2025-01-02T00:00:00Z,view,u1,s1,p1,books,"multi\nline",10,1,'
    path.write_text("\n".join([HEADER, event_line("e1"), multi, event_line("e2"), "x,y"]) + "\n")
    used_fast, _, slow = read_both(path)
    assert not used_fast
    assert [(r[0], r[1], r[8]) for r in slow.execute(ROWS).fetchall()] == [
        (1, "e1", "acme"),
        (2, "e9", "multi\nline"),
        (4, "e2", "acme"),
    ]
    assert [(r[0], r[2]) for r in slow.execute(REJECTS).fetchall()] == [(5, "malformed_line")]


def test_many_files_in_one_read_keep_their_own_line_numbers(tmp_path):
    """One multi-file read: each file's rows and rejects are numbered within the file."""
    from shop_pipeline.sources.native import BATCH_ROWS, BatchFile, read_batch, start_batch

    files = []
    for index, bad in enumerate([["a,b", "\xff"], [], ['"open,quote'], ["x"] * 3]):
        path = tmp_path / f"f{index}_2025-01-02.csv"
        lines = [event_line(f"e{index}-{i}") for i in range(6)]
        for offset, text in enumerate(bad):
            lines.insert(1 + 2 * offset, text)
        path.write_bytes(
            ("\n".join([HEADER, *lines]) + "\n").encode("utf-8", "surrogateescape").replace(b"\\xff", b"\xff")
        )
        files.append(BatchFile(index, path, "csv", fingerprint(path)))
    con = duckdb.connect()
    start_batch(con)
    outcomes = read_batch(con, files)
    for item in files:
        lines = sorted(
            [
                r[0]
                for r in con.execute(
                    f"SELECT line FROM ({BATCH_ROWS.format(where='TRUE', csv='batch_csv')}) WHERE file_id = {item.file_id}"
                ).fetchall()
            ]
            + [
                r[0]
                for r in con.execute("SELECT line FROM batch_reject_rows WHERE file_id = ?", [item.file_id]).fetchall()
            ]
        )
        assert lines == list(range(1, item.fingerprint.line_count)), item.path.name
        assert outcomes[item.file_id].total == item.fingerprint.line_count - 1
        got = dict(
            con.execute(
                f"SELECT event_id, line FROM ({BATCH_ROWS.format(where='TRUE', csv='batch_csv')}) WHERE file_id = {item.file_id}"
            ).fetchall()
        )
        single = duckdb.connect()
        csv_reader.register_functions(single)
        batch.read_lines(single, item.path, item.fingerprint)
        single.execute(sql.load("parse_csv_lines"))
        positions = csv_reader.csv_header_positions(item.path)
        single.execute(sql.load("split_csv_rows"), {**{f"pos_{c}": p for c, p in positions.items()}, "field_count": 11})
        assert got == dict(single.execute("SELECT event_id, line FROM landed_rows").fetchall())
