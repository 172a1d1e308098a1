"""The customer assets through Dagster on a transaction-only shop with a 39-week horizon.

A year of generated transactions is staged and its customer features built; then training,
the promotion gate and scoring run as in a pipeline run. With no labelled window for the
supervised candidates, the probabilistic models compete alone: the gate compares the served
one with those that competed (not with candidates that could not), a champion exists, and the
scores it writes predict the 39 weeks the generator kept back. A two-week shop is skipped with
its one-line reason.
"""

from __future__ import annotations

import pandas as pd
from dagster import DagsterInstance, materialize

from shop_pipeline.definitions import ASSETS
from shop_pipeline.defs.skips import not_enough_data_reason
from shop_pipeline.features.tables import build_customer_features
from shop_pipeline.ml.propensity.candidates import PROBABILISTIC, VALUE_PROBABILISTIC
from shop_pipeline.pipeline_run import modeling_run_config
from shop_pipeline.resources import default_resources
from shop_pipeline.settings import ShopPaths
from shop_pipeline.synth.transactions import (
    TransactionShopConfig,
    future_orders,
    generate_orders,
    staging_events,
)
from shop_pipeline.warehouse.connection import connect

CUSTOMER_ASSETS = ["propensity_model", "propensity_champion", "customer_scores"]


def staged_home(tmp_path, config: TransactionShopConfig) -> tuple[ShopPaths, pd.DataFrame]:
    paths = ShopPaths.at(tmp_path / "shop").ensure()
    orders, _ = generate_orders(config)
    history = orders[orders["order_time"] < pd.Timestamp(config.as_of) + pd.Timedelta(days=1)]
    with connect(paths.warehouse) as con:
        con.register("generated", staging_events(history))
        con.execute("INSERT INTO staging.events BY NAME SELECT * FROM generated")
        con.unregister("generated")
        build_customer_features(con, config.as_of)
    return paths, orders


def test_a_39_week_horizon_on_a_year_of_transactions_is_served_by_a_probabilistic_champion(tmp_path):
    config = TransactionShopConfig(customers=1500, seed=6)
    paths, orders = staged_home(tmp_path, config)
    result = materialize(
        ASSETS,
        selection=CUSTOMER_ASSETS,
        resources=default_resources(paths),
        instance=DagsterInstance.ephemeral(),
        run_config=modeling_run_config(as_of=config.as_of.isoformat(), propensity_horizon_days=273),
    )
    assert result.success
    trained = result.asset_materializations_for_node("propensity_model")[0].metadata
    assert trained["window_mode"].value == "calibration_holdout"
    assert trained["competed_candidates"].value == "bgnbd, mbgnbd"
    assert trained["value_model"].value in VALUE_PROBABILISTIC
    gate = result.asset_materializations_for_node("propensity_champion")[0].metadata
    assert gate["promoted"].value is True
    with connect(paths.warehouse) as con:
        [(serving, competed)] = con.execute(
            "SELECT json_extract_string(parameters, '$.serving_candidate'), "
            "json_extract(parameters, '$.competed_candidates')::VARCHAR "
            "FROM ml.model_registry WHERE is_champion AND model_name = 'propensity'"
        ).fetchall()
        scores = con.execute("SELECT customer_id, expected_orders FROM scoring.customer_scores").df()
    assert serving in PROBABILISTIC and "logistic_rfm" not in competed
    truth = future_orders(orders, config.as_of, 273)
    both = scores.merge(truth, on="customer_id", validate="one_to_one")
    assert len(both) == len(truth) == 1500
    assert abs(both["expected_orders"].sum() / both["orders"].sum() - 1.0) <= 0.15


def test_a_two_week_shop_skips_the_customer_models_with_one_line(tmp_path):
    config = TransactionShopConfig(customers=300, history_days=14, acquisition_days=7, seed=6)
    paths, _ = staged_home(tmp_path, config)
    result = materialize(
        ASSETS,
        selection=CUSTOMER_ASSETS,
        resources=default_resources(paths),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
        run_config=modeling_run_config(as_of=config.as_of.isoformat(), propensity_horizon_days=30),
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    reason = not_enough_data_reason(failure)
    assert reason is not None and "\n" not in reason and "have 14" in reason
