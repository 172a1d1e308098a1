"""Native CSV files: the header checked against the contract, the fast path (files sharing a header in
one multi-file read_csv, sql/read_csv_batch.sql) and the line-by-line path for a file the fast path
cannot take (blank lines, a reader error, an odd quote). A record whose quoted value holds line breaks
(RFC 4180) is one row numbered by its first line; its other lines are counted as `continued`."""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path

import duckdb

from shop_pipeline import sql
from shop_pipeline.contracts import EVENT_COLUMNS
from shop_pipeline.sources.landing import Fingerprint, read_first_line
from shop_pipeline.sources.native.batch import (
    BatchFile,
    ReadCounts,
    UnreadableFile,
    drop_reader_rejects,
    glob_escaped,
    landed_from_batch,
    read_lines,
    start_batch,
)

FORMAT = "csv"


def _parse_quoted_csv_line(line: str | None) -> list[str] | None:
    if line is None:
        return None
    try:
        rows = list(csv.reader([line], strict=True))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


def register_functions(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.CatalogException, duckdb.NotImplementedException):  # registered already
        con.create_function(
            "parse_quoted_csv_line",
            _parse_quoted_csv_line,
            [duckdb.sqltype("VARCHAR")],
            duckdb.list_type(duckdb.sqltype("VARCHAR")),
            null_handling="special",
            side_effects=False,
        )


def csv_header_positions(path: Path) -> dict[str, int]:
    """1-based position of each canonical column in the file's header, or UnreadableFile."""
    first = read_first_line(path)
    if not first.strip():
        raise UnreadableFile("empty file: no header line")
    try:
        text = first.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"header line is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    names = [name.strip().lower() for name in next(csv.reader([text]))]
    missing = [c for c in EVENT_COLUMNS if c not in names]
    unexpected = [n for n in names if n not in EVENT_COLUMNS]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if missing or unexpected or repeated:
        parts = []
        if missing:
            parts.append("missing columns " + ", ".join(missing))
        if unexpected:
            parts.append("unexpected columns " + ", ".join(unexpected))
        if repeated:
            parts.append("repeated columns " + ", ".join(repeated))
        raise UnreadableFile(
            "schema mismatch: " + "; ".join(parts) + f" (header: {text[:200]!r}; expected {', '.join(EVENT_COLUMNS)})"
        )
    return {column: names.index(column) + 1 for column in EVENT_COLUMNS}


# Reject kinds the fast path words exactly like the line-by-line path; any other kind
# (a stray or unterminated quote) sends the file down the line-by-line path.
_FAST_PATH_REJECTS = ("INVALID ENCODING", "MISSING COLUMNS", "TOO MANY COLUMNS")


def read_csv_fast(con: duckdb.DuckDBPyConnection, path: Path, fingerprint: Fingerprint, header: list[str]) -> bool:
    """The fast path alone on one file (landed_rows / landed_rejects); False when it steps aside."""
    start_batch(con)
    if _read_csv_fast_many(con, header, [BatchFile(0, path, "csv", fingerprint)]):
        return False
    landed_from_batch(con)
    return True


def read_csv_lines(con: duckdb.DuckDBPyConnection, path: Path, fingerprint: Fingerprint) -> int:
    """The line-by-line path: every physical line read alone, then split (quoted lines by the csv module)."""
    positions = csv_header_positions(path)
    register_functions(con)
    read_lines(con, path, fingerprint)
    continued = _join_quoted_newlines(con, len(positions))
    con.execute(sql.load("parse_csv_lines"))
    params = {f"pos_{column}": position for column, position in positions.items()}
    con.execute(sql.load("split_csv_rows"), {**params, "field_count": len(positions)})
    con.execute(sql.load("split_csv_rejects"), {"field_count": len(positions)})
    return continued


# A quoted value may hold this many line breaks at most: an unterminated quote never
# swallows the rest of the file.
MAX_RECORD_LINES = 100


def _join_quoted_newlines(con: duckdb.DuckDBPyConnection, field_count: int) -> int:
    """Join a record whose quoted value holds line breaks (RFC 4180) into its first physical
    line in landed_numbered; returns how many continuation lines were folded into records.

    A line with an odd number of quote characters opens a quoted value that the next such
    line closes. Lines first..last become one record when every one of them was read, they
    span at most MAX_RECORD_LINES lines and the csv module finds exactly `field_count`
    fields in them; otherwise the opening line stays alone (a malformed_line reject).
    """
    odd = [
        row[0]
        for row in con.execute(
            """SELECT physical_line FROM landed_numbered
           WHERE physical_line > 1 AND line_text IS NOT NULL
             AND (length(line_text) - length(replace(line_text, '"', ''))) % 2 = 1
           ORDER BY physical_line"""
        ).fetchall()
    ]
    merges: list[tuple[int, int, str]] = []
    i = 0
    while i + 1 < len(odd):
        first, last = odd[i], odd[i + 1]
        if last - first < MAX_RECORD_LINES:
            texts = con.execute(
                "SELECT physical_line, coalesce(line_text, '') FROM landed_numbered "
                "WHERE physical_line BETWEEN $first AND $last ORDER BY physical_line",
                {"first": first, "last": last},
            ).fetchall()
            if len(texts) == last - first + 1:
                joined = "\n".join(text for _, text in texts)
                fields = _parse_quoted_csv_line(joined)
                if fields is not None and len(fields) == field_count:
                    merges.append((first, last, joined))
                    i += 2
                    continue
        i += 1
    if not merges:
        return 0
    con.executemany(
        "UPDATE landed_numbered SET line_text = ? WHERE physical_line = ?", [[text, first] for first, _, text in merges]
    )
    con.executemany(
        "DELETE FROM landed_numbered WHERE physical_line > ? AND physical_line <= ?",
        [[first, last] for first, last, _ in merges],
    )
    return sum(last - first for first, last, _ in merges)


def read_csv_group(con: duckdb.DuckDBPyConnection, header: list[str], group: list[BatchFile]) -> set[int]:
    """The fast path for files sharing `header`; returns the ids that must be read line by line."""
    try:
        return _read_csv_fast_many(con, header, group)
    except duckdb.Error:
        if len(group) == 1:
            return {group[0].file_id}
    slow: set[int] = set()
    for item in group:  # one file breaks the multi-file read: find it, read the others fast
        try:
            slow |= _read_csv_fast_many(con, header, [item])
        except duckdb.Error:
            slow.add(item.file_id)
    return slow


def _read_csv_fast_many(con: duckdb.DuckDBPyConnection, header: list[str], group: list[BatchFile]) -> set[int]:
    """Read `group` into the batch; the ids of files that must be read line by line. On a reader
    error nothing of the group stays in the batch and the error propagates."""
    k_offset = con.execute("SELECT coalesce(max(k), 0) FROM batch_csv").fetchall()[0][0]
    try:
        return _read_csv_fast_group(con, header, group, k_offset)
    except duckdb.Error:
        ids = [item.file_id for item in group]
        con.execute("DELETE FROM batch_csv WHERE k > $k", {"k": k_offset})
        for table in ("batch_csv_files", "batch_segments", "batch_lined", "batch_reject_rows"):
            con.execute(f"DELETE FROM {table} WHERE list_contains($ids, file_id)", {"ids": ids})
        raise


def _read_csv_fast_group(
    con: duckdb.DuckDBPyConnection, header: list[str], group: list[BatchFile], k_offset: int
) -> set[int]:
    drop_reader_rejects(con)
    ids = [item.file_id for item in group]
    order = sorted(group, key=lambda item: item.file_id)  # file_index follows the list of paths
    con.execute(
        sql.load("read_csv_batch"),
        {
            "paths": [glob_escaped(item.path) for item in order],
            "columns": {name: "VARCHAR" for name in header},
            "k_offset": k_offset,
            "ids": [item.file_id for item in order],
        },
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE batch_csv_rejected AS
           SELECT DISTINCT ON (file_id, line) CAST($ids[CAST(file_id AS BIGINT) + 1] AS INTEGER) AS file_id, line - 1 AS line,
                  CAST(error_type AS VARCHAR) AS error_type, error_message, csv_line
           FROM landing_reject_errors WHERE line > 1 ORDER BY file_id, line""",
        {"ids": [item.file_id for item in order]},
    )
    records = dict(
        con.execute("SELECT file_id, count(*) FROM batch_csv WHERE k > $k GROUP BY 1", {"k": k_offset}).fetchall()
    )
    rejected = dict(con.execute("SELECT file_id, count(*) FROM batch_csv_rejected GROUP BY 1").fetchall())
    # a rejected line with an odd number of quotes may open a quoted value that holds line
    # breaks: the line-by-line path joins such records (_join_quoted_newlines)
    unusual = {
        row[0]
        for row in con.execute(
            """SELECT DISTINCT file_id FROM batch_csv_rejected WHERE error_type <> ALL($kinds)
           OR (length(csv_line) - length(replace(csv_line, '"', ''))) % 2 = 1""",
            {"kinds": list(_FAST_PATH_REJECTS)},
        ).fetchall()
    }
    slow = {
        item.file_id
        for item in order
        if item.file_id in unusual
        or records.get(item.file_id, 0) + rejected.get(item.file_id, 0) != max(item.fingerprint.line_count - 1, 0)
    }
    if slow:
        con.execute(
            "DELETE FROM batch_csv WHERE k > $k AND list_contains($ids, file_id)", {"k": k_offset, "ids": list(slow)}
        )
        con.execute("DELETE FROM batch_csv_rejected WHERE list_contains($ids, file_id)", {"ids": list(slow)})
    kept = [i for i in ids if i not in slow]
    if not kept:
        return slow
    con.execute(
        "INSERT INTO batch_csv_files SELECT file_id, min(k) - 1, count(*) FROM batch_csv WHERE k > $k GROUP BY 1",
        {"k": k_offset},
    )
    con.execute(sql.load("number_batch_csv"), {"ids": kept})
    _reparse_quoted(con, header, k_offset)
    con.execute(sql.load("batch_csv_rejects"), {"field_count": len(header)})
    return slow


def _reparse_quoted(con: duckdb.DuckDBPyConnection, header: list[str], k_offset: int) -> None:
    """Lines with a quote character, read without quoting, parsed again as CSV one by one.

    A record or a field-count reject whose line holds a quote becomes a row when the csv module
    finds exactly the header's fields, otherwise a malformed_line reject (as the line reader says it).
    """
    # header names are checked against the contract (csv_header_positions): safe to name columns
    line_text = "concat_ws(',', " + ", ".join(f"coalesce(c.{name}, '')" for name in header) + ")"
    has_quote = " OR ".join(f"contains(c.{name}, '\"')" for name in header)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE batch_quoted AS
            SELECT c.k, c.file_id, c.k + g.line_offset AS line, {line_text} AS line_text
            FROM batch_csv AS c
            JOIN batch_segments AS g ON g.bucket = c.k // 4096 AND c.k > g.lo AND c.k <= g.hi
            WHERE c.k > $k AND ({has_quote})""",
        {"k": k_offset},
    )
    quoted = con.execute("SELECT file_id, line, line_text FROM batch_quoted").fetchall()
    quoted_rejects = con.execute(
        """SELECT file_id, line, csv_line FROM batch_csv_rejected
           WHERE error_type IN ('MISSING COLUMNS', 'TOO MANY COLUMNS') AND strpos(csv_line, '"') > 0"""
    ).fetchall()
    if not quoted and not quoted_rejects:
        return
    rows, rejects = [], []
    candidates = [(f, line, text, True) for f, line, text in quoted] + [
        (f, line, text, False) for f, line, text in quoted_rejects
    ]
    for file_id, line, text, rebuilt in candidates:
        fields = _parse_quoted_csv_line(text)
        if rebuilt and fields is not None and len(fields) == len(header) - 1:
            # a record's line rebuilt from its values: the reader drops an empty last field
            # after a trailing comma, put it back
            fields = _parse_quoted_csv_line(text + ",")
        if fields is not None and len(fields) == len(header):
            values = dict(zip(header, fields))
            rows.append([file_id, line, *(_clean(values[c]) for c in EVENT_COLUMNS)])
        else:
            reason = (
                "unterminated quoted field" if fields is None else f"expected {len(header)} fields, found {len(fields)}"
            )
            rejects.append([file_id, line, text, "malformed_line", reason])
    if quoted:
        con.execute("DELETE FROM batch_csv WHERE k IN (SELECT k FROM batch_quoted)")
    if quoted_rejects:
        con.executemany(
            "DELETE FROM batch_csv_rejected WHERE file_id = ? AND line = ?",
            [[f, line] for f, line, _ in quoted_rejects],
        )
    if rows:
        con.executemany(f"INSERT INTO batch_lined VALUES ({', '.join(['?'] * (2 + len(EVENT_COLUMNS)))})", rows)
    if rejects:
        con.executemany("INSERT INTO batch_reject_rows VALUES (?, ?, ?, ?, ?)", rejects)


def _clean(value: str | None) -> str | None:
    value = (value or "").strip(" ")
    return value or None


def data_lines(fingerprint: Fingerprint, counts: ReadCounts) -> int:
    """Data lines: the file's lines but the header, a record over several lines counted once."""
    return max(fingerprint.line_count - 1, 0) - counts.continued
