"""Reading landed files of the native (canonical) format into DuckDB temp tables.

A batch of files is read into the batch_* temp tables (sql/batch_tables.sql): CSV files that
share a header in one multi-file read_csv (the fast path, sql/read_csv_batch.sql), the rest
one at a time. Every data line of a file ends up in exactly one of its rows or its rejects
(checked against an independent count of the file's lines), with its 1-based data line: the
line after a CSV header is line 1; JSON Lines and Parquet rows count from 1. A CSV record
whose quoted value holds line breaks (RFC 4180) is one row numbered by its first line; its
other lines are counted in ReadCounts.continued, so rows read = records.

`read_landed_file` reads one file into landed_rows (line, event_id, ..., order_id; every
value as text) and landed_rejects (line, raw_record, reason_code, reason).
Paths reach DuckDB glob-escaped: its readers expand [ ] * ? even in a parameter.
"""

from __future__ import annotations

import contextlib
import csv
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from shop_pipeline import sql
from shop_pipeline.contracts import EVENT_COLUMNS
from shop_pipeline.sources.landing import Fingerprint, read_first_line


class UnreadableFile(Exception):
    """The file as a whole cannot be ingested; the message says why, for a person."""


@dataclass(frozen=True)
class ReadCounts:
    rows: int
    rejects: int
    continued: int = 0  # CSV lines that continue a quoted value of the record before them


    @property
    def total(self) -> int:
        return self.rows + self.rejects


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


def _read_lines(con: duckdb.DuckDBPyConnection, path: Path, fingerprint: Fingerprint) -> None:
    drop_reader_rejects(con)
    con.execute(sql.load("read_lines"), {"path": glob_escaped(path)})
    con.execute(sql.load("number_lines"), {"total_lines": fingerprint.line_count})
    accounted = con.execute(
        "SELECT (SELECT count(*) FROM landed_numbered) + (SELECT count(DISTINCT line) FROM landing_reject_errors)"
    ).fetchall()[0][0]
    if accounted != fingerprint.line_count:
        raise UnreadableFile(
            f"could not account for every line: the reader returned {accounted} of {fingerprint.line_count} lines"
        )


# Reject kinds the fast path words exactly like the line-by-line path; any other kind
# (a stray or unterminated quote) sends the file down the line-by-line path.
_FAST_PATH_REJECTS = ("INVALID ENCODING", "MISSING COLUMNS", "TOO MANY COLUMNS")


def drop_reader_rejects(con: duckdb.DuckDBPyConnection) -> None:
    """Forget the previous file's reader rejects (read_lines.sql appends to them)."""
    for table in ("landing_reject_errors", "landing_reject_scans"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _read_csv_fast(con: duckdb.DuckDBPyConnection, path: Path, fingerprint: Fingerprint, header: list[str]) -> bool:
    """The fast path alone on one file (landed_rows / landed_rejects); False when it steps aside."""
    start_batch(con)
    if _read_csv_fast_many(con, header, [BatchFile(0, path, "csv", fingerprint)]):
        return False
    _landed_from_batch(con)
    return True


def _read_csv_lines(con: duckdb.DuckDBPyConnection, path: Path, fingerprint: Fingerprint) -> int:
    """The line-by-line path: every physical line read alone, then split (quoted lines by the csv module)."""
    positions = csv_header_positions(path)
    register_functions(con)
    _read_lines(con, path, fingerprint)
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
    odd = [row[0] for row in con.execute(
        """SELECT physical_line FROM landed_numbered
           WHERE physical_line > 1 AND line_text IS NOT NULL
             AND (length(line_text) - length(replace(line_text, '"', ''))) % 2 = 1
           ORDER BY physical_line"""
    ).fetchall()]
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
    con.executemany("UPDATE landed_numbered SET line_text = ? WHERE physical_line = ?",
                    [[text, first] for first, _, text in merges])
    con.executemany("DELETE FROM landed_numbered WHERE physical_line > ? AND physical_line <= ?",
                    [[first, last] for first, last, _ in merges])
    return sum(last - first for first, last, _ in merges)


def _read_jsonl(con: duckdb.DuckDBPyConnection, path: Path, fingerprint: Fingerprint) -> None:
    if fingerprint.size_bytes == 0:
        raise UnreadableFile("empty file")
    _read_lines(con, path, fingerprint)
    _check_jsonl_keys(con)
    con.execute(sql.load("split_jsonl_rows"))
    con.execute(sql.load("split_jsonl_rejects"))


def _check_jsonl_keys(con: duckdb.DuckDBPyConnection) -> None:
    """The same contract as a CSV header, over the union of the file's keys: a key no line
    has, next to keys the contract does not know, is schema drift and rejects the file."""
    keys = {
        row[0].lower()
        for row in con.execute(
            """SELECT DISTINCT unnest(json_keys(line_text)) FROM landed_numbered
               WHERE line_text IS NOT NULL AND json_valid(line_text) AND json_type(line_text) = 'OBJECT'"""
        ).fetchall()
    }
    if not keys:
        return
    missing = [c for c in EVENT_COLUMNS if c not in keys]
    unexpected = sorted(k for k in keys if k not in EVENT_COLUMNS)
    if unexpected:
        raise UnreadableFile(
            f"schema mismatch: missing columns {', '.join(missing) or '-'}; unexpected columns {', '.join(unexpected)}"
        )


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    try:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet($path)", {"path": glob_escaped(path)}).fetchall()
    except duckdb.Error as exc:
        raise UnreadableFile(f"not a readable Parquet file: {str(exc).splitlines()[0]}") from exc
    names = [row[0].lower() for row in described]
    missing = [c for c in EVENT_COLUMNS if c not in names]
    unexpected = [n for n in names if n not in EVENT_COLUMNS]
    if missing or unexpected:
        raise UnreadableFile(
            f"schema mismatch: missing columns {', '.join(missing) or '-'}; unexpected columns {', '.join(unexpected) or '-'}"
        )
    con.execute(sql.load("read_parquet_rows"), {"path": glob_escaped(path)})
    con.execute(
        "CREATE OR REPLACE TEMP TABLE landed_rejects "
        "(line BIGINT, raw_record VARCHAR, reason_code VARCHAR, reason VARCHAR)"
    )


# --- batches: many files read into the batch_* temp tables --------------------------------

_GLOB = re.compile(r"([\[\]*?])")


def glob_escaped(path: Path | str) -> str:
    """A path DuckDB's readers take literally: they expand [ ] * ? even in a parameter."""
    return _GLOB.sub(r"[\1]", str(path))


@dataclass(frozen=True)
class BatchFile:
    file_id: int
    path: Path
    file_format: str
    fingerprint: Fingerprint


def start_batch(con: duckdb.DuckDBPyConnection) -> None:
    """Empty batch_* temp tables (sql/batch_tables.sql)."""
    con.execute(sql.load("batch_tables"))


def read_batch(con: duckdb.DuckDBPyConnection, files: list[BatchFile]) -> dict[int, ReadCounts | UnreadableFile]:
    """Read `files` into the batch_* temp tables: per file id, its counts or why it is unreadable.

    CSV files with the same header are read by one multi-file read_csv (sql/read_csv_batch.sql);
    a file whose lines and records do not match one to one (blank lines, a reader error) is read
    again alone, line by line. JSON Lines and Parquet files are read one at a time.
    """
    outcomes: dict[int, ReadCounts | UnreadableFile] = {}
    groups: dict[tuple[str, ...], list[BatchFile]] = {}
    for item in files:
        if item.file_format == "csv":
            try:
                positions = csv_header_positions(item.path)
            except UnreadableFile as exc:
                outcomes[item.file_id] = exc
                continue
            groups.setdefault(tuple(sorted(positions, key=positions.get)), []).append(item)
        else:
            outcomes[item.file_id] = _read_one_lined(con, item)
    for header, group in groups.items():
        slow = _read_csv_group(con, list(header), group)
        for item in group:
            if item.file_id in slow:
                outcomes[item.file_id] = _read_one_lined(con, item)
    counted = dict(con.execute(
        """SELECT file_id, sum(n) FROM (
               SELECT file_id, count(*) AS n FROM batch_csv GROUP BY 1
               UNION ALL SELECT file_id, count(*) FROM batch_lined GROUP BY 1) GROUP BY 1"""
    ).fetchall())
    rejected = dict(con.execute("SELECT file_id, count(*) FROM batch_reject_rows GROUP BY 1").fetchall())
    for item in files:
        if item.file_id not in outcomes:
            outcomes[item.file_id] = ReadCounts(rows=int(counted.get(item.file_id, 0)),
                                                rejects=int(rejected.get(item.file_id, 0)))
        elif isinstance(outcomes[item.file_id], ReadCounts):
            outcomes[item.file_id] = ReadCounts(rows=int(counted.get(item.file_id, 0)),
                                                rejects=int(rejected.get(item.file_id, 0)),
                                                continued=outcomes[item.file_id].continued)
    return outcomes


def _read_one_lined(con: duckdb.DuckDBPyConnection, item: BatchFile) -> ReadCounts | UnreadableFile:
    """One file through the per-file readers (landed_rows / landed_rejects), then into the batch."""
    continued = 0
    try:
        if item.file_format == "csv":
            continued = _read_csv_lines(con, item.path, item.fingerprint)
        elif item.file_format == "jsonl":
            _read_jsonl(con, item.path, item.fingerprint)
        elif item.file_format == "parquet":
            _read_parquet(con, item.path)
        else:
            raise UnreadableFile(f"unsupported file format {item.file_format!r}")
    except UnreadableFile as exc:
        return exc
    except duckdb.Error as exc:
        return UnreadableFile(f"DuckDB could not read the file: {str(exc).splitlines()[0]}")
    con.execute("INSERT INTO batch_lined SELECT $id, * FROM landed_rows", {"id": item.file_id})
    con.execute("INSERT INTO batch_reject_rows SELECT $id, * FROM landed_rejects", {"id": item.file_id})
    return ReadCounts(rows=0, rejects=0, continued=continued)  # rows, rejects counted from the batch tables afterwards


def _read_csv_group(con: duckdb.DuckDBPyConnection, header: list[str], group: list[BatchFile]) -> set[int]:
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


def _read_csv_fast_group(con: duckdb.DuckDBPyConnection, header: list[str], group: list[BatchFile],
                         k_offset: int) -> set[int]:
    drop_reader_rejects(con)
    ids = [item.file_id for item in group]
    order = sorted(group, key=lambda item: item.file_id)  # file_index follows the list of paths
    con.execute(
        sql.load("read_csv_batch"),
        {"paths": [glob_escaped(item.path) for item in order], "columns": {name: "VARCHAR" for name in header},
         "k_offset": k_offset, "ids": [item.file_id for item in order]},
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE batch_csv_rejected AS
           SELECT DISTINCT ON (file_id, line) CAST($ids[CAST(file_id AS BIGINT) + 1] AS INTEGER) AS file_id, line - 1 AS line,
                  CAST(error_type AS VARCHAR) AS error_type, error_message, csv_line
           FROM landing_reject_errors WHERE line > 1 ORDER BY file_id, line""",
        {"ids": [item.file_id for item in order]},
    )
    records = dict(con.execute(
        "SELECT file_id, count(*) FROM batch_csv WHERE k > $k GROUP BY 1", {"k": k_offset}).fetchall())
    rejected = dict(con.execute("SELECT file_id, count(*) FROM batch_csv_rejected GROUP BY 1").fetchall())
    # a rejected line with an odd number of quotes may open a quoted value that holds line
    # breaks: the line-by-line path joins such records (_join_quoted_newlines)
    unusual = {row[0] for row in con.execute(
        """SELECT DISTINCT file_id FROM batch_csv_rejected WHERE error_type <> ALL($kinds)
           OR (length(csv_line) - length(replace(csv_line, '"', ''))) % 2 = 1""",
        {"kinds": list(_FAST_PATH_REJECTS)}).fetchall()}
    slow = {
        item.file_id for item in order
        if item.file_id in unusual
        or records.get(item.file_id, 0) + rejected.get(item.file_id, 0) != max(item.fingerprint.line_count - 1, 0)
    }
    if slow:
        con.execute("DELETE FROM batch_csv WHERE k > $k AND list_contains($ids, file_id)", {"k": k_offset, "ids": list(slow)})
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
    candidates = [(f, line, text, True) for f, line, text in quoted] + [(f, line, text, False) for f, line, text in quoted_rejects]
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
            reason = "unterminated quoted field" if fields is None else f"expected {len(header)} fields, found {len(fields)}"
            rejects.append([file_id, line, text, "malformed_line", reason])
    if quoted:
        con.execute("DELETE FROM batch_csv WHERE k IN (SELECT k FROM batch_quoted)")
    if quoted_rejects:
        con.executemany("DELETE FROM batch_csv_rejected WHERE file_id = ? AND line = ?",
                        [[f, line] for f, line, _ in quoted_rejects])
    if rows:
        con.executemany(f"INSERT INTO batch_lined VALUES ({', '.join(['?'] * (2 + len(EVENT_COLUMNS)))})", rows)
    if rejects:
        con.executemany("INSERT INTO batch_reject_rows VALUES (?, ?, ?, ?, ?)", rejects)


def _clean(value: str | None) -> str | None:
    value = (value or "").strip(" ")
    return value or None


def read_landed_file(
    con: duckdb.DuckDBPyConnection, path: Path, file_format: str, fingerprint: Fingerprint
) -> ReadCounts:
    """Fill landed_rows / landed_rejects from one file, or raise UnreadableFile."""
    start_batch(con)
    outcome = read_batch(con, [BatchFile(0, path, file_format, fingerprint)])[0]
    if isinstance(outcome, UnreadableFile):
        raise outcome
    _landed_from_batch(con)
    return outcome


def _landed_from_batch(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE landed_rows AS SELECT * EXCLUDE (file_id) FROM ("
                + BATCH_ROWS.format(where="TRUE", csv="batch_csv") + ") ORDER BY line")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE landed_rejects AS "
        "SELECT line, raw_record, reason_code, reason FROM batch_reject_rows ORDER BY line"
    )


# Every row of the batch with its data line (file_id, line, values trimmed; empty -> NULL).
BATCH_ROWS = """
SELECT g.file_id, c.k + g.line_offset AS line,
       nullif(trim(c.event_id), '') AS event_id, nullif(trim(c.event_time), '') AS event_time,
       nullif(trim(c.event_type), '') AS event_type, nullif(trim(c.user_id), '') AS user_id,
       nullif(trim(c.session_id), '') AS session_id, nullif(trim(c.product_id), '') AS product_id,
       nullif(trim(c.category), '') AS category, nullif(trim(c.brand), '') AS brand,
       nullif(trim(c.price), '') AS price, nullif(trim(c.quantity), '') AS quantity,
       nullif(trim(c.order_id), '') AS order_id
FROM {csv} AS c
JOIN batch_segments AS g ON g.bucket = c.k // 4096 AND c.k > g.lo AND c.k <= g.hi
WHERE {where}
UNION ALL
SELECT * FROM batch_lined WHERE {where}
"""


def data_line_count(file_format: str, fingerprint: Fingerprint, counts: ReadCounts) -> int:
    """Rows read: data lines for text formats (header excluded; a CSV record whose quoted value
    holds line breaks is one, numbered by its first line), rows for Parquet."""
    if file_format == "csv":
        return max(fingerprint.line_count - 1, 0) - counts.continued
    if file_format == "jsonl":
        return fingerprint.line_count
    return counts.total


def batch_values(columns: tuple[str, ...] = EVENT_COLUMNS) -> str:
    """Every row's values of `columns` (trimmed; empty -> NULL) with its file_id, without its line:
    for aggregates over the batch (columns are names of the contract, not input)."""
    assert set(columns) <= set(EVENT_COLUMNS)
    trimmed = ", ".join(f"nullif(trim({c}), '') AS {c}" for c in columns)
    return (f"SELECT file_id, {trimmed} FROM batch_csv UNION ALL "
            f"SELECT file_id, {', '.join(columns)} FROM batch_lined")
