"""Stage `ingestion`: landed files -> raw.events (exactly once), the catalog, marketing and chargeback labels."""

import datetime as dt
import time

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
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
from shop_pipeline.quality.audit import RAW_BATCH, audit_screened, screen_raw
from shop_pipeline.quality.suites import SUITE_VERSION, raw_events_suites
from shop_pipeline.quality.validator import SuiteOutcome, warm_up
from shop_pipeline.resources import Engine, Quality, ShopHome, Warehouse
from shop_pipeline.settings import partition_bounds
from shop_pipeline.sources.landing import discover
from shop_pipeline.spark_mode.steps import ingestion_steps
from shop_pipeline.warehouse.catalog import load_catalog, load_marketing
from shop_pipeline.warehouse.ingest import load_batch, out_of_range_reason, publish_batch
from shop_pipeline.warehouse.order_labels import LABELS_SUBFOLDER, load_order_labels

RAW_SUITE_NAME = f"raw_events.v{SUITE_VERSION}"
RAW_SAMPLE = "SELECT * FROM batch_events_sample WHERE list_contains($days, partition_date)"

RAW_SUITE_CHECK = "raw_events_suite"
FILES_READABLE_CHECK = "landed_files_readable"


@asset(
    group_name="ingestion",
    kinds={"duckdb", "csv"},
    owners=DATA_PLATFORM,
    pool=asset_pool("raw_products"),
    description="Product catalog (landing/catalog/products.csv) replaced whole in raw.products.",
    metadata=schemas.table_metadata("raw.products"),
)
def raw_products(warehouse: Warehouse, shop: ShopHome) -> MaterializeResult:
    path = shop.paths.catalog_file
    with warehouse.connection() as con:
        rows = load_catalog(con, path)
    return MaterializeResult(metadata={"dagster/row_count": rows, "source": str(path), "source_found": path.is_file()})


@asset(
    group_name="ingestion",
    kinds={"duckdb", "csv"},
    owners=DATA_PLATFORM,
    pool=asset_pool("raw_marketing"),
    description="Daily ad spend per category and product promotions (landing/marketing/) in raw.ad_spend and raw.promotions.",
    metadata=schemas.table_metadata("raw.ad_spend", "raw.promotions"),
)
def raw_marketing(warehouse: Warehouse, shop: ShopHome) -> MaterializeResult:
    paths = shop.paths
    with warehouse.connection() as con:
        ad_rows, promo_rows = load_marketing(con, paths.ad_spend_file, paths.promotions_file)
    return MaterializeResult(
        metadata={"dagster/row_count": ad_rows + promo_rows, "ad_spend_rows": ad_rows, "promotion_rows": promo_rows}
    )


@asset(
    group_name="ingestion",
    kinds={"duckdb"},
    owners=DATA_PLATFORM,
    pool=asset_pool("order_labels"),
    description=(
        "raw.order_labels: chargeback / fraud reports from landing/labels/*.csv (order_id, is_fraud, reported_on), "
        "replaced whole from the files present, in one transaction; every line that is not a label is in "
        "raw.order_label_rejects with its reason. No files: no labels (the risk model then runs unsupervised)."
    ),
    metadata=schemas.table_metadata("raw.order_labels"),
)
def order_labels(context: AssetExecutionContext, warehouse: Warehouse, shop: ShopHome):
    with warehouse.connection() as con:
        load = load_order_labels(con, shop.paths.landing / LABELS_SUBFOLDER)
        fraud, first, last = con.execute(
            "SELECT count(*) FILTER (WHERE is_fraud), min(reported_on), max(reported_on) FROM raw.order_labels"
        ).fetchall()[0]
    reasons = "\n".join(f"- {code}: {count:,}" for code, count in sorted(load.reasons.items())) or "_none_"
    return MaterializeResult(
        metadata={
            "dagster/row_count": load.rows,
            "files": len(load.files),
            "fraud_reports": int(fraud or 0),
            "reported": f"{first} .. {last}" if first else "no labels",
            "rejected_lines": load.rejected,
            "reject_reasons": MetadataValue.md(reasons),
        }
    )


@asset(
    group_name="ingestion",
    kinds={"duckdb", "great_expectations"},
    owners=DATA_PLATFORM,
    pool=asset_pool("raw_events"),
    partitions_def=event_partitions,
    backfill_policy=single_run_backfill,
    description=(
        "Landed event files of the day(s) read exactly once into raw.events (values as text, with file and line). "
        "New or changed files only: a file recorded with the same path and bytes is not read again, and a file no "
        "longer landed keeps its rows. A file whose bytes were already ingested under any name is recorded as "
        "duplicate_file; an unreadable file, or one dated outside the partitions, is recorded as failed with its "
        "reason and the others go through. The raw suite audits the batch before it is published."
    ),
    metadata=schemas.table_metadata("raw.events"),
    check_specs=[
        AssetCheckSpec(
            RAW_SUITE_CHECK,
            asset="raw_events",
            blocking=True,
            description="Raw suite per day of the batch: non-null keys, known event types, parseable values (DuckDB aggregates over every row; GX on a sample for columns and types, and on every row of a day that fails).",
        ),
        AssetCheckSpec(
            FILES_READABLE_CHECK,
            asset="raw_events",
            description="Every landed file of the partition could be read (duplicate files are fine).",
        ),
    ],
)
def raw_events(context: AssetExecutionContext, warehouse: Warehouse, shop: ShopHome, quality: Quality, engine: Engine):
    days = partition_days(context)
    run_days = set(days)
    valid_days = partition_bounds()
    landed = discover(shop.paths.landing)
    # the run's days, and every file dated outside the partitions (recorded as failed, with the reason)
    files = [f for f in landed if f.day in run_days or out_of_range_reason(f.day, valid_days)]
    thresholds = quality.thresholds()
    started = time.perf_counter()
    with warehouse.connection() as con:
        report = load_batch(
            con,
            files,
            days,
            now=dt.datetime.now(dt.UTC).replace(tzinfo=None),
            valid_days=valid_days,
            before_read=warm_up,
        )  # GX's import overlaps the read
        for failed in report.failed:
            if not failed.unchanged:
                context.log.error(f"file {failed.path} could not be ingested: {failed.error}")
        changed_days = [d for d in report.changed_days if d in run_days]
        validation_started = time.perf_counter()
        rows_per_day, failing = screen_raw(con, changed_days, thresholds)
        if rows_per_day:
            outcome = audit_screened(
                con,
                RAW_BATCH,
                changed_days,
                raw_events_suites(thresholds),
                thresholds["validation_batch_rows"],
                rows_per_day,
                failing,
                sample_query=RAW_SAMPLE,
            )
        else:  # nothing new to audit: GX is not even imported
            outcome = SuiteOutcome(suite=RAW_SUITE_NAME)
        validation_seconds = time.perf_counter() - validation_started
        files_table = pd.DataFrame(
            [
                (f.path, f.day, f.status, f.rows_read, f.duplicate_of, f.error, "unchanged" if f.unchanged else "read")
                for f in report.files
            ],
            columns=["path", "partition_date", "status", "rows_read", "duplicate_of", "error", "this_run"],
        )
        yield suite_check_result(RAW_SUITE_CHECK, outcome)
        yield AssetCheckResult(
            check_name=FILES_READABLE_CHECK,
            passed=not report.failed,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "failed_files": len(report.failed),
                "files": MetadataValue.md(markdown_table(files_table[files_table["status"] == "failed"])),
            },
        )
        if not outcome.success:
            raise Failure(
                description=f"raw_events_suite failed for {len(outcome.failures)} expectation(s); nothing was published",
                metadata={"result": MetadataValue.md(outcome.to_markdown())},
            )
        if report.changed:
            publish_batch(con, days)
            # Spark mode: the touched months to the lake (spark_mode/steps.py); DuckDB: nothing more
            ingestion_steps(engine, con).after_publish(changed_days)
        published = _rows_per_partition(con, days)
    seconds = time.perf_counter() - started
    context.log.info(f"step timing raw_events: seconds={seconds:.2f} validation_seconds={validation_seconds:.2f}")
    changed = set(changed_days)
    for key in context.partition_keys:
        month = set(month_days(key))
        in_month = [f for f in report.files if f.day in month]
        rows, rejected = published.get(key, (0, 0))
        context.add_asset_metadata(
            {
                "dagster/row_count": rows,
                "rejected_lines": rejected,
                "days_changed": len(changed & month),
                "files_read": len([f for f in in_month if not f.unchanged and f.status == "ingested"]),
                "files_unchanged": len([f for f in in_month if f.unchanged]),
                "files_ingested": len([f for f in in_month if f.status == "ingested"]),
                "files_duplicate": len([f for f in in_month if f.status == "duplicate_file"]),
                "files_failed": len([f for f in in_month if f.status == "failed"]),
                "files": MetadataValue.md(
                    markdown_table(files_table[files_table["partition_date"].isin(sorted(month))])
                ),
            },
            partition_key=key,
        )
    outside = files_table[~files_table["partition_date"].isin(days)]
    # what holds for the whole run (every partition's event shows it)
    yield MaterializeResult(
        metadata={
            "run_partitions": len(context.partition_keys),
            "run_seconds": round(seconds, 2),
            "run_validation_seconds": round(validation_seconds, 2),
            "run_files_outside_partitions": MetadataValue.md(markdown_table(outside)),
        }
    )


ROWS_PER_MONTH = """
SELECT CAST(date_trunc('month', partition_date) AS DATE) AS month, count(*) FROM raw.events
WHERE list_contains($days, partition_date) GROUP BY 1"""
REJECTED_PER_MONTH = """
SELECT CAST(date_trunc('month', partition_date) AS DATE) AS month, count(*) FROM raw.rejected_lines
WHERE list_contains($days, partition_date) GROUP BY 1"""


def _rows_per_partition(con, days) -> dict[str, tuple[int, int]]:
    """Per partition key of `days`: its rows in raw.events and in raw.rejected_lines."""
    rows = {partition_key(month): n for month, n in con.execute(ROWS_PER_MONTH, {"days": days}).fetchall()}
    rejected = {partition_key(month): n for month, n in con.execute(REJECTED_PER_MONTH, {"days": days}).fetchall()}
    return {key: (rows.get(key, 0), rejected.get(key, 0)) for key in rows.keys() | rejected.keys()}
