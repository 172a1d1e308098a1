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
from shop_pipeline.quality.thresholds import staging_rules
from shop_pipeline.resources import Engine, Quality, Warehouse
from shop_pipeline.spark_mode.steps import staging_steps

CONSERVATION_CHECK = "conservation"
STAGING_SUITE_CHECK = "staging_events_suite"


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
def clean_events(context: AssetExecutionContext, warehouse: Warehouse, quality: Quality, engine: Engine):
    days = partition_days(context)
    thresholds = quality.thresholds()
    rules = staging_rules(thresholds)
    started = time.perf_counter()
    with warehouse.connection() as con:
        steps = staging_steps(engine, con)  # the engine's staging (spark_mode/steps.py)
        has_catalog = steps.has_catalog()
        if not has_catalog:
            context.log.warning("no product catalog has landed: the staging suite skips the catalog rule")
        audited = steps.stage_and_audit(days, thresholds, rules, has_catalog)
        stale, counts, outcome = audited.stale, audited.counts, audited.outcome
        breaks = audited.breaks
        validation_seconds = audited.validation_seconds
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
        steps.publish(audited)
        summary = steps.summary(days)
        clean = {partition_key(m): v for m, v in summary.clean.items()}
        quarantined = {partition_key(m): v for m, v in summary.quarantined.items()}
        duplicates = {partition_key(m): v for m, v in summary.duplicates.items()}
        reasons, files = summary.reasons, summary.files
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


def _of_partition(frame, column: str, key: str):
    """The rows of `frame` whose date `column` falls in partition `key`."""
    keys = frame[column].map(lambda value: partition_key(pd.Timestamp(value).date()))
    return frame[keys == key]
