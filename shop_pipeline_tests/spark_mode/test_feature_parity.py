"""The feature assets give the same tables on both engines (issue 22, parity).

A tiny generated shop is ingested and staged into a DuckDB warehouse by the pipeline's own code; its
raw and staging tables are copied to a temporary lake (as test_sql_parity.py does). Then the four
feature assets are materialized through Dagster twice: with the engine `duckdb` (into the warehouse)
and with the engine `spark` (on the test cluster, onto the lake). Every feature table must be equal:
the same keys and row counts, other numbers within 1e-9 relative (engine/test_sql_parity.py's
comparison). A second Spark run with unchanged inputs keeps every table.

On those same feature tables (one shop build for the module), the models are trained on both
engines with the same sample of customers: propensity (its BG/NBD and Gamma-Gamma fitted on the
counts each engine aggregated) and recommendation, gated and scored, and the serving snapshot
published (DuckDB: from the warehouse and its registry; Spark: from the lake, with the registry and
the artifacts on the lake). The held-out metrics of every candidate are equal, and the API answers
a fixed set of requests the same from both snapshots.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

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


def _materialize(paths: ShopPaths, engine: Engine, assets=ASSETS, *, gated: bool = False, **resources):
    """Materialize `assets`; `gated`: a promotion gate may refuse (a tiny shop's model need not beat its
    baselines), then the scores behind it are skipped, and the run is not a success."""
    result = materialize(
        assets,
        resources={**default_resources(paths), "engine": engine, **resources},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=not gated,
    )
    assert result.success or gated
    return {
        event.asset_key.path[-1]: {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}
        for event in result.get_asset_materialization_events()
    }


@pytest.fixture(scope="module")
def spark_settings(spark):
    """The variables the Engine resource reads for its session: those of the `spark` fixture's session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHOP_PIPELINE_SPARK_UI", "0")
        patch.delenv("SHOP_PIPELINE_SPARK_SHUFFLE_PARTITIONS", raising=False)
        yield patch


def spark_engine_for(shop, spark, spark_cluster, **fields) -> Engine:
    """The Engine resource in Spark mode on the test cluster: the same settings as the `spark` fixture's
    session, so Engine.spark() hands back that session."""
    engine = Engine(kind="spark", lake=shop[1], spark_master=spark_cluster.master_url, **fields)
    assert engine.spark() is spark
    return engine


@pytest.fixture(scope="module")
def features_on_both(shop, spark, spark_cluster, spark_settings):
    """The four feature assets materialized with each engine (DuckDB, then Spark): their metadata."""
    paths, _ = shop
    duck = _materialize(paths, Engine())
    first = _materialize(paths, spark_engine_for(shop, spark, spark_cluster))
    return duck, first


def test_feature_assets_are_equal_on_both_engines(shop, features_on_both, spark, spark_cluster):
    paths, lake = shop
    spark_engine = spark_engine_for(shop, spark, spark_cluster)
    _, first = features_on_both
    assert all(not meta["inputs_unchanged"] for meta in first.values())
    with connect(paths.warehouse, read_only=True) as warehouse, lake_summary_connection(lake, list(KEYS)) as on_lake:
        for table, keys in KEYS.items():
            duck = warehouse.execute(f"SELECT * FROM {table}").df()
            other = on_lake.execute(f"SELECT * FROM {table}").df()
            assert len(duck) > 20, table
            assert_same_rows(table, duck, other, keys)
    again = _materialize(paths, spark_engine)
    assert all(meta["inputs_unchanged"] for meta in again.values())


# ------------------------------------------------------------------------------------- the models

TRAINED = ("propensity", "recommendation")
SAMPLE_CUSTOMERS = 120  # fewer than the shop's customers: the sample really leaves some out
VOLATILE = {"model_version", "version", "snapshot_id", "published_at", "trained_at", "promoted_at", "as_of_version"}


def _model_assets():
    from shop_pipeline.defs.models import MODEL_ASSETS
    from shop_pipeline.defs.serving import serving_snapshot
    from shop_pipeline.ml.models import model

    wanted = {
        name for spec in map(model, TRAINED) for name in (spec.training_asset, spec.champion_asset, spec.score_asset)
    }
    return [a for a in MODEL_ASSETS if a.key.path[-1] in wanted], [serving_snapshot]


def _without_versions(value):
    if isinstance(value, dict):
        return {k: _without_versions(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_without_versions(v) for v in value]
    return value


def _answers(paths: ShopPaths, customers: list[str], log_folder) -> dict:
    """What the API answers from the shop's current serving snapshot, versions and ids left out."""
    from shop_pipeline.serving.prediction_log import PredictionLog
    from shop_pipeline.serving.snapshot import serving_root
    from shop_pipeline_tests.serving.helpers import app_client

    answers = {}
    with app_client(serving_root(paths.home), prediction_log=PredictionLog(log_folder)) as client:
        for customer in customers:
            for what in ("scores", "recommendations?k=5"):
                response = client.get(f"/v1/customers/{customer}/{what}")
                answers[(customer, what)] = (response.status_code, _without_versions(response.json()))
    return answers


def _metrics(con) -> dict:
    """model -> (its latest version's candidate -> metric -> value, whether it is champion)."""
    from shop_pipeline.ml.common import registry

    out = {}
    for name in TRAINED:
        latest = registry.latest_trained(con, name)
        assert latest is not None, f"{name}: nothing trained"
        out[name] = (registry.evaluations(con, name, latest.version), latest.is_champion)
    return out


# a few Spark jobs on the test cluster (the threshold, the sampled rows, the counts), seconds on an idle
# machine; the timeout leaves room for a loaded one and the module's cluster and shop set-up
@pytest.mark.timeout(1500)
def test_the_same_sample_trains_the_same_propensity_model_on_both_engines(shop, spark, spark_cluster, spark_settings):
    """The default suite's guard: the training sessions of both engines (the same shop's warehouse and
    lake) hold the same sampled rows and counts, and propensity trains the same model on them."""
    from shop_pipeline.features.tables import default_as_of
    from shop_pipeline.ml.common.training_data import (
        TrainingSample,
        add_counts,
        sampled_tables,
        session_counts,
        warehouse_session,
    )
    from shop_pipeline.ml.models import model
    from shop_pipeline.ml.propensity.counts import duckdb_counts
    from shop_pipeline.resources import Modeling
    from shop_pipeline.spark_mode.training import lake_training_session

    paths, lake = shop
    spec, sample = model("propensity"), TrainingSample(customers=SAMPLE_CUSTOMERS)
    with connect(paths.warehouse, read_only=True) as con:
        as_of = default_as_of(con)
        customers = con.execute("SELECT count(DISTINCT user_id) FROM staging.events").fetchone()[0]
        duck, _ = warehouse_session(con, sampled_tables(spec), sample)
    assert customers > SAMPLE_CUSTOMERS  # the sample leaves customers out
    add_counts(duck, duckdb_counts(duck, as_of))
    on_lake, fingerprints = lake_training_session(spark, lake, spec, sample, as_of)
    assert fingerprints is None  # sampled rows, fingerprinted by their content
    with duck, on_lake:
        query = "SELECT * FROM staging.events ORDER BY event_id"
        assert_same_rows("staging.events", duck.execute(query).df(), on_lake.execute(query).df(), ["event_id"])
        kept = duck.execute("SELECT count(DISTINCT user_id) FROM staging.events").fetchone()[0]
        assert kept == SAMPLE_CUSTOMERS
        duck_counts, lake_counts = session_counts(duck), session_counts(on_lake)
        assert len(lake_counts) > 50
        assert_same_rows("counts", duck_counts, lake_counts, ["customer_id"])
        settings = Modeling(propensity_horizon_days=7)
        on_duckdb, on_spark = spec.train(duck, as_of, settings), spec.train(on_lake, as_of, settings)
    assert on_spark.serving_candidate == on_duckdb.serving_candidate
    assert on_spark.metrics.keys() == on_duckdb.metrics.keys() and len(on_duckdb.metrics) >= 3
    for candidate, values in on_duckdb.metrics.items():
        for metric, value in values.items():
            assert on_spark.metrics[candidate][metric] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), (
                candidate,
                metric,
            )


@pytest.mark.slow
@pytest.mark.timeout(2400)  # the feature tables on both engines, then two models trained, scored and served on each
def test_models_trained_on_the_same_sample_are_equal_on_both_engines(
    shop, features_on_both, spark, spark_cluster, tmp_path
):
    from shop_pipeline.ml.common import registry
    from shop_pipeline.resources import Modeling
    from shop_pipeline.spark_mode.lake_registry import lake_registry

    paths, lake = shop
    modeling = Modeling(propensity_horizon_days=7)
    with connect(paths.warehouse, read_only=True) as con:
        customers = [
            r[0] for r in con.execute("SELECT customer_id FROM features.customer_features ORDER BY 1").fetchall()
        ]
    assert len(customers) > SAMPLE_CUSTOMERS
    asked = [*customers[:15], "nobody-like-this"]
    models, serving = _model_assets()
    duckdb_engine = Engine(train_sample_customers=SAMPLE_CUSTOMERS)
    duck = _materialize(paths, duckdb_engine, models, gated=True, modeling=modeling)
    # the snapshot on its own: published whatever the gates decided (a refused model has no scores)
    _materialize(paths, duckdb_engine, serving)
    duck_answers = _answers(paths, asked, tmp_path / "duck-logs")
    spark_engine = spark_engine_for(shop, spark, spark_cluster, train_sample_customers=SAMPLE_CUSTOMERS)
    on_spark = _materialize(paths, spark_engine, models, gated=True, modeling=modeling)
    _materialize(paths, spark_engine, serving)  # exported from the lake and the lake's registry
    spark_answers = _answers(paths, asked, tmp_path / "spark-logs")

    for name in TRAINED:
        training = f"{name}_model"
        assert not duck[training]["reused_version"] and not on_spark[training]["reused_version"]
        assert duck[training]["training_sample"] == on_spark[training]["training_sample"]
        assert str(SAMPLE_CUSTOMERS) in duck[training]["training_sample"]
    assert duck.keys() == on_spark.keys()  # the same assets materialized (the gates decided alike)
    for scores in ("customer_scores", "recommendations"):  # row by row, or by the model's own plan
        if scores in on_spark:
            assert on_spark[scores]["scored_on_executors"], scores

    with connect(paths.warehouse, read_only=True) as con:
        duck_metrics = _metrics(con)
    with lake_registry(lake) as con:  # the Spark run's registry is on the lake, not in the warehouse
        spark_metrics = _metrics(con)
        artifact = registry.latest_trained(con, "propensity").artifact_path
    # the artifact is on the lake's models folder, which every executor reads
    assert (Path(urllib.parse.urlparse(lake).path) / "_models" / artifact).is_file()
    assert duck_metrics.keys() == spark_metrics.keys()
    for name, (candidates, champion) in duck_metrics.items():
        assert champion == spark_metrics[name][1], name  # promoted on both engines, or on neither
        spark_candidates = spark_metrics[name][0]
        assert candidates.keys() == spark_candidates.keys(), name
        for candidate, values in candidates.items():
            for metric, value in values.items():
                other = spark_candidates[candidate][metric]
                if value is None:
                    assert other is None, (name, candidate, metric)
                else:
                    assert other == pytest.approx(value, rel=1e-9, abs=1e-12), (name, candidate, metric)

    assert duck_answers.keys() == spark_answers.keys()
    assert sum(status == 200 for status, _ in duck_answers.values()) >= len(asked)  # every list at least
    assert duck_answers == spark_answers
