"""Stage `staging`: typed, deduplicated clean events and the quarantine, audited before publishing."""

import time

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from shop_pipeline.defs import schemas
from shop_pipeline.defs.common import (
    DATA_PLATFORM,
    asset_pool,
    event_partitions,
    month_days,
    partition_days,
    partition_key,
    single_run_backfill,
    suite_check_result,
)
from shop_pipeline.ml.common.html_report import markdown_table
from shop_pipeline.quality.audit import STAGED_BATCH, audit_screened, screen_staged
from shop_pipeline.quality.suites import SUITE_VERSION, staging_events_suites
from shop_pipeline.quality.thresholds import staging_rules
from shop_pipeline.quality.validator import SuiteOutcome, warm_up
from shop_pipeline.resources import Quality, Warehouse
from shop_pipeline.warehouse.staging import (
    conservation_breaks,
    days_to_stage,
    file_counts,
    publish_staging,
    published_file_counts,
    stage_days,
)

CONSERVATION_CHECK = "conservation"
STAGING_SUITE_CHECK = "staging_events_suite"
STAGING_SUITE_NAME = f"staging_events.v{SUITE_VERSION}"


@multi_asset(
    specs=[
        AssetSpec(
            "clean_events",
            group_name="staging",
            kinds={"duckdb", "great_expectations"},
            owners=DATA_PLATFORM,
            partitions_def=event_partitions,
            deps=["raw_events", "raw_products"],
            description=(
                "staging.events: the canonical clean event, typed and in UTC, one row per real event. Duplicates "
                "(same event_id, or same content under a new id) are dropped against every earlier partition and kept "
                "in staging.duplicate_events. Published only when conservation and the staging suite pass; a day whose "
                "landed files did not change since it was staged keeps its rows."
            ),
            metadata=schemas.table_metadata("staging.events"),
        ),
        AssetSpec(
            "quarantined_events",
            group_name="staging",
            kinds={"duckdb"},
            owners=DATA_PLATFORM,
            partitions_def=event_partitions,
            deps=["raw_events"],
            description="staging.quarantined_events: every row that broke a rule, with its file, line, raw record and a readable reason.",
            metadata=schemas.table_metadata("staging.quarantined_events"),
        ),
    ],
    check_specs=[
        AssetCheckSpec(
            CONSERVATION_CHECK,
            asset="clean_events",
            blocking=True,
            description="Per landed file: rows read = clean + quarantined + duplicates.",
        ),
        AssetCheckSpec(
            STAGING_SUITE_CHECK,
            asset="clean_events",
            blocking=True,
            description="Staging suite per day: event_id unique, prices and quantities in range, event time inside its partition, products in the catalog (DuckDB aggregates over every row; GX on a sample for columns and types, and on every row of a day that fails).",
        ),
    ],
    pool=asset_pool("clean_events"),
    backfill_policy=single_run_backfill,
    can_subset=False,
)
def clean_events(context: AssetExecutionContext, warehouse: Warehouse, quality: Quality):
    days = partition_days(context)
    thresholds = quality.thresholds()
    rules = staging_rules(thresholds)
    started = time.perf_counter()
    with warehouse.connection() as con:
        # only days whose landed files (or the rules) changed since they were staged
        stale = days_to_stage(con, days, rules)
        has_catalog = con.execute("SELECT count(*) > 0 FROM raw.products").fetchall()[0][0]
        if not has_catalog:
            context.log.warning("no product catalog has landed: the staging suite skips the catalog rule")
        if stale:
            warm_up()  # GX's import overlaps the staging query
            stage_days(con, stale, rules)
            validation_started = time.perf_counter()
            counts = file_counts(con, stale)
            rows_per_day, failing = screen_staged(con, stale, thresholds, has_catalog)
            suite = staging_events_suites(thresholds, check_catalog=has_catalog)
            outcome = audit_screened(
                con, STAGED_BATCH, stale, suite, thresholds["validation_batch_rows"], rows_per_day, failing
            )
        else:  # nothing changed: the published counts still answer for conservation
            validation_started = time.perf_counter()
            counts = published_file_counts(con, days)
            outcome = SuiteOutcome(suite=STAGING_SUITE_NAME)
        breaks = conservation_breaks(counts)
        validation_seconds = time.perf_counter() - validation_started
        yield AssetCheckResult(
            check_name=CONSERVATION_CHECK,
            asset_key="clean_events",
            passed=breaks.empty,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "files_checked": int((counts["status"] != "failed").sum()),
                "files_not_conserved": len(breaks),
                "days_staged": len(stale),
                "breaks": MetadataValue.md(markdown_table(breaks)),
            },
        )
        yield suite_check_result(STAGING_SUITE_CHECK, outcome, asset_key="clean_events")
        if not breaks.empty or not outcome.success:
            raise Failure(
                description="staging audit failed (conservation or staging suite); nothing was published",
                metadata={"conservation_breaks": len(breaks), "failed_expectations": len(outcome.failures)},
            )
        if stale:
            publish_staging(con, stale, counts)
        clean = _per_month(con, CLEAN_PER_MONTH, days)
        quarantined = _per_month(con, QUARANTINED_PER_MONTH, days)
        duplicates = _per_month(con, DUPLICATES_PER_MONTH, days)
        reasons = con.execute(REASONS, {"days": days}).df()
        files = published_file_counts(con, days)
    seconds = time.perf_counter() - started
    context.log.info(f"step timing clean_events: seconds={seconds:.2f} validation_seconds={validation_seconds:.2f}")
    staged = set(stale)
    for key in context.partition_keys:
        month = month_days(key)
        rows, late, first, last = clean.get(key, (0, 0, None, None))
        context.add_asset_metadata(
            {
                "dagster/row_count": rows,
                "days_staged": len(staged.intersection(month)),
                "days_unchanged": len(month) - len(staged.intersection(month)),
                "late_events": late,
                "duplicates_dropped": duplicates.get(key, (0,))[0],
                "first_event_time": str(first),
                "last_event_time": str(last),
                "files": MetadataValue.md(markdown_table(_of_partition(files, "partition_date", key))),
            },
            asset_key="clean_events",
            partition_key=key,
        )
        context.add_asset_metadata(
            {
                "dagster/row_count": quarantined.get(key, (0,))[0],
                "reasons": MetadataValue.md(markdown_table(_of_partition(reasons, "month", key).drop(columns="month"))),
            },
            asset_key="quarantined_events",
            partition_key=key,
        )
    # what holds for the whole run (every partition's event shows it)
    run = {
        "run_partitions": len(context.partition_keys),
        "run_seconds": round(seconds, 2),
        "run_validation_seconds": round(validation_seconds, 2),
    }
    yield MaterializeResult(asset_key="clean_events", metadata=run)
    yield MaterializeResult(asset_key="quarantined_events", metadata=run)


# Per month (its first day) of $days: what the partition holds after the run.
CLEAN_PER_MONTH = """
SELECT CAST(date_trunc('month', partition_date) AS DATE), count(*), count(*) FILTER (WHERE is_late),
       min(event_time), max(event_time)
FROM staging.events WHERE list_contains($days, partition_date) GROUP BY 1"""
QUARANTINED_PER_MONTH = """
SELECT CAST(date_trunc('month', partition_date) AS DATE), count(*)
FROM staging.quarantined_events WHERE list_contains($days, partition_date) GROUP BY 1"""
DUPLICATES_PER_MONTH = """
SELECT CAST(date_trunc('month', partition_date) AS DATE), count(*)
FROM staging.duplicate_events WHERE list_contains($days, partition_date) GROUP BY 1"""
REASONS = """
SELECT CAST(date_trunc('month', partition_date) AS DATE) AS month, reason_code, count(*) AS rows,
       any_value(source_file || ':' || line) AS example_line, any_value(reason) AS example_reason
FROM staging.quarantined_events WHERE list_contains($days, partition_date)
GROUP BY ALL ORDER BY month, rows DESC"""


def _of_partition(frame, column: str, key: str):
    """The rows of `frame` whose date `column` falls in partition `key`."""
    keys = frame[column].map(lambda value: partition_key(pd.Timestamp(value).date()))
    return frame[keys == key]


def _per_month(con, query: str, days) -> dict[str, tuple]:
    """The query's rows by partition key (its first column, a month's first day)."""
    return {partition_key(month): tuple(values) for month, *values in con.execute(query, {"days": days}).fetchall()}
