"""Nothing changed, nothing recomputed: a model whose training inputs are unchanged is reused.

A second run on the same data registers no new version, keeps the champions and leaves every
score table as it was (not even rewritten), and keeps the feature tables without computing them;
a changed feature table or hyper-parameter trains.

The shop after its first run is the session's shared one (shop_pipeline_tests/pipeline_shop.py); each
test works on its own copy of that home with a new instance, so the tests change nothing the others see
and pass in any order.
"""

import shutil

import pytest
from dagster import AssetKey, DagsterInstance, materialize

from shop_pipeline.definitions import ASSETS
from shop_pipeline.pipeline_run import run_full_pipeline
from shop_pipeline.resources import default_resources
from shop_pipeline.settings import ShopPaths
from shop_pipeline.summary import format_summary, warehouse_summary
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.pipeline_shop import RUN_CONFIG

TRAINING = {
    "demand_forecast_model": "demand_forecast",
    "propensity_model": "propensity",
    "recommendation_model": "recommendation",
    "order_risk_model": "order_risk",
}
SCORES = {
    "demand_forecasts": "scoring.demand_forecasts",
    "customer_scores": "scoring.customer_scores",
    "recommendations": "scoring.recommendations",
    "order_risk_scores": "scoring.order_risk_scores",
}
CONFIG = RUN_CONFIG  # the run configuration the shared shop's first run used


@pytest.fixture(scope="module")
def first_run(pipeline_shop):
    """What the shared shop's first run reported for each training asset."""
    return {asset: pipeline_shop.metadata[asset] for asset in TRAINING}


@pytest.fixture
def shop(pipeline_shop, tmp_path):
    """A copy of the first run's home (warehouse, models, landing files) with a new instance."""
    from shop_pipeline.ml.common import registry

    paths = pipeline_shop.copy_to(tmp_path / "shop").paths
    registry.forget_loaded_models()
    return paths, DagsterInstance.ephemeral()


def own_copy(shop, tmp_path):
    """A copy of the shop home with its own instance, for a test that changes what it trains on (the
    tests run in any order: the shared shop stays as its first run left it)."""
    import shutil

    paths, _ = shop
    copy = ShopPaths.at(tmp_path / "own-home")
    shutil.copytree(paths.home, copy.home)
    return copy, DagsterInstance.ephemeral()


def rows(paths, sql, params=None):
    with connect(paths.warehouse) as con:
        return con.execute(sql, params or {}).fetchall()


def versions(paths) -> dict[str, int]:
    return dict(rows(paths, "SELECT model_name, count(*) FROM ml.model_registry GROUP BY 1"))


def score_tables(paths) -> dict[str, list[tuple]]:
    return {table: rows(paths, f"SELECT * FROM {table} ORDER BY ALL") for table in SCORES.values()}


def metadata(instance, asset: str) -> dict:
    event = instance.get_latest_materialization_event(AssetKey(asset))
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def test_a_second_run_on_unchanged_data_reuses_every_model_and_keeps_the_scores(first_run, shop):
    paths, instance = shop
    before_versions, before_scores = versions(paths), score_tables(paths)
    champions = rows(paths, "SELECT model_name, version FROM ml.model_registry WHERE is_champion ORDER BY 1")
    assert set(before_versions) == set(TRAINING.values()) and set(before_versions.values()) == {1}
    first_metadata = first_run
    for asset in TRAINING:
        assert first_metadata[asset]["reused_version"] is False

    again = run_full_pipeline(paths, instance, CONFIG)
    assert again.success, again.error

    assert versions(paths) == before_versions
    assert rows(paths, "SELECT model_name, version FROM ml.model_registry WHERE is_champion ORDER BY 1") == champions
    assert score_tables(paths) == before_scores
    for asset, model in TRAINING.items():
        trained = metadata(instance, asset)
        assert trained["reused_version"] is True, asset
        assert "unchanged" in trained["reason"]
        assert trained["model_version"] == dict(champions)[model]
    for asset in SCORES:
        assert metadata(instance, asset)["scores_rewritten"] is False, asset
    for asset in ("product_daily_sales", "customer_features", "interactions", "order_features"):
        assert metadata(instance, asset)["inputs_unchanged"] is True, asset
    gate = metadata(instance, "demand_forecast_champion")
    assert gate["promoted"] is False and gate["champion_version"] == dict(champions)["demand_forecast"]
    assert "kept" in gate["decision"]
    text = format_summary(warehouse_summary(paths.warehouse), again.checks, 1.0)
    model_lines = [line for line in text.splitlines() if line.startswith("model:")]
    assert len(model_lines) == 4 and all("reused (training inputs unchanged)" in line for line in model_lines)


def test_a_changed_feature_table_retrains_its_model_only(shop, tmp_path):
    paths, instance = own_copy(shop, tmp_path)
    before = versions(paths)
    with connect(paths.warehouse) as con:  # a feature value changed by hand, as a fixed query would
        con.execute(
            "UPDATE features.order_features SET amount = amount + 1 "
            "WHERE order_id = (SELECT min(order_id) FROM features.order_features)"
        )
    result = materialize(
        ASSETS,
        selection=["order_risk_model", "order_risk_champion", "order_risk_scores", "propensity_model"],
        resources=default_resources(paths),
        instance=instance,
        run_config=CONFIG,
    )
    assert result.success
    assert versions(paths) == {**before, "order_risk": before["order_risk"] + 1}
    trained = metadata(instance, "order_risk_model")
    assert trained["reused_version"] is False
    assert "features.order_features" in trained["reason"]
    assert metadata(instance, "propensity_model")["reused_version"] is True
    assert metadata(instance, "order_risk_scores")["scores_rewritten"] is True


def test_a_changed_hyper_parameter_retrains(shop, tmp_path):
    paths, instance = own_copy(shop, tmp_path)
    before = versions(paths)
    other_seed = {"resources": {"modeling": {"config": {**CONFIG["resources"]["modeling"]["config"], "seed": 7}}}}
    result = materialize(
        ASSETS,
        selection=["propensity_model", "propensity_champion", "customer_scores"],
        resources=default_resources(paths),
        instance=instance,
        run_config=other_seed,
    )
    assert result.success
    assert versions(paths)["propensity"] == before["propensity"] + 1
    trained = metadata(instance, "propensity_model")
    assert trained["reused_version"] is False and "setting seed" in trained["reason"]
    # the champion, whichever it is now, scored the customers
    [(champion,)] = rows(paths, "SELECT version FROM ml.model_registry WHERE is_champion AND model_name = 'propensity'")
    assert rows(paths, "SELECT DISTINCT model_version FROM scoring.customer_scores") == [(champion,)]


def test_a_copied_shop_home_loads_and_reuses_its_own_models_not_the_originals(shop, tmp_path):
    """Issue 13 item 6: the registry stored absolute artifact paths, so a copied or restored
    home loaded (and reused) the original home's model files."""
    from shop_pipeline.ml.common import registry

    paths, _ = shop
    copy = ShopPaths.at(tmp_path / "copied-home")
    shutil.copytree(paths.home, copy.home)
    stored = rows(copy, "SELECT model_name, version, artifact_path FROM ml.model_registry")
    assert stored and all(path == f"{model}/{version}.skops" for model, version, path in stored)
    champions = rows(copy, "SELECT model_name, version FROM ml.model_registry WHERE is_champion ORDER BY 1")
    assert {model for model, _ in champions} == set(TRAINING.values())
    moved = paths.home / "models-moved-away"
    paths.models.rename(moved)  # the original home's model files are gone while the copy runs
    try:
        registry.forget_loaded_models()
        with connect(copy.warehouse) as con:
            for model, _version in champions:
                assert registry.load_model(con, model, models_dir=copy.models) is not None, model
            # a warehouse written before paths were relative: absolute paths into the original home
            con.execute("UPDATE ml.model_registry SET artifact_path = ? || '/' || artifact_path", [str(paths.models)])
            for model, _version in champions:
                registry.forget_loaded_models()
                assert registry.load_model(con, model, models_dir=copy.models) is not None, model
        instance = DagsterInstance.ephemeral()
        again = run_full_pipeline(copy, instance, CONFIG)
        assert again.success, again.error
        for asset in TRAINING:  # the copy's own artifacts are found, checked and reused
            assert metadata(instance, asset)["reused_version"] is True, asset
        assert not paths.models.exists()  # nothing was written into the original home
        assert rows(copy, "SELECT model_name, version FROM ml.model_registry WHERE is_champion ORDER BY 1") == champions
    finally:
        if not paths.models.exists():
            moved.rename(paths.models)
