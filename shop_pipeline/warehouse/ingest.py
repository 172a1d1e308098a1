"""Exactly-once ingestion of landed event files into raw.events (write-audit-publish).

`load_batch` reads the files of some days into temp tables (batch_events, batch_rejects,
batch_files) without touching the published tables; the caller audits the batch, then
`publish_batch` replaces those days in raw.* in one transaction.

Exactly once: a file whose SHA-256 was already ingested (under any name, in another
partition, or earlier in this batch) is recorded as `duplicate_file` and adds no rows.
Re-loading the same days gives the same rows: ingested_at is kept from the first time the
same bytes were ingested at the same path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from shop_pipeline.sources.landing import LandedFile, fingerprint
from shop_pipeline.sources.native import UnreadableFile, data_line_count, read_landed_file
from shop_pipeline.warehouse.connection import transaction

_BATCH_DDL = """
CREATE OR REPLACE TEMP TABLE batch_events AS SELECT * FROM raw.events LIMIT 0;
CREATE OR REPLACE TEMP TABLE batch_rejects AS SELECT * FROM raw.rejected_lines LIMIT 0;
CREATE OR REPLACE TEMP TABLE batch_files AS SELECT * FROM raw.ingested_files LIMIT 0;
"""

_COPY_ROWS = """
INSERT INTO batch_events BY NAME
SELECT CAST($day AS DATE) AS partition_date, $source_file AS source_file, CAST($ingested_at AS TIMESTAMP) AS ingested_at, *
FROM landed_rows
"""

_COPY_REJECTS = """
INSERT INTO batch_rejects BY NAME
SELECT CAST($day AS DATE) AS partition_date, $source_file AS source_file, CAST($ingested_at AS TIMESTAMP) AS ingested_at, *
FROM landed_rejects
"""

_RECORD_FILE = """
INSERT INTO batch_files BY NAME
SELECT $path AS path, CAST($day AS DATE) AS partition_date, $size_bytes AS size_bytes, $sha256 AS sha256,
       $file_format AS file_format, $status AS status, $duplicate_of AS duplicate_of,
       $rows_read AS rows_read, $rows_duplicate AS rows_duplicate, $error AS error,
       CAST($ingested_at AS TIMESTAMP) AS ingested_at
"""

_ALREADY_INGESTED = """
SELECT sha256, min(path) FROM raw.ingested_files
WHERE status = 'ingested' AND NOT list_contains($days, partition_date)
GROUP BY sha256
"""

_EARLIER_INGESTED_AT = """
SELECT path, sha256, ingested_at FROM raw.ingested_files WHERE list_contains($days, partition_date)
"""


@dataclass
class FileOutcome:
    path: str
    day: dt.date
    status: str
    rows_read: int | None = None
    error: str | None = None
    duplicate_of: str | None = None


@dataclass
class BatchReport:
    days: list[dt.date]
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def duplicates(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "duplicate_file"]

    @property
    def ingested(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "ingested"]


def load_batch(
    con: duckdb.DuckDBPyConnection, files: list[LandedFile], days: list[dt.date], now: dt.datetime
) -> BatchReport:
    """Read `files` (all the landed files of `days`) into the batch_* temp tables."""
    con.execute(_BATCH_DDL)
    known = dict(con.execute(_ALREADY_INGESTED, {"days": days}).fetchall())
    first_seen = {(p, s): t for p, s, t in con.execute(_EARLIER_INGESTED_AT, {"days": days}).fetchall()}
    report = BatchReport(days=sorted(days))
    # Arrival order, not day order: of two files with the same bytes the earlier arrival is
    # the original, whichever days are loaded together (a backfill must not move rows).
    for landed in sorted(files, key=lambda f: (f.arrived_ns, f.relative)):
        report.files.append(_load_one(con, landed, known, first_seen, now))
    return report


def _load_one(con, landed: LandedFile, known: dict, first_seen: dict, now: dt.datetime) -> FileOutcome:
    record = {
        "path": landed.relative,
        "day": landed.day,
        "size_bytes": None,
        "sha256": None,
        "file_format": landed.file_format,
        "status": "failed",
        "duplicate_of": None,
        "rows_read": None,
        "rows_duplicate": None,
        "error": None,
        "ingested_at": now,
    }
    outcome = FileOutcome(path=landed.relative, day=landed.day, status="failed")
    try:
        fp = fingerprint(landed.path)
    except OSError as exc:
        record["error"] = outcome.error = f"cannot read file: {exc.strerror or exc}"
        con.execute(_RECORD_FILE, record)
        return outcome
    record.update(size_bytes=fp.size_bytes, sha256=fp.sha256)
    record["ingested_at"] = first_seen.get((landed.relative, fp.sha256), now)
    source = {"day": landed.day, "source_file": landed.relative, "ingested_at": record["ingested_at"]}

    if landed.file_format is None:
        record["error"] = outcome.error = (
            f"unsupported file type {landed.path.suffix or '(no extension)'!r}: expected .csv, .jsonl or .parquet"
        )
    elif fp.sha256 in known:
        rows = _count_without_reading(con, landed, fp)
        record.update(status="duplicate_file", duplicate_of=known[fp.sha256], rows_read=rows, rows_duplicate=rows)
        outcome.status, outcome.duplicate_of, outcome.rows_read = "duplicate_file", known[fp.sha256], rows
    else:
        try:
            counts = read_landed_file(con, landed.path, landed.file_format, fp)
        except UnreadableFile as exc:
            record["error"] = outcome.error = str(exc)
        else:
            con.execute(_COPY_ROWS, source)
            con.execute(_COPY_REJECTS, source)
            rows_read = data_line_count(landed.file_format, fp, counts)
            record.update(status="ingested", rows_read=rows_read)
            outcome.status, outcome.rows_read = "ingested", rows_read
            known[fp.sha256] = landed.relative
    con.execute(_RECORD_FILE, record)
    return outcome


def _count_without_reading(con, landed: LandedFile, fp) -> int | None:
    """Rows of a duplicate file, without reading its rows (Parquet: from the footer)."""
    if landed.file_format == "csv":
        return max(fp.line_count - 1, 0)
    if landed.file_format == "jsonl":
        return fp.line_count
    # Same bytes as a file that was read, so the footer is readable; without a count the
    # file's rows would go unaccounted (conservation: rows_read = rows_duplicate).
    return con.execute("SELECT count(*) FROM read_parquet($path)", {"path": str(landed.path)}).fetchall()[0][0]


def publish_batch(con: duckdb.DuckDBPyConnection, days: list[dt.date]) -> None:
    """Replace `days` in raw.* with the batch, in one transaction."""
    with transaction(con):
        for table, batch in (
            ("raw.events", "batch_events"),
            ("raw.rejected_lines", "batch_rejects"),
            ("raw.ingested_files", "batch_files"),
        ):
            con.execute(f"DELETE FROM {table} WHERE list_contains($days, partition_date)", {"days": days})
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {batch}")
