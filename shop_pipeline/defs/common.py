"""Shared Dagster wiring: partitions, owners, the DuckDB pool, schema metadata helpers."""

from __future__ import annotations

import datetime as dt

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MetadataValue,
    BackfillPolicy,
    MonthlyPartitionsDefinition,
    TableColumn,
    TableSchema,
)

from shop_pipeline.settings import partitions_start

def partition_start(day: dt.date) -> dt.date:
    """The first day of the partition holding `day` (its month)."""
    return day.replace(day=1)


def partition_key(day: dt.date) -> str:
    """The key of the partition holding `day`."""
    return partition_start(day).isoformat()


# Event files are partitioned by the month of their day, from the month of the shop's first
# landed day (settings.partitions_start) to the current month (end_offset=1: files landing today
# are ingested today). Why months, not days: Dagster records one materialization per partition,
# about 10-40 ms each in the SQLite instance, and raw_events, clean_events and quarantined_events
# are three such assets: a first run over 540 days spent 66 s writing them (4 s of real work).
# The work itself follows the changed files and days (unchanged files are not read again,
# unchanged days not staged again), so a month's run after one new file costs that file.
event_partitions = MonthlyPartitionsDefinition(
    start_date=partition_key(dt.date.fromisoformat(partitions_start())), timezone="UTC", end_offset=1
)
single_run_backfill = BackfillPolicy.single_run()

DATA_PLATFORM = ["team:data-platform"]
DUCKDB_POOL = "duckdb"  # DuckDB has one writer: every writing asset shares this pool (limit 1)


def partition_days(context: AssetExecutionContext) -> list[dt.date]:
    """The days of this run: one month, or a range of months in a single-run backfill."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]


def table_schema(columns: list[tuple[str, str, str]]) -> TableSchema:
    return TableSchema(columns=[TableColumn(name, type_, description) for name, type_, description in columns])


def markdown_table(frame, limit: int = 50) -> str:
    if frame is None or len(frame) == 0:
        return "_none_"
    text = frame.head(limit).to_markdown(index=False)
    return text + (f"\n\n... {len(frame) - limit} more rows" if len(frame) > limit else "")


def suite_check_result(check_name: str, outcome, asset_key: str | None = None) -> AssetCheckResult:
    """A blocking (ERROR) check result from an expectation-suite outcome, readable in the UI."""
    return AssetCheckResult(
        check_name=check_name,
        asset_key=asset_key,
        passed=outcome.success,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "failed_expectations": len(outcome.failures),
            "batches": outcome.batches,
            "rows_validated": outcome.rows,
            "result": MetadataValue.md(outcome.to_markdown()),
        },
    )
