"""The model stages end to end through Dagster on a small generated shop.

The shop after its first full run is the session's shared one (shop_pipeline_tests/pipeline_shop.py: a
7-day forecast, a 14-day propensity horizon); each test reads or changes its own copy of it.
"""

import datetime as dt

import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

from shop_pipeline.definitions import ASSETS, build_definitions
from shop_pipeline.defs.common import add_partitions, partition_key
from shop_pipeline.ml.common import registry
from shop_pipeline.pipeline_run import RANGE_END_TAG, RANGE_START_TAG, modeling_run_config, run_full_pipeline
from shop_pipeline.resources import default_resources
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.pipeline_shop import CONFIG, RUN_CONFIG
from shop_pipeline_tests.pipeline_shop import FORECAST_HORIZON_DAYS as HORIZON

AS_OF_TARGETS = (
    AssetSelection.assets("demand_forecasts", "customer_features").upstream().required_multi_asset_neighbors()
)


@pytest.fixture(scope="module")
def trained_shop(pipeline_shop, tmp_path_factory):
    """A copy of the shared shop for the tests that only read it (one copy per module)."""
    return pipeline_shop.copy_to(tmp_path_factory.mktemp("model-shop")).paths


def rows(paths, sql, params=None):
    with connect(paths.warehouse) as con:
        return con.execute(sql, params or {}).fetchall()


def metric(paths, model, candidate, name):
    [(value,)] = rows(
        paths,
        """SELECT value FROM ml.model_evaluations e JOIN ml.model_registry r USING (model_name, version)
           WHERE model_name = $m AND candidate = $c AND metric = $n ORDER BY r.trained_at LIMIT 1""",
        {"m": model, "c": candidate, "n": name},
    )
    return value


def test_the_challengers_beat_their_baselines_and_become_champions(pipeline_shop, trained_shop):
    paths, checks = trained_shop, pipeline_shop.checks
    assert metric(paths, "demand_forecast", "challenger", "wape") < metric(
        paths, "demand_forecast", "seasonal_naive", "wape"
    )
    assert metric(paths, "propensity", "hgb_calibrated", "roc_auc") > metric(paths, "propensity", "random", "roc_auc")
    assert ("propensity_champion:promotion_gate", True) in checks
    assert ("demand_forecast_champion:promotion_gate", True) in checks
    champions = rows(
        paths,
        "SELECT model_name FROM ml.model_registry WHERE is_champion "
        "AND model_name IN ('demand_forecast', 'propensity') ORDER BY 1",
    )
    assert champions == [("demand_forecast",), ("propensity",)]


def test_score_tables_have_the_right_shape_and_ranges(trained_shop):
    paths = trained_shop
    [(products,)] = rows(paths, "SELECT count(DISTINCT product_id) FROM features.product_daily_sales")
    [(n, days, bad_order, negative, first_day, as_of)] = rows(
        paths,
        """SELECT count(*), count(DISTINCT day), count(*) FILTER (WHERE NOT (p10 <= p50 AND p50 <= p90)),
                  count(*) FILTER (WHERE p10 < 0), min(day), max(as_of) FROM scoring.demand_forecasts""",
    )
    assert (n, days, bad_order, negative) == (products * HORIZON, HORIZON, 0, 0)
    assert first_day == as_of + dt.timedelta(days=1)
    [(customers,)] = rows(paths, "SELECT count(*) FROM features.customer_features")
    [(scored, out_of_range, churn_mismatch, versions)] = rows(
        paths,
        """SELECT count(*), count(*) FILTER (WHERE p_purchase < 0 OR p_purchase > 1 OR isnan(p_purchase)),
                  count(*) FILTER (WHERE abs(churn_risk - (1 - p_purchase)) > 1e-9), count(DISTINCT model_version)
           FROM scoring.customer_scores""",
    )
    assert (scored, out_of_range, churn_mismatch, versions) == (customers, 0, 0, 1)
    [(champion,)] = rows(paths, "SELECT version FROM ml.model_registry WHERE is_champion AND model_name = 'propensity'")
    assert rows(paths, "SELECT DISTINCT model_version FROM scoring.customer_scores") == [(champion,)]


def test_the_column_schemas_the_ui_shows_are_the_tables_the_run_created(trained_shop):
    # one source per table (sql/tables/): the definition-time schema of every table asset and
    # every table the run left in the warehouse are what DuckDB reports for that table
    paths = trained_shop
    graph = build_definitions(paths).resolve_asset_graph()
    with connect(paths.warehouse) as con:

        def created(table):
            schema, name = table.split(".")
            return con.execute(
                "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [schema, name],
            ).fetchall()

        shown_tables = set()
        for key in graph.get_all_asset_keys():
            metadata = graph.get(key).metadata
            if "dagster/table_name" not in metadata:
                continue
            tables = metadata["dagster/table_name"].split(", ")
            shown_tables |= set(tables)
            shown = [(c.name, c.type, c.constraints.nullable) for c in metadata["dagster/column_schema"].columns]
            expected = [
                (f"{t}.{name}" if len(tables) > 1 else name, type_, nullable)
                for t in tables
                for name, type_, nullable in created(t)
            ]
            assert expected and shown == expected, key
        in_warehouse = {
            f"{s}.{n}"
            for s, n in con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database()"
            ).fetchall()
        }
        assert len(shown_tables) == 16 and shown_tables <= in_warehouse
        assert in_warehouse <= set(ddl.tables())
        for table in in_warehouse:
            assert created(table) == [(c.name, c.type, c.nullable) for c in ddl.columns(table)], table


def test_running_again_on_the_same_data_keeps_the_champion_and_says_why(pipeline_shop, tmp_path):
    # Issue 12: unchanged training inputs are not trained again (was: a second version, refused
    # by the gate against the champion); test_model_reuse.py covers reuse and retraining. On its own
    # copy of the shop and of the instance that holds the first run (drift reuse reads its history).
    copy = pipeline_shop.copy_to(tmp_path / "again")
    with copy.instance() as instance:
        check_a_second_run_keeps_the_champion(copy.paths, instance, RUN_CONFIG)


def check_a_second_run_keeps_the_champion(paths, instance, config):
    [(before,)] = rows(
        paths, "SELECT version FROM ml.model_registry WHERE is_champion AND model_name = 'demand_forecast'"
    )
    drift_before = instance.get_latest_materialization_event(AssetKey("feature_drift")).asset_materialization.metadata
    snapshot_before = instance.get_latest_materialization_event(AssetKey("serving_snapshot")).asset_materialization
    again = run_full_pipeline(paths, instance, config)
    assert again.success, again.error
    [(after,)] = rows(
        paths, "SELECT version FROM ml.model_registry WHERE is_champion AND model_name = 'demand_forecast'"
    )
    assert after == before
    [(versions,)] = rows(paths, "SELECT count(*) FROM ml.model_registry WHERE model_name = 'demand_forecast'")
    assert versions == 1
    trained = instance.get_latest_materialization_event(AssetKey("demand_forecast_model")).asset_materialization
    assert trained.metadata["reused_version"].value is True
    assert "unchanged" in trained.metadata["reason"].value
    gate = instance.get_latest_materialization_event(AssetKey("demand_forecast_champion")).asset_materialization
    assert gate.metadata["promoted"].value is False
    assert gate.metadata["champion_version"].value == before
    assert "kept" in gate.metadata["decision"].value
    # drift and the serving snapshot are not measured or copied again either: the same measurement,
    # the same snapshot, each saying so (and the retraining sensor's facts are fresh)
    drift_after = instance.get_latest_materialization_event(AssetKey("feature_drift")).asset_materialization.metadata
    assert drift_after["reused"].value is True
    assert drift_after["measurement"].value == drift_before["measurement"].value
    assert drift_after["facts"].value["measured_at"] >= drift_before["facts"].value["measured_at"]
    snapshot_after = instance.get_latest_materialization_event(AssetKey("serving_snapshot")).asset_materialization
    assert snapshot_after.metadata["reused"].value is True
    assert snapshot_after.metadata["snapshot_id"].value == snapshot_before.metadata["snapshot_id"].value


def test_a_tampered_champion_artifact_is_never_loaded(trained_shop):
    paths = trained_shop
    with connect(paths.warehouse) as con:
        registry.ensure_registry_schema(con)
        row = registry.champion(con, "propensity")
        artifact = registry.artifact_file(paths.models, row.artifact_path)
        original = artifact.read_bytes()
        try:
            artifact.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
            with pytest.raises(registry.ArtifactIntegrityError):
                registry.load_model(con, "propensity", models_dir=paths.models)
        finally:
            artifact.write_bytes(original)


def test_as_of_in_the_past_scores_from_that_cut_off(pipeline_shop, tmp_path):
    # on its own copy of the shop: it trains other versions, and the tests run in any order. The forecast's
    # path only (its features, model, gate and scores): the tables asserted here; every model reads its
    # cut-off from the same Modeling resource, and the leakage audits of every feature table are the
    # feature suites' (features/).
    paths, instance = pipeline_shop.copy_to(tmp_path / "own").paths, DagsterInstance.ephemeral()
    config = modeling_run_config(as_of="2025-02-20", forecast_horizon_days=HORIZON, propensity_horizon_days=14)
    days = [CONFIG.start + dt.timedelta(days=i) for i in range(CONFIG.days)]
    add_partitions(instance, days)
    result = materialize(
        ASSETS,
        selection=AS_OF_TARGETS,
        resources=default_resources(paths),
        instance=instance,
        run_config=config,
        raise_on_error=False,
        tags={RANGE_START_TAG: partition_key(days[0]), RANGE_END_TAG: partition_key(days[-1])},
    )
    assert result.success
    assert {"demand_forecast_model", "demand_forecasts", "customer_features"} <= {
        e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
    }
    assert rows(paths, "SELECT max(day) FROM features.product_daily_sales") == [(dt.date(2025, 2, 20),)]
    assert rows(paths, "SELECT min(day), max(as_of) FROM scoring.demand_forecasts") == [
        (dt.date(2025, 2, 21), dt.date(2025, 2, 20))
    ]
    [(latest_seen,)] = rows(paths, "SELECT max(last_seen) FROM features.customer_features")
    assert latest_seen < dt.datetime(2025, 2, 21)
