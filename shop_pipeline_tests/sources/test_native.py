"""Reading one landed native file: every data line lands in exactly one of rows / rejects."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shop_pipeline.contracts import EVENT_COLUMNS
from shop_pipeline.sources.landing import fingerprint
from shop_pipeline.sources.native import UnreadableFile, data_line_count, read_landed_file
from shop_pipeline_tests.landing_fixtures import HEADER, event_line


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def _read(con, path: Path, file_format: str):
    """Read the file and check conservation: rows + rejects == data lines, each line once."""
    fp = fingerprint(path)
    counts = read_landed_file(con, path, file_format, fp)
    rows = con.execute("SELECT * FROM landed_rows ORDER BY line").df()
    rejects = con.execute("SELECT * FROM landed_rejects ORDER BY line").df()
    assert counts.rows == len(rows) and counts.rejects == len(rejects)
    expected_lines = data_line_count(file_format, fp, counts)
    assert counts.rows + counts.rejects == expected_lines
    lines = sorted([*rows["line"].tolist(), *rejects["line"].tolist()])
    assert lines == list(range(1, expected_lines + 1)), "every data line exactly once, 1-based"
    return rows, rejects


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _csv(*lines: str, header: str = HEADER, ending: str = "\n", trailing: bool = True) -> bytes:
    text = ending.join([header, *lines]) + (ending if trailing else "")
    return text.encode("utf-8")


def _by_line(frame, column):
    return dict(zip(frame["line"], frame[column]))


# --- CSV -------------------------------------------------------------------------------


def test_csv_good_rows_keep_every_value_as_text(con, tmp_path):
    path = _write(
        tmp_path,
        "a.csv",
        _csv(
            event_line("e1"),
            event_line("e2", event_type="purchase", price="12.50", quantity="3", order="o9"),
            trailing=False,
        ),
    )
    rows, rejects = _read(con, path, "csv")
    assert rejects.empty
    assert list(rows.columns) == ["line", *EVENT_COLUMNS]
    second = rows[rows["line"] == 2].iloc[0]
    assert second["event_id"] == "e2"
    assert second["event_time"] == "2025-01-02T10:00:00.000Z"
    assert second["event_type"] == "purchase"
    assert second["price"] == "12.50"
    assert second["quantity"] == "3"
    assert second["order_id"] == "o9"
    assert second["category"] == "books" and second["brand"] == "acme"
    # empty field -> NULL, not ''
    assert rows[rows["line"] == 1].iloc[0]["order_id"] is None


def test_csv_blank_lines_are_rejects_with_their_line_numbers(con, tmp_path):
    path = _write(tmp_path, "a.csv", _csv(event_line("e1"), "", event_line("e3"), "   ", event_line("e5")))
    rows, rejects = _read(con, path, "csv")
    assert _by_line(rows, "event_id") == {1: "e1", 3: "e3", 5: "e5"}
    assert _by_line(rejects, "reason_code") == {2: "blank_line", 4: "blank_line"}
    assert set(rejects["reason"]) == {"blank line"}


def test_csv_wrong_field_count_is_malformed(con, tmp_path):
    path = _write(tmp_path, "a.csv", _csv(event_line("e1"), "a,b,c", event_line("e3") + ",extra", event_line("e4")))
    rows, rejects = _read(con, path, "csv")
    assert _by_line(rows, "event_id") == {1: "e1", 4: "e4"}
    assert _by_line(rejects, "reason_code") == {2: "malformed_line", 3: "malformed_line"}
    assert _by_line(rejects, "reason") == {2: "expected 11 fields, found 3", 3: "expected 11 fields, found 12"}
    assert _by_line(rejects, "raw_record")[2] == "a,b,c"


def test_csv_unterminated_quote_is_malformed(con, tmp_path):
    bad = 'e2,2025-01-02T10:00:00Z,view,u1,s1,p1,"books,acme,10,1,'
    path = _write(tmp_path, "a.csv", _csv(event_line("e1"), bad, event_line("e3")))
    rows, rejects = _read(con, path, "csv")
    assert _by_line(rows, "event_id") == {1: "e1", 3: "e3"}
    assert _by_line(rejects, "reason_code") == {2: "malformed_line"}
    assert "unterminated" in _by_line(rejects, "reason")[2]
    assert _by_line(rejects, "raw_record")[2] == bad


def test_csv_invalid_utf8_line_is_rejected_with_its_line_number(con, tmp_path):
    data = _csv(event_line("e1"), "", "PLACEHOLDER", event_line("e4")).replace(
        b"PLACEHOLDER", b"e3,2025-01-02T10:00:00Z,view,u1,s1,p1,b\xff\xfe,acme,10,1,"
    )
    path = _write(tmp_path, "a.csv", data)
    rows, rejects = _read(con, path, "csv")
    assert _by_line(rows, "event_id") == {1: "e1", 4: "e4"}
    assert _by_line(rejects, "reason_code") == {2: "blank_line", 3: "invalid_encoding"}
    assert "UTF-8" in _by_line(rejects, "reason")[3]


def test_csv_quoted_comma_and_doubled_quotes(con, tmp_path):
    line = 'e1,2025-01-02T10:00:00Z,view,u1,s1,p1,"books, used","the ""best"" shop",10,1,'
    path = _write(tmp_path, "a.csv", _csv(line, event_line("e2")))
    rows, rejects = _read(con, path, "csv")
    assert rejects.empty
    first = rows[rows["line"] == 1].iloc[0]
    assert first["category"] == "books, used"
    assert first["brand"] == 'the "best" shop'
    assert first["price"] == "10" and first["quantity"] == "1"


@pytest.mark.parametrize("trailing", [True, False])
def test_csv_crlf_line_endings(con, tmp_path, trailing):
    path = _write(
        tmp_path, "a.csv", _csv(event_line("e1"), "", event_line("e3", order="o3"), ending="\r\n", trailing=trailing)
    )
    rows, rejects = _read(con, path, "csv")
    assert _by_line(rows, "event_id") == {1: "e1", 3: "e3"}
    assert _by_line(rows, "order_id")[3] == "o3", "no carriage return left in the last field"
    assert _by_line(rejects, "reason_code") == {2: "blank_line"}


def test_csv_crlf_with_invalid_utf8(con, tmp_path):
    data = _csv(event_line("e1"), "x\xff", event_line("e3"), ending="\r\n").replace("x\xff".encode(), b"x\xff,1")
    path = _write(tmp_path, "a.csv", data)
    rows, rejects = _read(con, path, "csv")
    assert _by_line(rows, "event_id") == {1: "e1", 3: "e3"}
    assert _by_line(rejects, "reason_code") == {2: "invalid_encoding"}


def test_csv_header_in_another_order_maps_values_by_name(con, tmp_path):
    columns = list(reversed(EVENT_COLUMNS))
    values = {c: f"{c}-v" for c in EVENT_COLUMNS}
    line = ",".join(values[c] for c in columns)
    path = _write(tmp_path, "a.csv", _csv(line, header=" " + ",".join(c.upper() for c in columns)))
    rows, _ = _read(con, path, "csv")
    assert rows.iloc[0][list(EVENT_COLUMNS)].to_dict() == values


def test_csv_header_with_bom(con, tmp_path):
    path = _write(tmp_path, "a.csv", b"\xef\xbb\xbf" + _csv(event_line("e1")))
    rows, _ = _read(con, path, "csv")
    assert rows["event_id"].tolist() == ["e1"]


def test_csv_renamed_and_extra_columns_make_the_file_unreadable(con, tmp_path):
    header = HEADER.replace("user_id", "customer_id") + ",coupon"
    path = _write(tmp_path, "a.csv", _csv(event_line("e1") + ",c", header=header))
    with pytest.raises(UnreadableFile) as info:
        read_landed_file(con, path, "csv", fingerprint(path))
    message = str(info.value)
    assert "missing columns user_id" in message
    assert "customer_id" in message and "coupon" in message
    assert "unexpected columns" in message


def test_csv_repeated_column_is_unreadable(con, tmp_path):
    path = _write(tmp_path, "a.csv", _csv(event_line("e1") + ",x", header=HEADER + ",price"))
    with pytest.raises(UnreadableFile, match="repeated columns price"):
        read_landed_file(con, path, "csv", fingerprint(path))


@pytest.mark.parametrize("data", [b"", b"\n", b"  \r\n"])
def test_csv_empty_file_is_unreadable(con, tmp_path, data):
    path = _write(tmp_path, "a.csv", data)
    with pytest.raises(UnreadableFile, match="empty"):
        read_landed_file(con, path, "csv", fingerprint(path))


def test_csv_binary_garbage_is_unreadable(con, tmp_path):
    path = _write(tmp_path, "a.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    with pytest.raises(UnreadableFile, match="UTF-8"):
        read_landed_file(con, path, "csv", fingerprint(path))


@pytest.mark.parametrize("trailing", [True, False])
def test_csv_header_only_has_no_rows(con, tmp_path, trailing):
    path = _write(tmp_path, "a.csv", _csv(trailing=trailing))
    rows, rejects = _read(con, path, "csv")
    assert rows.empty and rejects.empty


def test_reading_a_second_file_replaces_the_first(con, tmp_path):
    first = _write(tmp_path, "a.csv", _csv(event_line("e1"), "bad"))
    second = _write(tmp_path, "b.csv", _csv(event_line("e2")))
    _read(con, first, "csv")
    rows, rejects = _read(con, second, "csv")
    assert rows["event_id"].tolist() == ["e2"] and rejects.empty


def test_csv_record_with_line_breaks_inside_quotes_is_one_record(con, tmp_path):
    """Issue 13 item 8: a quoted value holding line breaks (RFC 4180) became two malformed_line
    rows. It is one record numbered by its first line; its other lines are counted as continued,
    so rows + rejects + continued = physical data lines and rows read = records."""
    multi = 'e2,2025-01-02T10:00:00.000Z,view,u1,s1,p1,books,"acme\nco",10.00,1,'
    three = 'e3,2025-01-02T10:00:00.000Z,view,u1,s1,p1,"kids\n\nbooks",acme,10.00,1,'
    stray = 'e4,2025-01-02T10:00:00.000Z,view,u1,s1,p1,books,"acme,10.00,1,'  # unterminated: alone
    data = _csv(event_line("e1"), multi, three, "", stray, event_line("e5"))
    path = _write(tmp_path, "a.csv", data)
    fp = fingerprint(path)
    counts = read_landed_file(con, path, "csv", fp)
    rows = con.execute("SELECT * FROM landed_rows ORDER BY line").df()
    rejects = con.execute("SELECT * FROM landed_rejects ORDER BY line").df()
    # physical data lines: 1 e1, 2-3 e2, 4-6 e3, 7 blank, 8 stray, 9 e5
    assert _by_line(rows, "event_id") == {1: "e1", 2: "e2", 4: "e3", 9: "e5"}
    assert _by_line(rows, "brand")[2] == "acme\nco"
    assert _by_line(rows, "category")[4] == "kids\n\nbooks"
    assert _by_line(rejects, "reason_code") == {7: "blank_line", 8: "malformed_line"}
    assert (counts.rows, counts.rejects, counts.continued) == (4, 2, 3)
    assert data_line_count("csv", fp, counts) == counts.rows + counts.rejects == fp.line_count - 1 - 3


def test_csv_quoted_line_break_in_a_batch_with_plain_files(con, tmp_path):
    """The fast path steps aside for the file with a multi-line record; the other stays fast."""
    from shop_pipeline.sources.native import BatchFile, read_batch, start_batch

    plain = _write(tmp_path, "p.csv", _csv(event_line("p1"), event_line("p2")))
    multi = _write(
        tmp_path, "m.csv", _csv('m1,2025-01-02T10:00:00.000Z,view,u1,s1,p1,books,"a\nb",1,1,', event_line("m2"))
    )
    start_batch(con)
    outcomes = read_batch(
        con, [BatchFile(1, plain, "csv", fingerprint(plain)), BatchFile(2, multi, "csv", fingerprint(multi))]
    )
    assert (outcomes[1].rows, outcomes[1].rejects, outcomes[1].continued) == (2, 0, 0)
    assert (outcomes[2].rows, outcomes[2].rejects, outcomes[2].continued) == (2, 0, 1)
    assert data_line_count("csv", fingerprint(multi), outcomes[2]) == 2


def test_batch_values_gives_every_row_of_both_readers_trimmed_with_empty_as_null(con, tmp_path):
    """The raw audit aggregates over batch_values: one row per read row, whichever reader read its
    file (the fast path's raw text is trimmed and an empty value is NULL, as the line reader gives it)."""
    from shop_pipeline.sources.native import BatchFile, batch_values, read_batch, start_batch

    plain = _write(tmp_path, "p.csv", _csv(event_line(" p1 ", user=" u1 ", order=" "), event_line("p2", price="")))
    multi = _write(
        tmp_path, "m.csv", _csv('m1,2025-01-02T10:00:00.000Z,view,u1,s1,p1,books,"a\nb",1,1,', event_line("m2"))
    )
    start_batch(con)
    read_batch(con, [BatchFile(1, plain, "csv", fingerprint(plain)), BatchFile(2, multi, "csv", fingerprint(multi))])
    query = f"SELECT * FROM ({batch_values(('event_id', 'user_id', 'brand', 'price', 'order_id'))}) ORDER BY 1, 2"
    assert con.execute(query).fetchall() == [
        (1, "p1", "u1", "acme", "10.00", None),
        (1, "p2", "u1", "acme", None, None),
        (2, "m1", "u1", "a\nb", "1", None),
        (2, "m2", "u1", "acme", "10.00", None),
    ]
    every = con.execute(f"SELECT * FROM ({batch_values()}) ORDER BY 1, 2").fetchall()
    assert [row[:2] for row in every] == [(1, "p1"), (1, "p2"), (2, "m1"), (2, "m2")]
    assert all(len(row) == 1 + len(EVENT_COLUMNS) for row in every)
    with pytest.raises(AssertionError):
        batch_values(("event_id", "line"))  # only the contract's columns: names are spliced into SQL


# --- JSON Lines ------------------------------------------------------------------------


def test_jsonl_good_and_bad_lines(con, tmp_path):
    data = b"\n".join(
        [
            b'{"event_id": "e1", "price": 10.5, "quantity": 2, "event_type": "view"}',
            b"",
            b"[1, 2]",
            b"not json",
            b'{"event_id": "e\xff"}',
            b'"just a string"',
            b'{"event_id": "e7", "order_id": null, "brand": "  "}',
        ]
    )
    path = _write(tmp_path, "a.jsonl", data)
    rows, rejects = _read(con, path, "jsonl")
    assert _by_line(rows, "event_id") == {1: "e1", 7: "e7"}
    first = rows[rows["line"] == 1].iloc[0]
    assert first["price"] == "10.5" and first["quantity"] == "2" and first["event_type"] == "view"
    last = rows[rows["line"] == 7].iloc[0]
    assert last["order_id"] is None and last["brand"] is None
    assert _by_line(rejects, "reason_code") == {
        2: "blank_line",
        3: "malformed_line",
        4: "malformed_line",
        5: "invalid_encoding",
        6: "malformed_line",
    }
    reasons = _by_line(rejects, "reason")
    assert reasons[3] == "JSON value is not an object"
    assert reasons[4] == "not valid JSON"
    assert reasons[6] == "JSON value is not an object"


def test_jsonl_crlf(con, tmp_path):
    path = _write(tmp_path, "a.jsonl", b'{"event_id":"e1"}\r\n\r\n{"event_id":"e3"}\r\n')
    rows, rejects = _read(con, path, "jsonl")
    assert _by_line(rows, "event_id") == {1: "e1", 3: "e3"}
    assert _by_line(rejects, "reason_code") == {2: "blank_line"}


def test_jsonl_repeated_key_is_a_duplicate_key_reject(con, tmp_path):
    """Issue 13 item 9: a key given twice has no one value; the first one was loaded."""
    data = b"\n".join(
        [
            b'{"event_id": "e1", "price": "96.99", "quantity": "1", "price": "-5"}',
            b'{"event_id": "e2", "price": "10"}',
            b'{"event_id": "e3", "Brand": "a", "brand": "b"}',
        ]
    )
    path = _write(tmp_path, "a.jsonl", data)
    rows, rejects = _read(con, path, "jsonl")
    assert _by_line(rows, "event_id") == {2: "e2"}
    assert _by_line(rejects, "reason_code") == {1: "duplicate_key", 3: "duplicate_key"}
    reasons = _by_line(rejects, "reason")
    assert reasons[1] == "repeated key price"
    assert reasons[3] == "repeated key brand"


def test_jsonl_keys_match_case_insensitively_like_a_csv_header(con, tmp_path):
    """Issue 13 item 7: EVENT_ID passed the key check, then every row lost its event_id."""
    data = b"\n".join(
        [
            b'{"EVENT_ID": "e1", "Event_Type": "view", "USER_ID": "u1", "Price": "9.5"}',
            b'{"event_id": "e2", "event_type": "cart", "user_id": "u2", "price": "1"}',
        ]
    )
    path = _write(tmp_path, "a.jsonl", data)
    rows, rejects = _read(con, path, "jsonl")
    assert rejects.empty
    assert _by_line(rows, "event_id") == {1: "e1", 2: "e2"}
    first = rows[rows["line"] == 1].iloc[0]
    assert (first["event_type"], first["user_id"], first["price"]) == ("view", "u1", "9.5")


def test_jsonl_unknown_key_in_any_case_refuses_the_file(con, tmp_path):
    path = _write(tmp_path, "a.jsonl", b'{"EVENT_ID": "e1", "Colour": "red"}\n')
    with pytest.raises(UnreadableFile, match="unexpected columns colour"):
        read_landed_file(con, path, "jsonl", fingerprint(path))


def test_jsonl_schema_drift_names_every_missing_and_unexpected_key(con, tmp_path):
    """As for a CSV header: the keys no line has, in contract order, and the unknown ones, sorted."""
    path = _write(tmp_path, "a.jsonl", b'{"event_id": "e1", "Size": "L", "colour": "red", "price": "1"}\n')
    missing = ", ".join(c for c in EVENT_COLUMNS if c not in ("event_id", "price"))
    with pytest.raises(UnreadableFile) as refused:
        read_landed_file(con, path, "jsonl", fingerprint(path))
    assert str(refused.value) == f"schema mismatch: missing columns {missing}; unexpected columns colour, size"
    every = dict.fromkeys(EVENT_COLUMNS, "x") | {"colour": "red"}
    path = _write(tmp_path, "b.jsonl", (json.dumps(every) + "\n").encode())
    with pytest.raises(UnreadableFile) as refused:
        read_landed_file(con, path, "jsonl", fingerprint(path))
    assert str(refused.value) == "schema mismatch: missing columns -; unexpected columns colour"


def test_jsonl_empty_file_is_unreadable(con, tmp_path):
    path = _write(tmp_path, "a.jsonl", b"")
    with pytest.raises(UnreadableFile, match=r"^empty file$"):
        read_landed_file(con, path, "jsonl", fingerprint(path))


def test_jsonl_lines_are_records_one_to_one(con, tmp_path):
    """No JSON Lines record spans lines: nothing is counted as a continued line."""
    path = _write(tmp_path, "a.jsonl", b'{"event_id": "e1"}\n[1]\n{"event_id": "e3"}\n')
    counts = read_landed_file(con, path, "jsonl", fingerprint(path))
    assert (counts.rows, counts.rejects, counts.continued) == (2, 1, 0)


# --- Parquet ---------------------------------------------------------------------------


def test_parquet_rows_are_numbered_and_values_become_text(con, tmp_path):
    table = pa.table(
        {
            "event_id": ["e1", "e2", "e3"],
            "event_time": pa.array(["2025-01-02T10:00:00Z", "2025-01-02T11:00:00Z", None]),
            "event_type": ["view", "purchase", "cart"],
            "user_id": pa.array([1, 2, 3], pa.int64()),
            "session_id": ["s1", "s2", "s3"],
            "product_id": ["p1", "p2", "p3"],
            "category": ["books", "books", "books"],
            "brand": ["acme", "", "acme"],
            "price": pa.array([10.5, 20.0, 0.25], pa.float64()),
            "quantity": pa.array([1, 2, 3], pa.int32()),
            "order_id": [None, "o2", None],
        }
    )
    path = tmp_path / "a.parquet"
    pq.write_table(table, path, row_group_size=2)
    rows, rejects = _read(con, path, "parquet")
    assert rejects.empty
    assert rows["line"].tolist() == [1, 2, 3]
    assert rows["event_id"].tolist() == ["e1", "e2", "e3"]
    assert rows["user_id"].tolist() == ["1", "2", "3"]
    assert rows["price"].tolist() == ["10.5", "20.0", "0.25"]
    assert rows["quantity"].tolist() == ["1", "2", "3"]
    assert rows["brand"].tolist() == ["acme", None, "acme"]
    assert rows["event_time"].tolist()[2] is None
    for column in EVENT_COLUMNS:
        assert all(v is None or isinstance(v, str) for v in rows[column]), column


def test_parquet_with_wrong_columns_is_unreadable(con, tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"event_id": ["e1"], "when": ["x"]}), path)
    with pytest.raises(UnreadableFile, match=r"missing columns .*event_time.*unexpected columns when"):
        read_landed_file(con, path, "parquet", fingerprint(path))


@pytest.mark.parametrize("data", [b"", b"not parquet at all\n", b"PAR1garbagePAR1"])
def test_not_parquet_named_parquet_is_unreadable(con, tmp_path, data):
    path = _write(tmp_path, "a.parquet", data)
    with pytest.raises(UnreadableFile, match="Parquet"):
        read_landed_file(con, path, "parquet", fingerprint(path))


def test_unsupported_format_is_unreadable(con, tmp_path):
    path = _write(tmp_path, "a.xlsx", b"PK\x03\x04")
    with pytest.raises(UnreadableFile, match="unsupported"):
        read_landed_file(con, path, "xlsx", fingerprint(path))


# --- file names DuckDB would take as a glob ---------------------------------------------


def _glob_case_file(path: Path, file_format: str, event_ids: list[str]) -> Path:
    """A valid landed file of `file_format` holding one row per event id."""
    if file_format == "parquet":
        values = {column: ["x"] * len(event_ids) for column in EVENT_COLUMNS}
        values["event_id"] = event_ids
        pq.write_table(pa.table(values), path)
        return path
    if file_format == "jsonl":
        return _write(path.parent, path.name, b"\n".join(f'{{"event_id": "{e}"}}'.encode() for e in event_ids))
    if file_format == "csv-quoted":  # a quoted line break sends the file down the line-by-line path
        lines = [f'{e},2025-01-02T10:00:00Z,view,u1,s1,p1,books,"ac\nme",1,1,' for e in event_ids]
        return _write(path.parent, path.name, _csv(*lines))
    return _write(path.parent, path.name, _csv(*(event_line(e) for e in event_ids)))


# name -> a neighbour that the name, read as a glob, would match instead or too; with as many
# rows, and sorted first, so that neither a row count nor the file's line count would notice
GLOB_NAMES = {"copy [1] a": "copy 1 a", "[ab] a": "a a", "star*a": "star a", "what? a": "what! a"}


@pytest.mark.parametrize("file_format", ["csv", "csv-quoted", "jsonl", "parquet"])
@pytest.mark.parametrize("stem", list(GLOB_NAMES))
def test_a_name_with_glob_characters_reads_that_file_and_no_neighbour(con, tmp_path, file_format, stem):
    """A user may name a file 'copy [1]' or 'what?': it is read alone, never together with
    (or instead of) a neighbour the name would match as a glob."""
    suffix = ".csv" if file_format.startswith("csv") else f".{file_format}"
    fmt = file_format.split("-")[0]
    _glob_case_file(tmp_path / (GLOB_NAMES[stem] + suffix), file_format, ["neighbour"])
    mine = _glob_case_file(tmp_path / (stem + suffix), file_format, ["mine"])
    rows, rejects = _read(con, mine, fmt)
    assert rows["event_id"].tolist() == ["mine"]
    assert rejects.empty
