"""What every native reader shares: the batch_* temp tables (sql/batch_tables.sql) that a batch of
files is read into, the per-file landed_rows / landed_rejects, the line reader of the text formats
(every physical line, numbered), the outcome of a read, and glob-escaped paths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from shop_pipeline import sql
from shop_pipeline.sources.landing import Fingerprint


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


def drop_reader_rejects(con: duckdb.DuckDBPyConnection) -> None:
    """Forget the previous file's reader rejects (read_lines.sql appends to them)."""
    for table in ("landing_reject_errors", "landing_reject_scans"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def read_lines(con: duckdb.DuckDBPyConnection, path: Path, fingerprint: Fingerprint) -> None:
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


def landed_from_batch(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE landed_rows AS SELECT * EXCLUDE (file_id) FROM ("
        + BATCH_ROWS.format(where="TRUE", csv="batch_csv")
        + ") ORDER BY line"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE landed_rejects AS "
        "SELECT line, raw_record, reason_code, reason FROM batch_reject_rows ORDER BY line"
    )
