"""Reading landed files of the native (canonical) format into DuckDB temp tables: one module per
file format (csv_reader, jsonl_reader, parquet_reader) over what they share (batch: the batch
tables, the line reader, the outcomes).

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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from shop_pipeline.contracts import EVENT_COLUMNS
from shop_pipeline.sources.landing import Fingerprint
from shop_pipeline.sources.native import csv_reader, jsonl_reader, parquet_reader
from shop_pipeline.sources.native.batch import (
    BATCH_ROWS,
    BatchFile,
    ReadCounts,
    UnreadableFile,
    drop_reader_rejects,
    glob_escaped,
    landed_from_batch,
    start_batch,
)
from shop_pipeline.sources.native.csv_reader import csv_header_positions, read_csv_group

__all__ = [
    "BATCH_ROWS",
    "BatchFile",
    "ReadCounts",
    "UnreadableFile",
    "batch_values",
    "data_line_count",
    "drop_reader_rejects",
    "glob_escaped",
    "read_batch",
    "read_landed_file",
    "start_batch",
]


@dataclass(frozen=True)
class NativeFormat:
    """How a file of one format is read alone (into landed_rows / landed_rejects; returns the lines that
    continue a record before them) and how many data lines it has."""

    read: Callable[[duckdb.DuckDBPyConnection, Path, Fingerprint], int]
    data_lines: Callable[[Fingerprint, ReadCounts], int]


FORMATS = {
    csv_reader.FORMAT: NativeFormat(csv_reader.read_csv_lines, csv_reader.data_lines),
    jsonl_reader.FORMAT: NativeFormat(jsonl_reader.read_jsonl, jsonl_reader.data_lines),
    parquet_reader.FORMAT: NativeFormat(parquet_reader.read_parquet, parquet_reader.data_lines),
}


def read_batch(con: duckdb.DuckDBPyConnection, files: list[BatchFile]) -> dict[int, ReadCounts | UnreadableFile]:
    """Read `files` into the batch_* temp tables: per file id, its counts or why it is unreadable.

    CSV files with the same header are read by one multi-file read_csv (sql/read_csv_batch.sql);
    a file whose lines and records do not match one to one (blank lines, a reader error) is read
    again alone, line by line. JSON Lines and Parquet files are read one at a time.
    """
    outcomes: dict[int, ReadCounts | UnreadableFile] = {}
    groups: dict[tuple[str, ...], list[BatchFile]] = {}
    for item in files:
        if item.file_format == csv_reader.FORMAT:  # CSV files sharing a header: one read
            try:
                positions = csv_header_positions(item.path)
            except UnreadableFile as exc:
                outcomes[item.file_id] = exc
                continue
            groups.setdefault(tuple(sorted(positions, key=positions.get)), []).append(item)
        else:
            outcomes[item.file_id] = _read_one_lined(con, item)
    for header, group in groups.items():
        slow = read_csv_group(con, list(header), group)
        for item in group:
            if item.file_id in slow:
                outcomes[item.file_id] = _read_one_lined(con, item)
    counted = dict(
        con.execute(
            """SELECT file_id, sum(n) FROM (
               SELECT file_id, count(*) AS n FROM batch_csv GROUP BY 1
               UNION ALL SELECT file_id, count(*) FROM batch_lined GROUP BY 1) GROUP BY 1"""
        ).fetchall()
    )
    rejected = dict(con.execute("SELECT file_id, count(*) FROM batch_reject_rows GROUP BY 1").fetchall())
    for item in files:
        if item.file_id not in outcomes:
            outcomes[item.file_id] = ReadCounts(
                rows=int(counted.get(item.file_id, 0)), rejects=int(rejected.get(item.file_id, 0))
            )
        elif isinstance(outcomes[item.file_id], ReadCounts):
            outcomes[item.file_id] = ReadCounts(
                rows=int(counted.get(item.file_id, 0)),
                rejects=int(rejected.get(item.file_id, 0)),
                continued=outcomes[item.file_id].continued,
            )
    return outcomes


def _read_one_lined(con: duckdb.DuckDBPyConnection, item: BatchFile) -> ReadCounts | UnreadableFile:
    """One file through the per-file readers (landed_rows / landed_rejects), then into the batch."""
    try:
        if item.file_format not in FORMATS:
            raise UnreadableFile(f"unsupported file format {item.file_format!r}")
        continued = FORMATS[item.file_format].read(con, item.path, item.fingerprint)
    except UnreadableFile as exc:
        return exc
    except duckdb.Error as exc:
        return UnreadableFile(f"DuckDB could not read the file: {str(exc).splitlines()[0]}")
    con.execute("INSERT INTO batch_lined SELECT $id, * FROM landed_rows", {"id": item.file_id})
    con.execute("INSERT INTO batch_reject_rows SELECT $id, * FROM landed_rejects", {"id": item.file_id})
    return ReadCounts(rows=0, rejects=0, continued=continued)  # rows, rejects counted from the batch tables afterwards


def read_landed_file(
    con: duckdb.DuckDBPyConnection, path: Path, file_format: str, fingerprint: Fingerprint
) -> ReadCounts:
    """Fill landed_rows / landed_rejects from one file, or raise UnreadableFile."""
    start_batch(con)
    outcome = read_batch(con, [BatchFile(0, path, file_format, fingerprint)])[0]
    if isinstance(outcome, UnreadableFile):
        raise outcome
    landed_from_batch(con)
    return outcome


def data_line_count(file_format: str, fingerprint: Fingerprint, counts: ReadCounts) -> int:
    """Rows read: data lines for text formats (header excluded; a CSV record whose quoted value
    holds line breaks is one, numbered by its first line), rows for Parquet."""
    return FORMATS[file_format].data_lines(fingerprint, counts)


def batch_values(columns: tuple[str, ...] = EVENT_COLUMNS) -> str:
    """Every row's values of `columns` (trimmed; empty -> NULL) with its file_id, without its line:
    for aggregates over the batch (columns are names of the contract, not input)."""
    assert set(columns) <= set(EVENT_COLUMNS)
    trimmed = ", ".join(f"nullif(trim({c}), '') AS {c}" for c in columns)
    return f"SELECT file_id, {trimmed} FROM batch_csv UNION ALL SELECT file_id, {', '.join(columns)} FROM batch_lined"
