"""The one Definitions object, assembled from defs/."""

import os

# One ASSET_MATERIALIZATION_PLANNED event per asset for a partition range, instead of one per
# asset per day: without it a run over 546 days spent 11 minutes writing planned events before
# its first step. Read by the process that creates the run (this one for in-process runs; the
# CLI's `ui` sets it for the webserver and daemon). Dagster's trade-off: a failed range run
# does not mark each of its partitions as failed (the run itself shows the failure).
os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from shop_pipeline.defs import (
    automation,
    features,
    forecast,
    ingestion,
    monitoring,
    propensity,
    recommend,
    risk,
    serving,
    staging,
)
from shop_pipeline.defs.run_logs import RUN_LOGGERS
from shop_pipeline.resources import default_resources
from shop_pipeline.settings import ShopPaths

ASSETS = [
    ingestion.raw_products,
    ingestion.raw_marketing,
    ingestion.raw_events,
    staging.staged_events,
    features.product_daily_sales,
    features.customer_features,
    propensity.propensity_model,
    propensity.propensity_champion,
    propensity.customer_scores,
    forecast.demand_forecast_model,
    forecast.demand_forecast_champion,
    forecast.demand_forecasts,
    *risk.RISK_ASSETS,
    *recommend.RECOMMEND_ASSETS,
    serving.serving_snapshot,
    serving.online_predictions,
    # automation: drift and the facts the retraining sensor reads
    monitoring.feature_drift,
]

# Every asset the shop needs, over any partition range in one run.
full_pipeline = define_asset_job(
    "full_pipeline",
    selection=AssetSelection.all(),
    description="Ingest, stage and validate the selected partitions (a range runs as one run).",
)


def build_definitions(paths: ShopPaths | None = None) -> Definitions:
    return Definitions(
        assets=ASSETS,
        jobs=[full_pipeline, *automation.JOBS],
        schedules=automation.schedules(),
        sensors=automation.SENSORS,
        resources=default_resources(paths),
        loggers=RUN_LOGGERS,
        # DuckDB allows one writer: steps run in the run's own process, one at a time.
        executor=in_process_executor,
    )


defs = build_definitions()
