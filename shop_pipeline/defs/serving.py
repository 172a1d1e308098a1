"""Stage `scoring`, last step: the serving snapshot the online API answers from (serving/snapshot.py)."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from shop_pipeline.defs import schemas
from shop_pipeline.defs.common import ML_TEAM, SCORE_FRESHNESS, asset_pool, follows_new_data
from shop_pipeline.ml.models import MODELS
from shop_pipeline.resources import Engine, ShopHome, Warehouse
from shop_pipeline.serving.lake_snapshot import publish_from_lake_if_changed
from shop_pipeline.serving.prediction_log import (
    ingest_prediction_logs,
    ingest_prediction_logs_to_lake,
    logged_answers,
)
from shop_pipeline.serving.snapshot import publish_if_changed, serving_root


@asset(
    group_name="scoring",
    kinds={"duckdb", "parquet"},
    owners=ML_TEAM,
    pool=asset_pool("serving_snapshot"),
    deps=[spec.score_asset for spec in MODELS],
    automation_condition=follows_new_data(),
    freshness_policy=SCORE_FRESHNESS,
    description=(
        "The serving snapshot: customer scores, recommendation lists, the fallback list for unknown customers, "
        "the champions, the order-risk and demand champions with what their online answers read, copied out of the "
        "warehouse (Spark mode: the lake) into <shop home>/serving/snapshots/<id>/ and made current with one atomic rename, so "
        "`shop-pipeline serve` never opens the warehouse and swaps to it without a restart."
    ),
)
def serving_snapshot(
    context: AssetExecutionContext, warehouse: Warehouse, shop: ShopHome, engine: Engine
) -> MaterializeResult:
    root = serving_root(shop.paths.home)
    # the one dispatch point: the tables and the registry are the warehouse's or the lake's
    if engine.is_spark:
        published = publish_from_lake_if_changed(engine.settings().lake, root, engine.models_location(shop.paths))
    else:
        with warehouse.connection() as con:
            published = publish_if_changed(con, root, models_dir=shop.paths.models)
    done = "kept (its inputs are unchanged)" if published.reused else "published"
    context.log.info(f"serving snapshot {published.snapshot_id} {done}: {published.rows}")
    return MaterializeResult(
        metadata={
            "snapshot_id": published.snapshot_id,
            "reused": published.reused,
            "path": MetadataValue.path(str(published.path)),
            "as_of": str(published.as_of),
            **{f"{name}_rows": rows for name, rows in published.rows.items()},
        }
    )


@asset(
    group_name="monitoring",
    kinds={"duckdb", "json"},
    owners=ML_TEAM,
    pool=asset_pool("online_predictions"),
    description=(
        "monitoring.online_predictions: every order-risk and demand answer `shop-pipeline serve` gave (request, "
        "response, model version, snapshot), read from the server's JSON Lines logs under <shop home>/serving/logs "
        "exactly once (by request id), so drift and later chargeback labels can be joined with what was served "
        "(Spark mode: the lake's monitoring/online_predictions table, swapped whole when a line was added)."
    ),
    metadata=schemas.table_metadata("monitoring.online_predictions"),
)
def online_predictions(warehouse: Warehouse, shop: ShopHome, engine: Engine) -> MaterializeResult:
    logs = serving_root(shop.paths.home) / "logs"
    # the one dispatch point: the table is the warehouse's or (Spark mode) the lake's
    if engine.is_spark:
        answers = ingest_prediction_logs_to_lake(engine.settings().lake, logs)
    else:
        with warehouse.connection() as con:
            answers = logged_answers(con, ingest_prediction_logs(con, logs))
    return MaterializeResult(
        metadata={
            "dagster/row_count": answers.total,
            "rows_added": answers.added,
            "first_logged_at": str(answers.first_logged_at),
            "last_logged_at": str(answers.last_logged_at),
            **{f"answers_{endpoint.replace('/', '_')}": n for endpoint, n in answers.by_endpoint.items()},
        }
    )
