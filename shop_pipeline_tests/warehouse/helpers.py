"""A tiny harness around ingest + staging, as the Dagster assets drive them (no Dagster)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from shop_pipeline.sources.landing import files_for_days
from shop_pipeline.warehouse import ingest, staging
from shop_pipeline.warehouse.staging import StagingRules

DAY1 = dt.date(2025, 1, 1)
DAY2 = dt.date(2025, 1, 2)
DAY3 = dt.date(2025, 1, 3)
NOW = dt.datetime(2025, 1, 4, 6, 0, 0)

TABLES = (
    "raw.events",
    "raw.rejected_lines",
    "raw.ingested_files",
    "staging.events",
    "staging.quarantined_events",
    "staging.duplicate_events",
)


def ingest_days(con: duckdb.DuckDBPyConnection, landing: Path, days, now: dt.datetime = NOW) -> ingest.BatchReport:
    days = sorted(days)
    report = ingest.load_batch(con, files_for_days(landing, set(days)), days, now)
    ingest.publish_batch(con, days)
    return report


def stage(con: duckdb.DuckDBPyConnection, days, rules: StagingRules | None = None):
    days = sorted(days)
    staging.stage_days(con, days, rules or StagingRules())
    counts = staging.file_counts(con, days)
    breaks = staging.conservation_breaks(counts)
    assert breaks.empty, f"conservation broken:\n{breaks.to_string()}"
    staging.publish_staging(con, days, counts)
    return counts


def run_days(con, landing: Path, days, now: dt.datetime = NOW, rules: StagingRules | None = None):
    report = ingest_days(con, landing, days, now)
    stage(con, days, rules)
    return report


def snapshot(con: duckdb.DuckDBPyConnection, tables=TABLES) -> dict[str, list[tuple]]:
    return {table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() for table in tables}


def rows(con: duckdb.DuckDBPyConnection, query: str, params=None) -> list[tuple]:
    return con.execute(query, params or {}).fetchall()
