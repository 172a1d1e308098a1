"""The engine as the definitions see it: the `engine` resource's fields from the environment, the
DuckDB default left exactly as it was, and in Spark mode a pool per asset and steps in parallel."""

import json
import os
import subprocess
import sys

import pytest
from dagster import EnvVar, in_process_executor, multiprocess_executor

from shop_pipeline.definitions import defs
from shop_pipeline.defs.common import DUCKDB_POOL, asset_pool, run_executor
from shop_pipeline.engine.settings import (
    ENGINE_ENV,
    LAKE_ENV,
    PARALLEL_STEPS_ENV,
    SPARK_MASTER_ENV,
    SPARK_REMOTE_ENV,
)
from shop_pipeline.resources import Engine, default_resources
from shop_pipeline.settings import ShopPaths

ENGINE_VARIABLES = (ENGINE_ENV, LAKE_ENV, SPARK_MASTER_ENV, SPARK_REMOTE_ENV, PARALLEL_STEPS_ENV)


@pytest.fixture
def paths(tmp_path, monkeypatch):
    for name in ENGINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return ShopPaths.at(tmp_path / "shop")


def test_the_engine_resource_takes_its_fields_from_the_environment(paths, monkeypatch):
    engine = default_resources(paths)["engine"]
    assert (engine.kind, engine.lake, engine.spark_master, engine.spark_remote) == (
        "duckdb",
        (paths.home / "lake").as_uri(),
        None,
        None,
    )
    assert not engine.is_spark
    monkeypatch.setenv(ENGINE_ENV, "spark")
    monkeypatch.setenv(LAKE_ENV, "s3a://shop-lake/prod")
    monkeypatch.setenv(SPARK_MASTER_ENV, "spark://10.0.0.5:7077")
    monkeypatch.setenv(SPARK_REMOTE_ENV, "sc://spark.example.com:15002")
    engine = default_resources(paths)["engine"]
    # the UI shows the variables' names; their values are read when a run uses the resource
    assert (engine.kind, engine.lake, engine.spark_master, engine.spark_remote) == (
        EnvVar(ENGINE_ENV),
        EnvVar(LAKE_ENV),
        EnvVar(SPARK_MASTER_ENV),
        EnvVar(SPARK_REMOTE_ENV),
    )
    settings = engine.process_config_and_initialize().settings()
    assert (settings.kind, settings.lake, settings.spark_master, settings.spark_remote) == (
        "spark",
        "s3a://shop-lake/prod",
        "spark://10.0.0.5:7077",
        "sc://spark.example.com:15002",
    )
    assert settings.uses_connect
    # a wrong value fails when the resource is used, naming the variable
    with pytest.raises(ValueError, match="SHOP_PIPELINE_ENGINE='pandas' is not an engine"):
        Engine(kind="pandas").settings()
    with pytest.raises(RuntimeError, match="the engine is duckdb: there is no Spark session"):
        Engine().spark()


def test_the_training_sample_and_the_models_place_follow_the_engine(paths, monkeypatch):
    from shop_pipeline.resources import (
        MODELS_URI_ENV,
        SPARK_DEFAULT_SAMPLE_CUSTOMERS,
        TRAIN_SAMPLE_CUSTOMERS_ENV,
        TRAIN_SAMPLE_FRACTION_ENV,
    )

    for name in (MODELS_URI_ENV, TRAIN_SAMPLE_CUSTOMERS_ENV, TRAIN_SAMPLE_FRACTION_ENV):
        monkeypatch.delenv(name, raising=False)
    duckdb_engine = default_resources(paths)["engine"]
    assert not duckdb_engine.training_sample().bounded  # DuckDB: every customer, as before
    assert duckdb_engine.models_location(paths) == paths.models
    spark = Engine(kind="spark", lake="file:///lake")
    assert spark.training_sample().customers == SPARK_DEFAULT_SAMPLE_CUSTOMERS  # bounded on a cluster
    assert spark.models_location(paths) == "file:///lake/_models"  # storage every executor reads
    monkeypatch.setenv(TRAIN_SAMPLE_CUSTOMERS_ENV, "5000")
    monkeypatch.setenv(TRAIN_SAMPLE_FRACTION_ENV, "0.25")
    monkeypatch.setenv(MODELS_URI_ENV, "s3://models/shop")
    engine = default_resources(paths)["engine"]
    assert (engine.train_sample_customers, engine.models_uri) == (
        EnvVar.int(TRAIN_SAMPLE_CUSTOMERS_ENV),
        EnvVar(MODELS_URI_ENV),
    )
    used = engine.process_config_and_initialize()
    assert used.training_sample().settings() == {"sample_customers": 5000, "sample_fraction": 0.25}
    assert used.models_location(paths) == paths.models  # the duckdb engine keeps the home's folder
    spark_used = Engine(kind="spark", lake="file:///lake", models_uri="s3://models/shop/")
    assert spark_used.models_location(paths) == "s3://models/shop"
    with pytest.raises(ValueError, match="-1"):
        Engine(train_sample_customers=-1).training_sample()


def describe(resources: dict) -> dict:
    return {key: (type(value).__name__, value.model_dump()) for key, value in resources.items() if key != "engine"}


def test_the_engine_leaves_every_other_resource_as_it_was(paths, monkeypatch):
    before = describe(default_resources(paths))
    assert set(before) == {
        "warehouse",
        "shop",
        "quality",
        "modeling",
        "model_threads",
        "retraining",
        "alerting",
        "retention",
    }
    monkeypatch.setenv(ENGINE_ENV, "duckdb")
    assert describe(default_resources(paths)) == before
    monkeypatch.setenv(ENGINE_ENV, "spark")
    assert describe(default_resources(paths)) == before
    assert "engine" in defs.resources  # on the UI's resources page


def test_pools_and_executor_by_engine(monkeypatch):
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    monkeypatch.delenv(PARALLEL_STEPS_ENV, raising=False)
    assert asset_pool("clean_events") == asset_pool("customer_features", "duckdb") == DUCKDB_POOL == "duckdb"
    assert asset_pool("clean_events", "spark") == "spark/clean_events"
    assert run_executor() is in_process_executor
    assert run_executor("spark") is multiprocess_executor
    monkeypatch.setenv(PARALLEL_STEPS_ENV, "3")
    configured = run_executor("spark")
    assert configured.executor_creation_fn is multiprocess_executor.executor_creation_fn
    monkeypatch.setenv(ENGINE_ENV, "spark")
    assert asset_pool("clean_events") == "spark/clean_events"
    monkeypatch.setenv(ENGINE_ENV, "duckdb")
    # the default engine: every writing asset of the definitions is in the one duckdb pool
    graph = defs.resolve_asset_graph()
    pools = {assets_def.node_def.pool for assets_def in graph.assets_defs if assets_def.is_executable}
    assert pools == {"duckdb"}


SPARK_DEFINITIONS = """
import json
from shop_pipeline.definitions import defs
graph = defs.resolve_asset_graph()
pools = {}
for assets_def in graph.assets_defs:
    if assets_def.is_executable and assets_def.node_def.pool:
        pools[assets_def.node_def.name] = assets_def.node_def.pool
print(json.dumps({"pools": pools, "executor": defs.executor.name if defs.executor else None}))
"""


def test_in_spark_mode_every_writing_asset_has_its_own_pool_and_steps_run_in_parallel(tmp_path):
    env = {**os.environ, ENGINE_ENV: "spark", "SHOP_PIPELINE_HOME": str(tmp_path / "shop")}
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run(
        [sys.executable, "-c", SPARK_DEFINITIONS], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["executor"] == "multiprocess"
    pools = found["pools"]
    assert len(pools) >= 10
    # the retention purge writes the DuckDB file in either engine: it stays in that file's one pool
    assert {name: pool for name, pool in pools.items() if pool != f"spark/{name}"} == {"expired_events": "duckdb"}
