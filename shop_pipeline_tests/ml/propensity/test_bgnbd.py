"""BG/NBD: the published CDNOW numbers, parameter recovery on simulated customers, the registry."""

import numpy as np
import pytest

from shop_pipeline.ml.common import registry
from shop_pipeline.ml.propensity.bgnbd import (
    DAYS_PER_UNIT,
    BetaGeoClassifier,
    conditional_expected_purchases,
    log_likelihood,
    rfm_to_bgnbd,
)

CDNOW_PARAMS = np.array([0.243, 4.414, 0.793, 2.426])  # Fader, Hardie & Lee (2005), table 1


def test_conditional_expectation_matches_the_paper():
    # FHL 2005, section 6: x = 2, t_x = 30.43, T = 38.86 weeks -> 1.226 purchases in the next 39 weeks
    value = conditional_expected_purchases(CDNOW_PARAMS, 39.0, np.array([2.0]), np.array([30.43]), np.array([38.86]))
    assert value[0] == pytest.approx(1.226, abs=0.001)


def test_a_one_time_buyer_has_no_repeat_term_in_the_likelihood():
    r, alpha, a, b = CDNOW_PARAMS
    from scipy.special import betaln, gammaln

    expected = r * np.log(alpha) - r * np.log(alpha + 30.0) + betaln(a, b) - betaln(a, b) + gammaln(r) - gammaln(r)
    assert log_likelihood(CDNOW_PARAMS, np.array([0.0]), np.array([0.0]), np.array([30.0]))[0] == pytest.approx(
        expected
    )


def simulate(params, customers, weeks, seed):
    """Customers drawn from the BG/NBD story, summarised as (frequency, recency_days, tenure_days)."""
    r, alpha, a, b = params
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(customers):
        rate, drop = rng.gamma(r, 1.0 / alpha), rng.beta(a, b)
        t, times = 0.0, [0.0]  # the first purchase starts the customer's history
        while True:
            t += rng.exponential(1.0 / rate)
            if t > weeks:
                break
            times.append(t)
            if rng.random() < drop:
                break
        rows.append((len(times), (weeks - times[-1]) * DAYS_PER_UNIT, weeks * DAYS_PER_UNIT))
    return np.array(rows)


def test_fit_recovers_the_simulated_parameters_roughly_and_ranks_active_customers_first():
    truth = np.array([0.8, 6.0, 1.5, 4.0])
    X = simulate(truth, 4000, 52, seed=3)
    model = BetaGeoClassifier(horizon_days=28).fit(X)
    assert model.converged_
    x, t_x, T = rfm_to_bgnbd(X)
    fitted_ll = log_likelihood(model.params_, x, t_x, T).sum()
    assert fitted_ll >= log_likelihood(truth, x, t_x, T).sum() - 1e-6  # the MLE is at least as likely
    assert model.params_[0] / model.params_[1] == pytest.approx(truth[0] / truth[1], rel=0.25)  # mean rate
    frequent_recent = np.array([[10, 3, 364]])
    lapsed = np.array([[10, 300, 364]])
    assert model.predict_proba(frequent_recent)[0, 1] > model.predict_proba(lapsed)[0, 1]


def test_saves_and_loads_through_the_registry(tmp_path):
    X = simulate(np.array([0.8, 6.0, 1.5, 4.0]), 300, 30, seed=4)
    model = BetaGeoClassifier(horizon_days=14).fit(X)
    path, sha = registry.save_model({"classifier": model}, tmp_path, "propensity", "v1")
    loaded = registry.load_artifact(path, sha)["classifier"]
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_an_artifact_saved_before_the_model_packages_still_loads(tmp_path, monkeypatch):
    """Artifacts written when the estimator lived in shop_pipeline.ml.bgnbd name that module."""
    import sys

    from shop_pipeline.ml.propensity import bgnbd

    X = simulate(np.array([0.8, 6.0, 1.5, 4.0]), 300, 30, seed=4)
    model = BetaGeoClassifier(horizon_days=14).fit(X)
    with monkeypatch.context() as patch:  # save it as the old code did
        patch.setattr(BetaGeoClassifier, "__module__", "shop_pipeline.ml.bgnbd")
        patch.setitem(sys.modules, "shop_pipeline.ml.bgnbd", bgnbd)
        path, sha = registry.save_model({"classifier": model}, tmp_path, "propensity", "v1")
    monkeypatch.delitem(sys.modules, "shop_pipeline.ml.bgnbd", raising=False)
    registry.forget_loaded_models()
    loaded = registry.load_artifact(path, sha)["classifier"]
    assert type(loaded) is BetaGeoClassifier
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_missing_values_and_never_buyers_are_scored():
    model = BetaGeoClassifier(horizon_days=30).fit(simulate(np.array([0.8, 6.0, 1.5, 4.0]), 300, 30, seed=5))
    p = model.predict_proba(np.array([[np.nan, np.nan, np.nan], [0, 10, 10], [1, 0, 0]]))[:, 1]
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
