"""Native JSON Lines files: one object per line, its keys checked against the contract over the whole file."""

from __future__ import annotations

from pathlib import Path

import duckdb

from shop_pipeline import sql
from shop_pipeline.contracts import EVENT_COLUMNS
from shop_pipeline.sources.landing import Fingerprint
from shop_pipeline.sources.native.batch import ReadCounts, UnreadableFile, read_lines

FORMAT = "jsonl"


def read_jsonl(con: duckdb.DuckDBPyConnection, path: Path, fingerprint: Fingerprint) -> int:
    """One JSON Lines file into landed_rows / landed_rejects (a line that is not an object: a reject); 0."""
    if fingerprint.size_bytes == 0:
        raise UnreadableFile("empty file")
    read_lines(con, path, fingerprint)
    _check_jsonl_keys(con)
    con.execute(sql.load("split_jsonl_rows"))
    con.execute(sql.load("split_jsonl_rejects"))
    return 0


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


def data_lines(fingerprint: Fingerprint, counts: ReadCounts) -> int:
    return fingerprint.line_count
