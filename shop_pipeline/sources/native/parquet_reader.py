"""Native Parquet files: the columns checked against the contract, every value read as text."""

from __future__ import annotations

from pathlib import Path

import duckdb

from shop_pipeline import sql
from shop_pipeline.contracts import EVENT_COLUMNS
from shop_pipeline.sources.landing import Fingerprint
from shop_pipeline.sources.native.batch import ReadCounts, UnreadableFile, glob_escaped

FORMAT = "parquet"


def read_parquet(con: duckdb.DuckDBPyConnection, path: Path, fingerprint: Fingerprint) -> int:
    """One Parquet file into landed_rows (its columns checked against the contract; no rejects); 0."""
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
    return 0


def data_lines(fingerprint: Fingerprint, counts: ReadCounts) -> int:
    return counts.total
