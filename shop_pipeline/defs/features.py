"""Stage `features`: point-in-time feature tables in DuckDB, audited before they are committed: product-day
sales, customer features, the recommender's interactions and the order-risk model's order features."""

from collections.abc import Callable

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

from shop_pipeline import sql
from shop_pipeline.defs import schemas
from shop_pipeline.defs.common import ML_TEAM, asset_pool, follows_new_data, suite_check_result
from shop_pipeline.features.columns import cutoff_for
from shop_pipeline.features.interactions import write_interactions
from shop_pipeline.features.order_features import write_order_features
from shop_pipeline.features.staged_changes import query_fingerprint, record_inputs, unchanged_inputs
from shop_pipeline.features.tables import write_customer_features, write_product_daily_sales
from shop_pipeline.ml.common.html_report import markdown_table
from shop_pipeline.ml.common.lifecycle import inputs_key
from shop_pipeline.quality.feature_suites import validate_customer_features, validate_product_daily_sales
from shop_pipeline.quality.interactions_suite import validate_interactions
from shop_pipeline.quality.order_feature_suite import validate_order_features
from shop_pipeline.resources import Engine, Modeling, Quality, Warehouse
from shop_pipeline.spark_mode.features import LakeFeatureWrite, build_feature_on_lake, lake_summary_connection

# what a feature table's rows depend on besides the cut-off (the code of features/, sql/ and
# quality/ and the thresholds are part of the key too): unchanged, the audited table is kept
FEATURE_CODE = ("features", "sql", "quality")


def build_audited(
    con, build, validate, check_name: str, as_of, max_rows: int, table: str | None = None, key: str | None = None
):
    """Write inside a transaction, audit the rows written, commit only when the suite passes.

    Yields the suite's check result; raises (after rolling back, so the last good table stays)
    when it fails; returns the TableWrite. `key` (the inputs key of `table`) is recorded with
    the committed table.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        written = build(con, as_of, own_transaction=False)
        outcome = validate(con, as_of, max_rows=max_rows, written_keys=written.written_keys)
        if table is not None and outcome.success:
            record_inputs(con, table, key, written.rows)
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT" if outcome.success else "ROLLBACK")
    yield suite_check_result(check_name, outcome)
    if not outcome.success:
        raise Failure(description=f"{check_name} failed; the last good table stays")
    return written


def lake_write_results(check_name: str, write: LakeFeatureWrite):
    """The check result of a feature write on the lake; raises when its suite refused the rows (nothing
    was published, the last good table stays)."""
    if write.outcome is None:
        yield AssetCheckResult(
            check_name=check_name,
            passed=True,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "rows_validated": 0,
                "result": "inputs unchanged since the last audited build: the table is kept",
            },
        )
        return
    yield suite_check_result(check_name, write.outcome)
    if not write.published:
        raise Failure(description=f"{check_name} failed; the last good table stays")


def audited_feature_asset(
    *,
    name: str,
    deps: list[str],
    description: str,
    build,
    validate,
    check_description: str,
    summarize: Callable[..., dict],
    inputs: dict[str, str],
    queries: tuple[str, ...] = (),
):
    """An asset of group `features` writing features.<name> by its changes with
    build(con, as_of, own_transaction) -> TableWrite, audited by validate(con, as_of, max_rows,
    written_keys) in its blocking `<name>_suite` check before it is committed (build_audited);
    summarize(con, as_of) adds the metadata a reader wants to see. `inputs` are the tables the
    rows are computed from (table -> filter with $as_of, or ""), `queries` the sql/ files the
    build runs: when they (their text as loaded), the cut-off, the thresholds and the code are
    those of the last audited build, the table is kept as it is."""
    check_name = f"{name}_suite"
    table = f"features.{name}"

    @asset(
        name=name,
        group_name="features",
        kinds={"duckdb", "great_expectations"},
        owners=ML_TEAM,
        pool=asset_pool(name),
        deps=deps,
        description=description,
        metadata=schemas.table_metadata(table),
        check_specs=[AssetCheckSpec(check_name, asset=name, blocking=True, description=check_description)],
        automation_condition=follows_new_data(),
    )
    def feature_table(
        context: AssetExecutionContext, warehouse: Warehouse, modeling: Modeling, quality: Quality, engine: Engine
    ):
        # the one dispatch point: the warehouse (DuckDB) or the lake (Spark) computes the table
        if engine.is_spark:
            yield from on_lake(engine, modeling, quality)
        else:
            yield from on_warehouse(warehouse, modeling, quality)

    def on_warehouse(warehouse: Warehouse, modeling: Modeling, quality: Quality):
        with warehouse.connection() as con:
            as_of = modeling.resolve_as_of(con)
            thresholds = quality.thresholds()
            settings = {
                "table": table,
                "thresholds": thresholds,
                "queries": {name: query_fingerprint(sql.load(name)) for name in queries},
            }
            key, _ = inputs_key(con, tables=inputs, settings=settings, as_of=as_of, code=FEATURE_CODE)
            kept = unchanged_inputs(con, table, key)
            if kept is not None:
                yield AssetCheckResult(
                    check_name=check_name,
                    passed=True,
                    severity=AssetCheckSeverity.ERROR,
                    metadata={
                        "rows_validated": 0,
                        "result": "inputs unchanged since the last audited build: "
                        "the table is kept as that audit passed it",
                    },
                )
                rows, written, deleted, whole = kept, 0, 0, False
            else:
                write = yield from build_audited(
                    con, build, validate, check_name, as_of, thresholds["validation_batch_rows"], table=table, key=key
                )
                rows, written, deleted, whole = write.rows, write.written, write.deleted, write.whole_table
            summary = summarize(con, as_of)
        yield MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "as_of": as_of.isoformat(),
                "rows_written": written,
                "rows_deleted": deleted,
                "whole_table_written": whole,
                "inputs_unchanged": kept is not None,
                **summary,
            }
        )

    def on_lake(engine: Engine, modeling: Modeling, quality: Quality):
        lake = engine.settings().lake
        with lake_summary_connection(lake, ["staging.events"]) as con:
            as_of = modeling.resolve_as_of(con)
        thresholds = quality.thresholds()
        write = build_feature_on_lake(
            engine.spark(), lake, name, as_of, validate, thresholds["validation_batch_rows"], {"thresholds": thresholds}
        )
        yield from lake_write_results(check_name, write)
        with lake_summary_connection(lake, [table]) as con:
            summary = summarize(con, as_of)
        yield MaterializeResult(
            metadata={
                "dagster/row_count": write.rows,
                "as_of": as_of.isoformat(),
                "rows_written": write.written,
                "whole_table_written": write.whole_table,
                "months_written": ", ".join(write.months),
                "inputs_unchanged": write.outcome is None,
                **summary,
            }
        )

    return feature_table


def _product_daily_sales_summary(con, as_of) -> dict:
    products, first, last, units = con.execute(
        "SELECT count(DISTINCT product_id), min(day), max(day), sum(units) FROM features.product_daily_sales"
    ).fetchall()[0]
    return {"products": products, "days": f"{first} .. {last}", "units": float(units or 0)}


def _customer_features_summary(con, as_of) -> dict:
    summary = con.execute(
        """SELECT count(*) FILTER (WHERE frequency > 0) AS buyers, round(avg(recency_days), 1) AS mean_recency_days,
                  round(avg(frequency), 2) AS mean_orders, round(avg(monetary), 2) AS mean_spend
           FROM features.customer_features"""
    ).df()
    return {"cutoff": cutoff_for(as_of).isoformat(), "summary": MetadataValue.md(markdown_table(summary))}


product_daily_sales = audited_feature_asset(
    name="product_daily_sales",
    deps=["clean_events", "raw_products", "raw_marketing"],
    description=(
        "features.product_daily_sales: per product and day up to the cut-off (as_of), a complete grid with zeros: "
        "units, revenue, views, carts, purchases, conversion, prices and discount vs a 28-day reference, promotion, "
        "category ad spend, calendar, lags and rolling means over earlier days only."
    ),
    build=write_product_daily_sales,
    validate=validate_product_daily_sales,
    check_description="GX: keys not null, counts >= 0, conversion in [0, 1], complete grid, no day after as_of.",
    summarize=_product_daily_sales_summary,
    inputs={"staging.events": "", "raw.products": "", "raw.promotions": "", "raw.ad_spend": ""},
    queries=("product_daily_sales",),
)

customer_features = audited_feature_asset(
    name="customer_features",
    deps=["clean_events"],
    description=(
        "features.customer_features: per customer as of the cut-off: recency, frequency, monetary value, tenure, "
        "sessions, view/cart/purchase counts and ratios, category diversity, days since last view and cart, "
        "inter-purchase time, recent orders and spend."
    ),
    build=write_customer_features,
    validate=validate_customer_features,
    check_description="GX: no nulls where not allowed, ranges, and the leakage rule (no event at or after the cut-off).",
    summarize=_customer_features_summary,
    inputs={"staging.events": ""},
    queries=("customer_features",),
)


def _interactions_summary(con, as_of) -> dict:
    customers, products, purchases_only = con.execute(
        """SELECT count(DISTINCT customer_id), count(DISTINCT product_id),
                  coalesce(sum(views) + sum(carts), 0) = 0 FROM features.interactions"""
    ).fetchall()[0]
    return {"customers": customers, "products": products, "purchases_only": bool(purchases_only)}


interactions = audited_feature_asset(
    name="interactions",
    deps=["clean_events", "raw_products"],
    description=(
        "features.interactions: one row per customer and product as of the cut-off: views, carts, purchases, "
        "orders, and a weighted implicit signal (view 1, cart 3, purchase 5, halved every 30 days before the "
        "cut-off); products missing from a non-empty catalog are kept for similarity but never recommended."
    ),
    build=write_interactions,
    validate=validate_interactions,
    check_description="GX: keys not null and unique, counts >= 0, weight > 0, no interaction at or after the cut-off.",
    summarize=_interactions_summary,
    inputs={"staging.events": "", "raw.products": ""},
    queries=("interactions",),
)


def _order_features_summary(con, as_of) -> dict:
    customers, first, last, amount = con.execute(
        "SELECT count(DISTINCT customer_id), min(order_day), max(order_day), sum(amount) FROM features.order_features"
    ).fetchall()[0]
    return {"customers": customers, "days": f"{first} .. {last}", "amount": float(amount or 0)}


order_features = audited_feature_asset(
    name="order_features",
    deps=["clean_events"],
    description=(
        "features.order_features: one row per order before the cut-off, each measured only on what was known at "
        "that order: amount vs the customer's earlier orders (ratio, z-score), orders in the last hour / day, "
        "account age, cart-to-purchase time, session activity, unusual hour, first time in a category, basket shape."
    ),
    build=write_order_features,
    validate=validate_order_features,
    check_description="GX: keys not null and unique, counts >= 0, shares in [0, 1], no order at or after the cut-off.",
    summarize=_order_features_summary,
    inputs={"staging.events": ""},
    queries=("order_features",),
)
