"""Stage `features`: point-in-time feature tables in DuckDB, audited before they are committed."""

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from shop_pipeline.defs.common import DUCKDB_POOL, markdown_table, suite_check_result, table_schema
from shop_pipeline.features.columns import CUSTOMER_FEATURES, PRODUCT_DAILY_SALES
from shop_pipeline.features.tables import build_customer_features, build_product_daily_sales, cutoff_for
from shop_pipeline.quality.feature_suites import validate_customer_features, validate_product_daily_sales
from shop_pipeline.resources import ModelingWindow, Quality, Warehouse

ML_TEAM = ["team:ml"]
PRODUCT_SUITE_CHECK = "product_daily_sales_suite"
CUSTOMER_SUITE_CHECK = "customer_features_suite"


def _schema(columns):
    return table_schema([(name, "", "") for name in columns])


def build_audited(con, build, validate, check_name: str, as_of, max_rows: int):
    """Build inside a transaction, audit the new rows, commit only when the suite passes.

    Yields the suite's check result; raises (after rolling back, so the last good table stays)
    when it fails; returns the new row count.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        rows = build(con, as_of, own_transaction=False)
        outcome = validate(con, as_of, max_rows=max_rows)
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT" if outcome.success else "ROLLBACK")
    yield suite_check_result(check_name, outcome)
    if not outcome.success:
        raise Failure(description=f"{check_name} failed; the last good table stays")
    return rows


@asset(
    group_name="features",
    kinds={"duckdb", "great_expectations"},
    owners=ML_TEAM,
    pool=DUCKDB_POOL,
    deps=["clean_events", "raw_products", "raw_marketing"],
    description=(
        "features.product_daily_sales: per product and day up to the cut-off (as_of), a complete grid with zeros: "
        "units, revenue, views, carts, purchases, conversion, prices and discount vs a 28-day reference, promotion, "
        "category ad spend, calendar, lags and rolling means over earlier days only."
    ),
    metadata={"dagster/column_schema": _schema(PRODUCT_DAILY_SALES), "dagster/table_name": "features.product_daily_sales"},
    check_specs=[
        AssetCheckSpec(
            PRODUCT_SUITE_CHECK,
            asset="product_daily_sales",
            blocking=True,
            description="GX: keys not null, counts >= 0, conversion in [0, 1], complete grid, no day after as_of.",
        )
    ],
)
def product_daily_sales(context: AssetExecutionContext, warehouse: Warehouse, window: ModelingWindow, quality: Quality):
    with warehouse.connection() as con:
        as_of = window.resolve_as_of(con)
        rows = yield from build_audited(
            con, build_product_daily_sales, validate_product_daily_sales, PRODUCT_SUITE_CHECK, as_of, quality.thresholds()["validation_batch_rows"]
        )
        products, first, last, units = con.execute(
            "SELECT count(DISTINCT product_id), min(day), max(day), sum(units) FROM features.product_daily_sales"
        ).fetchall()[0]
    yield MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "as_of": as_of.isoformat(),
            "products": products,
            "days": f"{first} .. {last}",
            "units": float(units or 0),
        }
    )


@asset(
    group_name="features",
    kinds={"duckdb", "great_expectations"},
    owners=ML_TEAM,
    pool=DUCKDB_POOL,
    deps=["clean_events"],
    description=(
        "features.customer_features: per customer as of the cut-off: recency, frequency, monetary value, tenure, "
        "sessions, view/cart/purchase counts and ratios, category diversity, days since last view and cart, "
        "inter-purchase time, recent orders and spend."
    ),
    metadata={"dagster/column_schema": _schema(CUSTOMER_FEATURES), "dagster/table_name": "features.customer_features"},
    check_specs=[
        AssetCheckSpec(
            CUSTOMER_SUITE_CHECK,
            asset="customer_features",
            blocking=True,
            description="GX: no nulls where not allowed, ranges, and the leakage rule (no event at or after the cut-off).",
        )
    ],
)
def customer_features(context: AssetExecutionContext, warehouse: Warehouse, window: ModelingWindow, quality: Quality):
    with warehouse.connection() as con:
        as_of = window.resolve_as_of(con)
        rows = yield from build_audited(
            con, build_customer_features, validate_customer_features, CUSTOMER_SUITE_CHECK, as_of, quality.thresholds()["validation_batch_rows"]
        )
        summary = con.execute(
            """SELECT count(*) FILTER (WHERE frequency > 0) AS buyers, round(avg(recency_days), 1) AS mean_recency_days,
                      round(avg(frequency), 2) AS mean_orders, round(avg(monetary), 2) AS mean_spend
               FROM features.customer_features"""
        ).df()
    yield MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "as_of": as_of.isoformat(),
            "cutoff": cutoff_for(as_of).isoformat(),
            "summary": MetadataValue.md(markdown_table(summary)),
        }
    )
