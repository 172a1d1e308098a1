"""Shared Dagster wiring: partitions, owners, the DuckDB pool, schema metadata helpers."""

from __future__ import annotations

import datetime as dt

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MetadataValue,
    BackfillPolicy,
    DailyPartitionsDefinition,
    TableColumn,
    TableSchema,
)

from shop_pipeline.settings import partitions_start

# From the shop's first landed day (settings.partitions_start) to tomorrow (end_offset=2): files
# landing today are ingested today, and a shop east of UTC may name a file by its local date,
# already tomorrow in UTC. A file dated outside is refused (pipeline_run.partition_bounds).
daily_partitions = DailyPartitionsDefinition(start_date=partitions_start(), timezone="UTC", end_offset=2)
single_run_backfill = BackfillPolicy.single_run()

DATA_PLATFORM = ["team:data-platform"]
DUCKDB_POOL = "duckdb"  # DuckDB has one writer: every writing asset shares this pool (limit 1)


def partition_days(context: AssetExecutionContext) -> list[dt.date]:
    """The days of this run: one partition, or a whole range in a single-run backfill."""
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
