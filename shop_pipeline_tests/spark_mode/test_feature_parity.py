"""The feature assets give the same tables on both engines (issue 22, parity).

A tiny generated shop is ingested and staged into a DuckDB warehouse by the pipeline's own code; its
raw and staging tables are copied to a temporary lake (as test_sql_parity.py does). Then the four
feature assets are materialized through Dagster twice: with the engine `duckdb` (into the warehouse)
and with the engine `spark` (on the test cluster, onto the lake). Every feature table must be equal:
the same keys and row counts, other numbers within 1e-9 relative (engine/test_sql_parity.py's
comparison). A second Spark run with unchanged inputs keeps every table.
"""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, materialize

from shop_pipeline.defs.features import customer_features, interactions, order_features, product_daily_sales
from shop_pipeline.resources import Engine, default_resources
from shop_pipeline.settings import ShopPaths
from shop_pipeline.spark_mode.features import lake_summary_connection
from shop_pipeline.synth import GeneratorConfig
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.engine.test_sql_parity import assert_same_rows
from shop_pipeline_tests.spark_mode.lake_shop import FEATURE_KEYS as KEYS
from shop_pipeline_tests.spark_mode.lake_shop import staged_shop_on_lake

pytest.importorskip("pyspark")

ASSETS = [product_daily_sales, customer_features, interactions, order_features]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A staged shop's home (its warehouse) and a lake holding copies of its raw and staging tables."""
    lake = tmp_path_factory.mktemp("lake")
    paths = staged_shop_on_lake(tmp_path_factory.mktemp("shop"), lake, GeneratorConfig(events=3_000, days=40, seed=7))
    return paths, lake.as_uri()


def _materialize(paths: ShopPaths, engine: Engine):
    result = materialize(
        ASSETS, resources={**default_resources(paths), "engine": engine}, instance=DagsterInstance.ephemeral()
    )
    assert result.success
    return {
        event.asset_key.path[-1]: {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
    }


@pytest.fixture
def spark_engine(shop, spark, spark_cluster, monkeypatch):
    """The Engine resource in Spark mode on the test cluster: the same settings as the `spark` fixture's
    session, so Engine.spark() hands back that session."""
    monkeypatch.setenv("SHOP_PIPELINE_SPARK_UI", "0")
    monkeypatch.delenv("SHOP_PIPELINE_SPARK_SHUFFLE_PARTITIONS", raising=False)
    engine = Engine(kind="spark", lake=shop[1], spark_master=spark_cluster.master_url)
    assert engine.spark() is spark
    return engine


def test_feature_assets_are_equal_on_both_engines(shop, spark_engine):
    paths, lake = shop
    _materialize(paths, Engine())
    first = _materialize(paths, spark_engine)
    assert all(not meta["inputs_unchanged"] for meta in first.values())
    with connect(paths.warehouse, read_only=True) as warehouse, lake_summary_connection(lake, list(KEYS)) as on_lake:
        for table, keys in KEYS.items():
            duck = warehouse.execute(f"SELECT * FROM {table}").df()
            other = on_lake.execute(f"SELECT * FROM {table}").df()
            assert len(duck) > 20, table
            assert_same_rows(table, duck, other, keys)
    again = _materialize(paths, spark_engine)
    assert all(meta["inputs_unchanged"] for meta in again.values())
