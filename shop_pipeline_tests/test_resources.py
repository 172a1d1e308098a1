"""The resources' fields are what the code uses, from their environment variables when set, with
unchanged defaults when not (docs/operations.md, "Configuration")."""

import duckdb
import pytest
import yaml
from dagster import EnvVar
from threadpoolctl import threadpool_info

from shop_pipeline.definitions import defs
from shop_pipeline.ml.common import threads
from shop_pipeline.quality.thresholds import THRESHOLDS_ENV, load_thresholds
from shop_pipeline.resources import ModelThreads, Quality, Warehouse, default_resources
from shop_pipeline.settings import ShopPaths, available_cores
from shop_pipeline.sql.session import (
    MEMORY_LIMIT_ENV,
    THREADS_ENV,
    machine_memory_limit,
)

MODEL_ASSETS = (
    "demand_forecast_model",
    "demand_forecasts",
    "propensity_model",
    "customer_scores",
    "recommendation_model",
    "recommendations",
    "order_risk_model",
    "order_risk_scores",
)


@pytest.fixture
def paths(tmp_path, monkeypatch):
    for name in (MEMORY_LIMIT_ENV, THREADS_ENV, THRESHOLDS_ENV, threads.THREADS_ENV):
        monkeypatch.delenv(name, raising=False)
    return ShopPaths.at(tmp_path / "shop").ensure()


def as_duckdb_reports(limit: str) -> str:
    """memory_limit as current_setting() shows it after SET memory_limit = limit."""
    with duckdb.connect() as con:
        con.execute(f"SET memory_limit = '{limit}'")
        return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def session(warehouse: Warehouse) -> tuple[str, int]:
    with warehouse.process_config_and_initialize().connection() as con:
        return con.execute("SELECT current_setting('memory_limit'), current_setting('threads')").fetchone()


def test_the_warehouse_opens_duckdb_with_its_fields_from_the_environment(paths, monkeypatch):
    assert session(default_resources(paths)["warehouse"]) == (
        as_duckdb_reports(machine_memory_limit()),
        available_cores(),
    )
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "300MB")
    monkeypatch.setenv(THREADS_ENV, "3")
    warehouse = default_resources(paths)["warehouse"]
    assert (warehouse.memory_limit, warehouse.threads.name) == (
        EnvVar(MEMORY_LIMIT_ENV),
        THREADS_ENV,
    )  # shown in the UI
    assert session(warehouse) == (as_duckdb_reports("300MB"), 3)
    # a value set in the launchpad (run config) wins over the variable
    assert session(Warehouse(path=str(paths.warehouse), memory_limit="500MB", threads=2)) == (
        as_duckdb_reports("500MB"),
        2,
    )
    with pytest.raises(Exception, match="is not a size like 3GB"):
        session(Warehouse(path=str(paths.warehouse), memory_limit="lots"))


def test_the_thresholds_file_is_the_quality_resources_field(paths, tmp_path, monkeypatch):
    override = tmp_path / "thresholds.yaml"
    defaults = load_thresholds()
    rules = {key: value for key, value in defaults["staging_rules"].items()}
    rules["max_quantity"] = rules["max_quantity"] + 7
    override.write_text(yaml.safe_dump({"staging_rules": {"max_quantity": rules["max_quantity"]}}))
    assert default_resources(paths)["quality"].thresholds() == defaults
    monkeypatch.setenv(THRESHOLDS_ENV, str(override))
    quality = default_resources(paths)["quality"]
    assert quality.thresholds_path == EnvVar(THRESHOLDS_ENV)
    assert quality.process_config_and_initialize().thresholds()["staging_rules"] == rules
    assert Quality().thresholds() == defaults  # the field is the only way in: no hidden read of the variable


def test_a_thresholds_file_with_a_misspelt_key_is_refused_naming_the_keys_it_could_mean(paths, tmp_path):
    # a typo must not silently leave the default in force: the message names the key and the known ones
    override = tmp_path / "thresholds.yaml"
    override.write_text(yaml.safe_dump({"staging_rules": {"max_quantiti": 5}}))
    with pytest.raises(
        ValueError,
        match=r"^unknown threshold 'max_quantiti'; known: max_lateness_days, future_tolerance_minutes, "
        r"max_price, max_quantity$",
    ):
        load_thresholds(override)
    override.write_text(yaml.safe_dump({"staging_rule": {}}))
    with pytest.raises(
        ValueError, match=r"^unknown threshold 'staging_rule'; known: validation_batch_rows, staging_rules, "
    ):
        load_thresholds(override)


def openmp_threads() -> set[int]:
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"}


def test_model_threads_come_from_the_resource_and_go_back_to_the_process_default(paths, monkeypatch):
    import sklearn.ensemble  # noqa: F401  (loads OpenMP)

    default = threads.process_threads()  # decided before the variable is set (the suite pins 1)
    monkeypatch.setenv(threads.THREADS_ENV, str(default + 1))
    resource = default_resources(paths)["model_threads"]
    assert resource.threads.name == threads.THREADS_ENV
    try:
        assert resource.process_config_and_initialize().apply() == default + 1
        assert openmp_threads() == {default + 1}
    finally:
        assert ModelThreads().apply() == default
    assert openmp_threads() == {default}


def test_every_model_and_score_asset_sets_its_threads():
    graph = defs.resolve_asset_graph()
    for name in MODEL_ASSETS:
        [key] = [key for key in graph.get_all_asset_keys() if key.to_user_string() == name]
        assert "model_threads" in graph.get(key).assets_def.required_resource_keys, name


def test_the_resources_page_lists_every_configurable_setting():
    assert {"warehouse", "shop", "quality", "modeling", "model_threads", "retraining", "alerting", "engine"} <= set(
        defs.resources
    )
