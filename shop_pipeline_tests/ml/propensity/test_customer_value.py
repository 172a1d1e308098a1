"""Customer value: MBG/NBD, Gamma-Gamma, the count metrics, and the calibration / holdout set-up
on a generated transaction-only shop whose future is known (a real warehouse, the real SQL)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.propensity.bgnbd import COLUMNS as BGNBD_COLUMNS
from shop_pipeline.ml.propensity.candidates import (
    BGNBD,
    CANDIDATES,
    HURDLE,
    MBGNBD,
    PROBABILISTIC,
    RANDOM,
    FittedPropensity,
    fit_probabilistic,
)
from shop_pipeline.ml.propensity.data import feature_matrix
from shop_pipeline.ml.propensity.evaluate import select_value
from shop_pipeline.ml.propensity.gamma_gamma import GammaGamma, fit_gamma_gamma
from shop_pipeline.ml.propensity.gamma_gamma import log_likelihood as gg_log_likelihood
from shop_pipeline.ml.propensity.mbgnbd import (
    ModifiedBetaGeoClassifier,
    conditional_expected_purchases,
    log_likelihood,
    probability_alive,
)
from shop_pipeline.ml.propensity.metrics import count_metrics
from shop_pipeline.ml.propensity.score import score_customers
from shop_pipeline.ml.propensity.train import metrics_rows, run_propensity
from shop_pipeline.synth.transactions import (
    TransactionShopConfig,
    future_orders,
    generate_orders,
    staging_events,
)
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.ml.propensity.simulated import simulated_customers

# ------------------------------------------------------------------ MBG/NBD


def simulate_mbgnbd(params, customers, weeks, future_weeks, seed):
    """Customers from the MBG/NBD story (drop-out possible after every purchase, the first
    included), all acquired at week 0 (simulated.simulated_customers)."""
    r, alpha, a, b = params

    def purchase_times(rng):
        rate, drop = rng.gamma(r, 1.0 / alpha), rng.beta(a, b)
        times = [0.0]
        alive = rng.random() >= drop
        t = 0.0
        while alive:
            t += rng.exponential(1.0 / rate)
            if t >= weeks + future_weeks:
                break
            times.append(t)
            alive = rng.random() >= drop
        return times

    return simulated_customers(purchase_times, customers, weeks, future_weeks, seed)


def test_mbgnbd_recovers_its_parameters_and_predicts_the_future_of_simulated_customers():
    truth = np.array([0.8, 6.0, 0.9, 3.0])
    X, future = simulate_mbgnbd(truth, 6000, 52.0, 26.0, seed=3)
    model = ModifiedBetaGeoClassifier(horizon_days=26 * 7).fit(X)
    assert model.converged_
    r, alpha, a, b = model.params_
    assert r / alpha == pytest.approx(truth[0] / truth[1], rel=0.15)  # mean purchase rate
    assert a / (a + b) == pytest.approx(truth[2] / (truth[2] + truth[3]), rel=0.2)  # mean drop-out
    expected = model.expected_purchases(X)
    assert expected.sum() == pytest.approx(future.sum(), rel=0.1)
    assert count_metrics(future, expected)["orders_buys_again_auc"] > 0.75
    back = ModifiedBetaGeoClassifier.from_params(model.params_, 26 * 7)
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))


def test_mbgnbd_lets_one_time_buyers_drop_out_and_reduces_to_the_nbd_without_drop_out():
    params = np.array([0.5, 5.0, 0.8, 2.5])
    x, t_x, T = np.array([0.0, 0.0]), np.array([0.0, 0.0]), np.array([10.0, 40.0])
    alive = probability_alive(params, x, t_x, T)
    assert (alive < 1).all() and alive[1] < alive[0]  # BG/NBD would say 1 for both
    # with (almost) no drop-out the expectation is the NBD posterior rate times the horizon
    no_drop = np.array([0.5, 5.0, 1e-8, 50.0])
    x, t_x, T = np.array([3.0]), np.array([20.0]), np.array([30.0])
    got = conditional_expected_purchases(no_drop, 10.0, x, t_x, T)
    assert got[0] == pytest.approx(10.0 * (0.5 + 3.0) / (5.0 + 30.0), rel=1e-3)


def test_mbgnbd_likelihood_of_a_one_time_buyer_by_hand():
    # no repeat in T weeks: alive all along (1 - p) without a purchase (NBD zero term), or gone
    # right after the first purchase (p): E[1 - p] (alpha / (alpha + T))^r + E[p]
    r, alpha, a, b = params = np.array([0.5, 5.0, 0.8, 2.5])
    T = 30.0
    by_hand = np.log(b / (a + b) * (alpha / (alpha + T)) ** r + a / (a + b))
    assert log_likelihood(params, np.array([0.0]), np.array([0.0]), np.array([T]))[0] == pytest.approx(by_hand)


# ------------------------------------------------------------------ Gamma-Gamma


def simulate_spend(p, q, gamma, customers, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 8, customers)
    nu = rng.gamma(q, 1.0 / gamma, customers)
    means = np.array([rng.gamma(p, 1.0 / nu[i], x[i]).mean() for i in range(customers)])
    return x.astype(float), means, p / nu


def test_gamma_gamma_recovers_its_parameters_and_shrinks_towards_the_population_mean():
    x, m, true_means = simulate_spend(6.0, 4.0, 15.0, 4000, seed=1)
    gg = fit_gamma_gamma(x, m)
    assert gg is not None
    assert gg.population_mean == pytest.approx(6.0 * 15.0 / 3.0, rel=0.1)
    assert gg.q == pytest.approx(4.0, rel=0.35)
    est = gg.expected_order_value(x, m)
    # better than each customer's own mean, and a weight on the own mean that grows with x
    assert np.mean((est - true_means) ** 2) < np.mean((m - true_means) ** 2)
    assert gg.expected_order_value(np.array([0.0]), np.array([np.nan]))[0] == pytest.approx(gg.population_mean)
    one, many = gg.expected_order_value(np.array([1.0, 20.0]), np.array([100.0, 100.0]))
    assert gg.population_mean < one < many < 100.0


def test_gamma_gamma_closed_form_by_hand_and_refusals():
    gg = GammaGamma(p=6.25, q=3.74, gamma=15.44)  # Fader & Hardie (2013), CDNOW
    value = gg.expected_order_value(np.array([3.0]), np.array([40.0]))[0]
    assert value == pytest.approx((15.44 + 40.0 * 3) * 6.25 / (6.25 * 3 + 3.74 - 1))
    assert GammaGamma.from_array(gg.to_array()) == gg
    assert np.isfinite(gg_log_likelihood(gg.to_array(), np.array([2.0]), np.array([35.0]))).all()
    few = np.ones(100)
    assert fit_gamma_gamma(few, np.full(100, 30.0)) is None  # nobody ordered twice


# ------------------------------------------------------------------ count metrics


def test_count_metrics_by_hand():
    m = count_metrics([0, 2, 1, 0], [0.5, 1.0, 1.0, 0.5])
    assert m["orders_mae"] == pytest.approx(0.5)
    assert m["orders_rmse"] == pytest.approx(np.sqrt((0.25 + 1 + 0 + 0.25) / 4))
    assert m["orders_total_error_pct"] == pytest.approx(0.0)
    assert m["orders_buys_again_auc"] == pytest.approx(1.0)
    nobody = count_metrics([0, 0], [0.1, 0.2], "spend")
    assert np.isnan(nobody["spend_total_error_pct"]) and np.isnan(nobody["spend_buys_again_auc"])
    with pytest.raises(ValueError, match="different shapes"):
        count_metrics([1, 2], [1.0])


def test_value_selection_keeps_the_simpler_model_unless_it_is_clearly_worse():
    rows = {BGNBD: {"orders_rmse": 1.000}, MBGNBD: {"orders_rmse": 0.995}, HURDLE: {"orders_rmse": 1.2}}
    assert select_value(rows) == BGNBD
    rows[MBGNBD]["orders_rmse"] = 0.97
    assert select_value(rows) == MBGNBD
    rows[HURDLE]["orders_rmse"] = float("nan")
    assert select_value(rows) == MBGNBD


# ------------------------------------------------------------------ a transaction-only shop with its future


def staged_shop(tmp_path, customers: int, history_days: int, horizon: int, seed: int = 4):
    config = TransactionShopConfig(
        customers=customers, history_days=history_days, future_days=max(horizon, 1), seed=seed
    )
    orders, _ = generate_orders(config)
    history = orders[orders["order_time"] < pd.Timestamp(config.as_of) + pd.Timedelta(days=1)]
    path = tmp_path / f"shop-{history_days}-{horizon}.duckdb"
    with connect(path) as con:
        con.register("generated", staging_events(history))
        con.execute("INSERT INTO staging.events BY NAME SELECT * FROM generated")
    return path, config, orders


def served_against_truth(run, config, orders, horizon):
    scores = score_customers(run.fitted, run.scoring_features, config.as_of, "v")
    truth = future_orders(orders, config.as_of, horizon)
    both = scores.merge(truth, on="customer_id", validate="one_to_one")
    bgnbd = fit_probabilistic(BGNBD, run.scoring_features, horizon)
    reference = bgnbd.expected_purchases(feature_matrix(run.scoring_features, BGNBD_COLUMNS))
    ref = pd.DataFrame({"customer_id": run.scoring_features["customer_id"], "e": reference}).merge(truth)
    return (count_metrics(both["orders"], both["expected_orders"]), count_metrics(ref["orders"], ref["e"]), both)


def test_a_year_of_transactions_and_a_39_week_horizon_predicts_the_next_39_weeks(tmp_path):
    path, config, orders = staged_shop(tmp_path, customers=2000, history_days=364, horizon=273)
    with connect(path) as con:
        run = run_propensity(con, config.as_of, 273, seed=3)
    assert run.plan.mode == "calibration_holdout" and run.plan.eval_horizon_days == 273
    assert set(run.evaluations) == {BGNBD, MBGNBD, RANDOM}
    served, bgnbd, both = served_against_truth(run, config, orders, 273)
    assert abs(served["orders_total_error_pct"]) <= 15.0
    assert served["orders_rmse"] <= bgnbd["orders_rmse"] * 1.02
    assert served["orders_buys_again_auc"] > 0.8
    assert run.fitted.value.gamma_gamma is not None
    spend_error = (both["expected_spend"].sum() - both["spend"].sum()) / both["spend"].sum()
    assert abs(spend_error) <= 0.2
    rows = metrics_rows(run)
    assert rows["value_bgnbd"]["orders_rmse"] > 0 and rows["historical_rate"]["orders_total_error_pct"] > 100


def test_a_30_day_horizon_on_the_same_shop_lets_the_supervised_candidates_compete(tmp_path):
    path, config, orders = staged_shop(tmp_path, customers=2000, history_days=364, horizon=30)
    with connect(path) as con:
        run = run_propensity(con, config.as_of, 30, seed=3)
    assert run.plan.mode == "two_window"
    assert set(run.evaluations) == set(CANDIDATES)
    assert {"value_hurdle", "value_bgnbd", "value_mbgnbd"} <= set(metrics_rows(run))
    served, bgnbd, _ = served_against_truth(run, config, orders, 30)
    assert abs(served["orders_total_error_pct"]) <= 15.0
    assert served["orders_rmse"] <= bgnbd["orders_rmse"] * 1.02


def test_a_two_week_shop_is_not_enough_data(tmp_path):
    path, config, _ = staged_shop(tmp_path, customers=300, history_days=14, horizon=30)
    with connect(path) as con, pytest.raises(NotEnoughData, match="have 14"):
        run_propensity(con, config.as_of, 30)


def test_probabilistic_models_round_trip_through_the_registry(tmp_path):
    path, config, _ = staged_shop(tmp_path, customers=800, history_days=200, horizon=150)
    with connect(path) as con:
        run = run_propensity(con, config.as_of, 150, seed=3)
    assert run.serving_candidate in PROBABILISTIC
    saved, sha = registry.save_model(run.fitted.to_artifact(), tmp_path / "models", "propensity", "v1")
    back = FittedPropensity.from_artifact(registry.load_artifact(saved, sha))
    pd.testing.assert_frame_equal(
        score_customers(back, run.scoring_features, config.as_of, "v"),
        score_customers(run.fitted, run.scoring_features, config.as_of, "v"),
    )
