"""Automation end to end on a small generated shop: a file lands -> the landing sensor's run ingests it ->
the automation conditions bring the features, drift and scores (with the champions) -> the retraining
trigger fires -> the retraining run promotes or refuses as the gate says."""

import datetime as dt
import os
import shutil
import time

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context, evaluate_automation_conditions

from shop_pipeline.definitions import build_definitions
from shop_pipeline.defs.automation import (
    RETRAIN_TRIGGERS_TAG,
    landing_sensor,
    retrain_sensor,
)
from shop_pipeline.defs.monitoring import FACTS_KEY
from shop_pipeline.features.columns import PRODUCT_DAILY_SALES_TABLE
from shop_pipeline.features.interactions import INTERACTIONS_TABLE, write_interactions
from shop_pipeline.features.order_features import ORDER_FEATURES_TABLE, write_order_features
from shop_pipeline.features.tables import write_product_daily_sales
from shop_pipeline.pipeline_run import modeling_run_config, run_full_pipeline
from shop_pipeline.resources import MIN_NEW_EVENTS_ENV, ShopHome
from shop_pipeline.settings import SETTLE_SECONDS_ENV, ShopPaths
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.defs.helpers import apply_partition_requests, requested, run_requested

DAYS = 42
LAST_DAY = "2025-02-11"  # day 42 of a shop starting 2025-01-01
CONFIG = modeling_run_config(forecast_horizon_days=7, propensity_horizon_days=14)


def with_margin(margin: float) -> dict:
    return {
        "resources": {"modeling": {"config": {**CONFIG["resources"]["modeling"]["config"], "min_improvement": margin}}}
    }


def rows(paths, sql):
    with connect(paths.warehouse) as con:
        return con.execute(sql).fetchall()


def champions(paths) -> dict[str, str]:
    return dict(rows(paths, "SELECT model_name, version FROM ml.model_registry WHERE is_champion"))


def assert_features_equal_a_whole_rebuild(paths, as_of: dt.date) -> None:
    fresh = paths.home / "rebuilt.duckdb"
    shutil.copy(paths.warehouse, fresh)
    tables = {
        PRODUCT_DAILY_SALES_TABLE: (write_product_daily_sales, ["product_id", "day"]),
        INTERACTIONS_TABLE: (write_interactions, ["customer_id", "product_id"]),
        ORDER_FEATURES_TABLE: (write_order_features, ["customer_id", "order_id"]),
    }
    with connect(paths.warehouse) as daily, connect(fresh) as rebuilt:
        for table, (write, keys) in tables.items():
            rebuilt.execute(f"DROP TABLE {table}")
            assert write(rebuilt, as_of).whole_table
            got, want = (
                con.execute(f"SELECT * FROM {table}").df().sort_values(keys).reset_index(drop=True)
                for con in (daily, rebuilt)
            )
            pd.testing.assert_frame_equal(got, want, obj=table)


@pytest.fixture(scope="module")
def loaded_shop(tmp_path_factory):
    """Every day but the last loaded and trained, as `shop-pipeline run` does; the last day held back."""
    paths = ShopPaths.at(tmp_path_factory.mktemp("automation-shop")).ensure()
    generate_shop(paths.home, GeneratorConfig(events=12_000, days=DAYS, seed=5))
    held = paths.home / "held"
    held.mkdir()
    for f in paths.events_landing.glob(f"*{LAST_DAY}*"):
        shutil.move(str(f), held / f.name)
    instance = DagsterInstance.ephemeral()
    outcome = run_full_pipeline(paths, instance, CONFIG)
    assert outcome.success, outcome.error
    return paths, instance, held


def test_a_landed_file_is_scored_and_the_retraining_run_follows_the_gate(loaded_shop, monkeypatch):
    paths, instance, held = loaded_shop
    monkeypatch.setenv(SETTLE_SECONDS_ENV, "30")
    monkeypatch.setenv(MIN_NEW_EVENTS_ENV, "1")
    definitions = build_definitions(paths)
    retraining = {"retraining": definitions.resources["retraining"]}  # min_new_events from its variable
    before = champions(paths)
    assert {"demand_forecast", "propensity"} <= set(before)
    # trained up to the last loaded day: nothing to retrain on
    assert (
        "already covers the latest data"
        in retrain_sensor(build_sensor_context(instance=instance, resources=retraining)).skip_message
    )

    # what the automation sensor has seen so far (a first evaluation requests nothing)
    watching = evaluate_automation_conditions(defs=definitions, instance=instance)
    assert watching.total_requested == 0

    # the last day's file lands (fully written 40 s ago); the sensor launches only that day
    for f in held.iterdir():
        target = shutil.copy(f, paths.events_landing / f.name)
        os.utime(target, (time.time() - 40, time.time() - 40))
    tick = apply_partition_requests(
        instance,
        landing_sensor(build_sensor_context(instance=instance, resources={"shop": ShopHome(home=str(paths.home))})),
    )
    [request] = tick.run_requests
    assert request.partition_key == "2025-02-01"  # the month of LAST_DAY: only its new file is read
    assert tick.dynamic_partitions_requests == []  # February has files already: it is a partition
    ingested = definitions.resolve_job_def("ingest_events").execute_in_process(
        partition_key=request.partition_key, tags=request.tags, run_config=CONFIG, instance=instance
    )
    assert ingested.success
    # the automation sensor's next tick: the features, drift, scores and snapshot follow (no training)
    following = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=watching.cursor)
    assert requested(definitions, following) == {
        "product_daily_sales",
        "customer_features",
        "interactions",
        "order_features",
        "feature_drift",
        "demand_forecasts",
        "customer_scores",
        "recommendations",
        "order_risk_scores",
        "serving_snapshot",
    }
    daily = run_requested(definitions, instance, following, run_config=CONFIG)
    assert daily.success
    assert rows(paths, "SELECT DISTINCT as_of::VARCHAR, model_version FROM scoring.customer_scores") == [
        (LAST_DAY, before["propensity"])
    ]
    # the daily run wrote the feature tables' changes, scored only the new orders, and left every
    # table as a whole rebuild as of that day would
    for asset in ("product_daily_sales", "interactions", "order_features"):
        metadata = instance.get_latest_materialization_event(AssetKey(asset)).asset_materialization.metadata
        assert 0 < metadata["rows_written"].value < metadata["dagster/row_count"].value / 2, asset
    risk = instance.get_latest_materialization_event(AssetKey("order_risk_scores")).asset_materialization.metadata
    assert 0 < risk["orders_scored_anew"].value < risk["dagster/row_count"].value / 2
    assert_features_equal_a_whole_rebuild(paths, dt.date.fromisoformat(LAST_DAY))

    # new clean events after the champions' window: the trigger fires and says why
    fired = retrain_sensor(build_sensor_context(instance=instance, resources=retraining))
    [retrain] = fired.run_requests
    # (on this small shop the order-risk gate finds nothing measurable, so it also has no champion)
    assert "new_data" in retrain.tags[RETRAIN_TRIGGERS_TAG].split(",")
    retrain_job = definitions.resolve_job_def("retrain_models")

    # a gate no challenger can pass (a 1000% margin): refused, the champions stay and keep scoring.
    refused = retrain_job.execute_in_process(tags=retrain.tags, run_config=with_margin(10.0), instance=instance)
    assert refused.success
    for asset in ("demand_forecast_champion", "propensity_champion", "order_risk_champion"):
        gate = instance.get_latest_materialization_event(AssetKey(asset)).asset_materialization.metadata
        assert gate["promoted"].value is False
    assert champions(paths) == before
    assert rows(paths, "SELECT DISTINCT model_version FROM scoring.customer_scores") == [(before["propensity"],)]
    # the refused attempt saw the new day: no loop of retraining on the same data
    facts = instance.get_latest_materialization_event(AssetKey("feature_drift")).asset_materialization.metadata
    assert {m["latest_as_of"] for m in facts[FACTS_KEY].value["models"]} == {LAST_DAY}
    assert (
        "already covers the latest data"
        in retrain_sensor(
            build_sensor_context(instance=instance, cursor=fired.cursor, resources=retraining)
        ).skip_message
    )

    # the usual margin: whatever each gate decides is what the registry and the scores then show
    # (on this shop, seed 5: the new forecast version is promoted, the propensity one refused)
    decided = retrain_job.execute_in_process(tags=retrain.tags, run_config=CONFIG, instance=instance)
    assert decided.success
    after = champions(paths)
    for model, asset, table in (
        ("demand_forecast", "demand_forecast_champion", "scoring.demand_forecasts"),
        ("propensity", "propensity_champion", "scoring.customer_scores"),
    ):
        gate = instance.get_latest_materialization_event(AssetKey(asset)).asset_materialization.metadata
        version = gate["model_version"].value
        assert after[model] == (version if gate["promoted"].value else before[model])
        assert rows(paths, f"SELECT DISTINCT model_version FROM {table}") == [(after[model],)]
