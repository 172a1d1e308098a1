"""Reading one landed file of the native (canonical) format into DuckDB temp tables.

After `read_landed_file`, the connection holds:
  landed_rows    (line, event_id, ..., order_id)   every value as text
  landed_rejects (line, raw_record, reason_code, reason)
and every data line of the file is in exactly one of them (checked against an
independent count of the file's lines). `line` is the 1-based data line: the line after a
CSV header is line 1; JSON Lines and Parquet rows count from 1.
"""

from __future__ import annotations

import csv
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
    try:
        con.create_function(
            "parse_quoted_csv_line",
            _parse_quoted_csv_line,
            [duckdb.sqltype("VARCHAR")],
            duckdb.list_type(duckdb.sqltype("VARCHAR")),
            null_handling="special",
            side_effects=False,
        )
    except (duckdb.CatalogException, duckdb.NotImplementedException):
        pass  # already registered on this connection


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
    con.execute(sql.load("read_lines"), {"path": str(path)})
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
    """DuckDB's CSV reader, when every data line came out as one record or one reject.

    Blank lines (skipped silently by the reader), quoted newlines and quote errors break
    that one-line-one-outcome correspondence; then this returns False and nothing is kept.
    """
    drop_reader_rejects(con)
    con.execute(sql.load("read_csv_records"), {"path": str(path), "columns": {name: "VARCHAR" for name in header}})
    records, rejected, unusual = con.execute(
        """SELECT (SELECT count(*) FROM landed_csv),
                  (SELECT count(DISTINCT line) FROM landing_reject_errors),
                  (SELECT count(*) FROM landing_reject_errors WHERE CAST(error_type AS VARCHAR) <> ALL($kinds))""",
        {"kinds": list(_FAST_PATH_REJECTS)},
    ).fetchall()[0]
    data_lines = max(fingerprint.line_count - 1, 0)
    if unusual or records + rejected != data_lines:
        return False
    con.execute(sql.load("number_csv_records"), {"data_lines": data_lines})
    con.execute(sql.load("csv_record_rejects"), {"field_count": len(header)})
    return True


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, fingerprint: Fingerprint) -> None:
    positions = csv_header_positions(path)
    header = sorted(positions, key=positions.get)
    if _read_csv_fast(con, path, fingerprint, header):
        return
    register_functions(con)
    _read_lines(con, path, fingerprint)
    con.execute(sql.load("parse_csv_lines"))
    params = {f"pos_{column}": position for column, position in positions.items()}
    con.execute(sql.load("split_csv_rows"), {**params, "field_count": len(positions)})
    con.execute(sql.load("split_csv_rejects"), {"field_count": len(positions)})


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
        described = con.execute("DESCRIBE SELECT * FROM read_parquet($path)", {"path": str(path)}).fetchall()
    except duckdb.Error as exc:
        raise UnreadableFile(f"not a readable Parquet file: {str(exc).splitlines()[0]}") from exc
    names = [row[0].lower() for row in described]
    missing = [c for c in EVENT_COLUMNS if c not in names]
    unexpected = [n for n in names if n not in EVENT_COLUMNS]
    if missing or unexpected:
        raise UnreadableFile(
            f"schema mismatch: missing columns {', '.join(missing) or '-'}; unexpected columns {', '.join(unexpected) or '-'}"
        )
    con.execute(sql.load("read_parquet_rows"), {"path": str(path)})
    con.execute(
        "CREATE OR REPLACE TEMP TABLE landed_rejects "
        "(line BIGINT, raw_record VARCHAR, reason_code VARCHAR, reason VARCHAR)"
    )


def read_landed_file(
    con: duckdb.DuckDBPyConnection, path: Path, file_format: str, fingerprint: Fingerprint
) -> ReadCounts:
    """Fill landed_rows / landed_rejects from one file, or raise UnreadableFile."""
    try:
        if file_format == "csv":
            _read_csv(con, path, fingerprint)
        elif file_format == "jsonl":
            _read_jsonl(con, path, fingerprint)
        elif file_format == "parquet":
            _read_parquet(con, path)
        else:
            raise UnreadableFile(f"unsupported file format {file_format!r}")
    except UnreadableFile:
        raise
    except duckdb.Error as exc:
        raise UnreadableFile(f"DuckDB could not read the file: {str(exc).splitlines()[0]}") from exc
    rows, rejects = con.execute(
        "SELECT (SELECT count(*) FROM landed_rows), (SELECT count(*) FROM landed_rejects)"
    ).fetchall()[0]
    return ReadCounts(rows=rows, rejects=rejects)


def data_line_count(file_format: str, fingerprint: Fingerprint, counts: ReadCounts) -> int:
    """Rows read: data lines for text formats (header excluded), rows for Parquet."""
    if file_format == "csv":
        return max(fingerprint.line_count - 1, 0)
    if file_format == "jsonl":
        return fingerprint.line_count
    return counts.total
