"""Pareto/NBD, the value candidate the BG/NBD family approximates: its likelihood against the
integral it stands for, its fit on customers drawn from its own story, and its place in the
value tournament and the registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.optimize import approx_fprime

from shop_pipeline.ml.common import registry
from shop_pipeline.ml.propensity.bgnbd import COLUMNS as BGNBD_COLUMNS
from shop_pipeline.ml.propensity.candidates import (
    BGNBD,
    HURDLE,
    MBGNBD,
    PNBD,
    FittedPropensity,
    fit_probabilistic,
    fit_value_model,
)
from shop_pipeline.ml.propensity.evaluate import select_value
from shop_pipeline.ml.propensity.metrics import count_metrics
from shop_pipeline.ml.propensity.pnbd import (
    ParetoNBDClassifier,
    conditional_expected_purchases,
    log_dropout_integral,
    log_likelihood,
    log_likelihood_and_gradient,
    probability_alive,
)
from shop_pipeline_tests.ml.propensity.simulated import simulated_customers


def dropout_integral_by_quadrature(params, x, t_x, T) -> float:
    r, alpha, s, beta = params
    value, _ = quad(lambda tau: (alpha + tau) ** -(r + x) * (beta + tau) ** -(s + 1), t_x, T, epsrel=1e-12, limit=200)
    return value


@pytest.mark.parametrize(
    "params",
    [
        (0.6, 8.0, 0.9, 15.0),  # alpha < beta
        (1.7, 30.0, 0.4, 2.0),  # alpha > beta
        (0.3, 3.0, 2.5, 60.0),
        (2.0, 10.0, 1.0, 10.0),  # alpha = beta: the hypergeometric argument is 0
    ],
)
def test_the_closed_form_of_the_dropout_term_equals_its_integral(params):
    params = np.array(params)
    x = np.array([0.0, 1.0, 4.0, 25.0, 3.0])
    T = np.array([12.0, 30.0, 52.0, 80.0, 40.0])
    t_x = np.array([0.0, 5.0, 50.0, 79.0, 40.0])  # the last: bought at the cut-off, no dropout window
    got = np.exp(log_dropout_integral(params, x, t_x, T))
    want = [dropout_integral_by_quadrature(params, *row) for row in zip(x, t_x, T, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)
    assert got[-1] == 0.0


def test_likelihood_of_a_customer_without_repeat_purchases_by_hand():
    # alpha = beta: alive through T, or dead at tau with density s beta^s / (beta + tau)^(s+1)
    # and no purchase before it; the integral is [alpha^-(r+s) - (alpha+T)^-(r+s)] / (r+s)
    r, alpha, s, beta = params = np.array([0.7, 6.0, 1.3, 6.0])
    T = 20.0
    alive = (alpha / (alpha + T)) ** r * (beta / (beta + T)) ** s
    dead = s * alpha**r * beta**s * (alpha ** -(r + s) - (alpha + T) ** -(r + s)) / (r + s)
    got = log_likelihood(params, np.array([0.0]), np.array([0.0]), np.array([T]))[0]
    assert got == pytest.approx(np.log(alive + dead), rel=1e-12)


def simulate_pareto_nbd(params, customers, weeks, future_weeks, seed):
    """Customers of the Pareto/NBD story, all acquired at week 0 (simulated.simulated_customers)."""
    r, alpha, s, beta = params

    def purchase_times(rng):
        rate, death = rng.gamma(r, 1.0 / alpha), rng.gamma(s, 1.0 / beta)
        lifetime = rng.exponential(1.0 / death)
        times, t = [0.0], 0.0
        while True:
            t += rng.exponential(1.0 / rate)
            if t >= min(lifetime, weeks + future_weeks):
                return times
            times.append(t)

    return simulated_customers(purchase_times, customers, weeks, future_weeks, seed)


def test_pareto_nbd_recovers_its_story_and_predicts_the_future_total():
    truth = np.array([0.8, 5.0, 0.6, 12.0])
    X, future = simulate_pareto_nbd(truth, 6000, 52.0, 26.0, seed=5)
    model = ParetoNBDClassifier(horizon_days=26 * 7).fit(X)
    assert model.converged_
    r, alpha, s, beta = model.params_
    assert r / alpha == pytest.approx(truth[0] / truth[1], rel=0.15)  # mean purchase rate
    assert s / beta == pytest.approx(truth[2] / truth[3], rel=0.3)  # mean dropout rate
    expected = model.expected_purchases(X)
    assert expected.sum() == pytest.approx(future.sum(), rel=0.05)
    assert count_metrics(future, expected)["orders_buys_again_auc"] > 0.75
    back = ParetoNBDClassifier.from_params(model.params_, 26 * 7)
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))


def test_a_long_silence_lowers_the_chance_of_being_alive_and_the_expected_purchases():
    params = np.array([0.8, 5.0, 0.6, 12.0])
    x, T = np.array([5.0, 5.0, 5.0]), np.array([52.0, 52.0, 52.0])
    t_x = np.array([51.0, 30.0, 5.0])  # last purchase 1, 22 and 47 weeks ago
    alive = probability_alive(params, x, t_x, T)
    expected = conditional_expected_purchases(params, 10.0, x, t_x, T)
    assert 1 > alive[0] > alive[1] > alive[2] > 0
    assert expected[0] > expected[1] > expected[2] > 0


def test_the_expectation_is_continuous_through_s_equal_to_one():
    x, t_x, T = np.array([3.0]), np.array([20.0]), np.array([30.0])
    at_one = conditional_expected_purchases(np.array([0.9, 6.0, 1.0, 8.0]), 10.0, x, t_x, T)[0]
    for s in (1.0 - 1e-7, 1.0 + 1e-7):
        near = conditional_expected_purchases(np.array([0.9, 6.0, s, 8.0]), 10.0, x, t_x, T)[0]
        assert near == pytest.approx(at_one, rel=1e-6)


def test_customers_with_the_same_history_weigh_as_many_rows_in_the_fit():
    X, _ = simulate_pareto_nbd(np.array([0.8, 5.0, 0.6, 12.0]), 400, 30.0, 1.0, seed=2)
    once = ParetoNBDClassifier().fit(X).params_
    twice = ParetoNBDClassifier().fit(np.vstack([X, X])).params_
    np.testing.assert_allclose(twice, once, rtol=1e-6)


def test_on_a_tie_the_value_tournament_serves_pareto_nbd_and_a_clear_winner_takes_over():
    rows = {
        PNBD: {"orders_rmse": 1.000},
        BGNBD: {"orders_rmse": 0.995},
        MBGNBD: {"orders_rmse": 1.003},
        HURDLE: {"orders_rmse": 1.2},
    }
    assert select_value(rows) == PNBD
    rows[BGNBD]["orders_rmse"] = 0.97
    assert select_value(rows) == BGNBD
    rows[PNBD]["orders_rmse"] = float("nan")
    rows[BGNBD]["orders_rmse"] = 1.0
    assert select_value(rows) == BGNBD


def test_a_pareto_nbd_value_model_round_trips_through_the_registry(tmp_path):
    X, _ = simulate_pareto_nbd(np.array([0.8, 5.0, 0.6, 12.0]), 500, 40.0, 1.0, seed=7)
    history = pd.DataFrame(X, columns=["frequency", "recency_days", "tenure_days"]).assign(
        customer_id=[f"c{i}" for i in range(len(X))], avg_order_value=25.0, monetary=lambda f: 25.0 * f["frequency"]
    )
    value = fit_value_model(PNBD, history, horizon_days=30)
    classifier = fit_probabilistic(BGNBD, history, horizon_days=30)
    fitted = FittedPropensity(BGNBD, classifier, BGNBD_COLUMNS, value, (0.1, 0.3), 30, 0.5)
    saved, sha = registry.save_model(fitted.to_artifact(), tmp_path / "models", "propensity", "v1")
    back = FittedPropensity.from_artifact(registry.load_artifact(saved, sha))
    assert back.value.kind == PNBD and isinstance(back.value.orders_model, ParetoNBDClassifier)
    p = np.zeros(len(history))
    np.testing.assert_array_equal(back.value.expected_orders(history, p), value.expected_orders(history, p))


def test_the_fit_follows_the_exact_gradient_of_the_likelihood():
    x = np.array([0.0, 1.0, 5.0, 30.0, 2.0, 200.0])
    T = np.array([10.0, 30.0, 52.0, 80.0, 40.0, 300.0])
    t_x = np.array([0.0, 5.0, 50.0, 79.0, 40.0, 120.0])
    rng = np.random.default_rng(4)
    for _ in range(4):
        log_params = rng.uniform(-2.0, 3.0, 4)
        _, gradient = log_likelihood_and_gradient(np.exp(log_params), x, t_x, T)
        for row in range(len(x)):
            numeric = approx_fprime(log_params, lambda lp, row=row: log_likelihood(np.exp(lp), x, t_x, T)[row], 1e-7)
            np.testing.assert_allclose(gradient[row], numeric, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("params", "x", "t_x", "T"),
    [
        ((0.197, 153.9, 1.80, 0.0924), 0.0, 0.0, 144.3),  # drop-out steep at the start: beta tiny
        ((1.81, 0.176, 0.0126, 3704.5), 595.0, 136.9, 492.1),  # a heavy buyer over ten years
        ((6.50, 35.6, 0.0283, 48332.0), 583.0, 163.0, 224.0),
        ((0.23, 2.98, 1.8e-4, 2.08e4), 3.0, 2.0, 8.5),  # where the fit goes on a young shop
    ],
)
def test_the_dropout_integral_holds_at_the_edges_of_the_parameter_space(params, x, t_x, T):
    # reference: adaptive quadrature in the same variable, scaled by the integrand at t_x
    r, alpha, s, beta = params
    low = min(alpha, beta)
    v0, v1 = np.log(low + t_x), np.log(low + T)
    log_at = lambda v: v - (r + x) * np.log(alpha + np.exp(v) - low) - (s + 1) * np.log(beta + np.exp(v) - low)  # noqa: E731
    ref, _ = quad(
        lambda v: np.exp(log_at(v) - log_at(v0)),
        v0,
        v1,
        epsabs=0,
        epsrel=1e-13,
        limit=2000,
        points=[v0 + (v1 - v0) * f for f in (1e-4, 1e-3, 1e-2, 0.1)],
    )
    got = log_dropout_integral(np.array(params), np.array([x]), np.array([t_x]), np.array([T]))[0]
    assert got - log_at(v0) == pytest.approx(np.log(ref), abs=1e-11)
