"""Stage `ingestion`: landed files -> raw.events (exactly once), the catalog and marketing."""


import datetime as dt

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
    DUCKDB_POOL,
    daily_partitions,
    markdown_table,
    partition_days,
    single_run_backfill,
    suite_check_result,
)
from shop_pipeline.quality.suites import raw_events_suites
from shop_pipeline.quality.audit import RAW_BATCH, audit_days
from shop_pipeline.resources import Quality, ShopHome, Warehouse
from shop_pipeline.sources.landing import files_for_days
from shop_pipeline.warehouse.catalog import load_catalog, load_marketing
from shop_pipeline.warehouse.ingest import load_batch, publish_batch

RAW_SUITE_CHECK = "raw_events_suite"
FILES_READABLE_CHECK = "landed_files_readable"


@asset(
    group_name="ingestion",
    kinds={"duckdb", "csv"},
    owners=DATA_PLATFORM,
    pool=DUCKDB_POOL,
    description="Product catalog (landing/catalog/products.csv) replaced whole in raw.products.",
    metadata={"dagster/column_schema": schemas.PRODUCTS, "dagster/table_name": "raw.products"},
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
    pool=DUCKDB_POOL,
    description="Daily ad spend per category and product promotions (landing/marketing/) in raw.ad_spend and raw.promotions.",
    metadata={"dagster/table_name": "raw.ad_spend, raw.promotions"},
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
    kinds={"duckdb", "great_expectations"},
    owners=DATA_PLATFORM,
    pool=DUCKDB_POOL,
    partitions_def=daily_partitions,
    backfill_policy=single_run_backfill,
    description=(
        "Landed event files of the day(s) read exactly once into raw.events (values as text, with file and line). "
        "A file whose bytes were already ingested under any name is recorded as duplicate_file; an unreadable file is "
        "recorded as failed with its reason and the others go through. The raw suite audits the batch before it is published."
    ),
    metadata={"dagster/column_schema": schemas.RAW_EVENTS, "dagster/table_name": "raw.events"},
    check_specs=[
        AssetCheckSpec(
            RAW_SUITE_CHECK,
            asset="raw_events",
            blocking=True,
            description="GX suite on each daily batch: columns and types, known event types, non-null keys, parseable values.",
        ),
        AssetCheckSpec(
            FILES_READABLE_CHECK,
            asset="raw_events",
            description="Every landed file of the partition could be read (duplicate files are fine).",
        ),
    ],
)
def raw_events(context: AssetExecutionContext, warehouse: Warehouse, shop: ShopHome, quality: Quality):
    days = partition_days(context)
    files = files_for_days(shop.paths.landing, set(days))
    thresholds = quality.thresholds()
    with warehouse.connection() as con:
        report = load_batch(con, files, days, now=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
        for failed in report.failed:
            context.log.error(f"file {failed.path} could not be ingested: {failed.error}")
        outcome = audit_days(
            con, "batch_events", RAW_BATCH, days, raw_events_suites(thresholds), thresholds["validation_batch_rows"]
        )
        files_table = con.execute(
            "SELECT path, partition_date, status, rows_read, duplicate_of, error FROM batch_files ORDER BY partition_date, path"
        ).df()
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
        publish_batch(con, days)
        rows, rejected = con.execute(
            "SELECT (SELECT count(*) FROM batch_events), (SELECT count(*) FROM batch_rejects)"
        ).fetchall()[0]
    yield MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "days": f"{days[0]} .. {days[-1]}",
            "files_ingested": len(report.ingested),
            "files_duplicate": len(report.duplicates),
            "files_failed": len(report.failed),
            "rejected_lines": rejected,
            "files": MetadataValue.md(markdown_table(files_table)),
        }
    )
