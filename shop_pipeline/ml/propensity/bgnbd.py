"""BG/NBD (Fader, Hardie & Lee 2005): the classic purchase model of transaction logs, as a
scikit-learn classifier so it can be evaluated, served and saved like the other candidates.

A customer buys at a Poisson rate (gamma-distributed across customers: r, alpha) until they
drop out, with probability p after each purchase (beta-distributed: a, b). It needs only the
RFM summary of each customer, in the customer-feature columns `COLUMNS`:

    x   = repeat purchases     = frequency - 1 (0 for a customer who never bought)
    T   = age                  = tenure_days
    t_x = time of the last buy = tenure_days - recency_days (0 without purchases)

all in weeks. `fit` maximises the likelihood (L-BFGS-B on log-parameters; the labels are not
used: the model is fitted on the history alone, which is why it works on logs without a label
window of their own). `predict_proba` gives P(at least one purchase in the next
`horizon_days`) as 1 - exp(-E[X(t) | x, t_x, T]), the Poisson approximation of the
conditional expectation; its ranking is that of the expectation, the quantity BG/NBD is used for.

Bad input: missing or negative values count as 0; when the hypergeometric term is not
finite (very large x, or `a` within a hair of 1 where the closed form is 0/0),
the expectation falls back to P(alive) x t x (r + x) / (alpha + T), the alive customer's
posterior rate times the horizon.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1
from sklearn.base import BaseEstimator, ClassifierMixin

COLUMNS = ("frequency", "recency_days", "tenure_days")
DAYS_PER_UNIT = 7.0


def rfm_to_bgnbd(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) in weeks from a matrix of COLUMNS."""
    X = np.nan_to_num(np.asarray(X, dtype=np.float64), nan=0.0)
    frequency, recency, tenure = (np.maximum(X[:, i], 0.0) for i in range(3))
    T = tenure / DAYS_PER_UNIT
    x = np.maximum(frequency - 1.0, 0.0)
    t_x = np.where(frequency >= 1, np.clip(T - recency / DAYS_PER_UNIT, 0.0, T), 0.0)
    return x, t_x, T


def log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of (r, alpha, a, b)."""
    r, alpha, a, b = params
    base = (
        gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T) + betaln(a, b + x) - betaln(a, b)
    )
    repeat = x > 0
    term = np.full(len(x), -np.inf)
    xr = x[repeat]
    term[repeat] = (
        np.log(a) - np.log(b + xr - 1.0) + (r + xr) * (np.log(alpha + T[repeat]) - np.log(alpha + t_x[repeat]))
    )
    return base + np.logaddexp(0.0, term)


def _alive_odds_log(params, x, t_x, T) -> np.ndarray:
    r, alpha, a, b = params
    out = np.full(len(x), -np.inf)
    repeat = x > 0
    xr = x[repeat]
    out[repeat] = (
        np.log(a) - np.log(b + xr - 1.0) + (r + xr) * (np.log(alpha + T[repeat]) - np.log(alpha + t_x[repeat]))
    )
    return out


def conditional_expected_purchases(params: np.ndarray, t: float, x, t_x, T) -> np.ndarray:
    """E[X(t) | x, t_x, T]: expected purchases in the next t weeks (FHL 2005, eq. 10)."""
    r, alpha, a, b = params
    odds = np.exp(np.minimum(_alive_odds_log(params, x, t_x, T), 700.0))
    p_alive = 1.0 / (1.0 + odds)
    with np.errstate(all="ignore"):
        ratio = ((alpha + T) / (alpha + T + t)) ** (r + x)
        hyp = hyp2f1(r + x, b + x, a + b + x - 1.0, t / (alpha + T + t))
        exact = (a + b + x - 1.0) / (a - 1.0) * (1.0 - ratio * hyp) * p_alive
    fallback = p_alive * t * (r + x) / (alpha + T)
    ok = np.isfinite(exact) & (exact >= 0)
    return np.where(ok, exact, fallback)


class RepeatPurchaseClassifier(ClassifierMixin, BaseEstimator):
    """What the repeat-purchase models (BG/NBD here, MBG/NBD in mbgnbd.py) share: four
    parameters (r, alpha, a, b) fitted by maximum likelihood on the history, expected purchases
    over a horizon, and P(a purchase) = 1 - exp(-expected). A subclass names its likelihood, its
    conditional expectation and the starting value of `a`."""

    model_name = "BG/NBD"
    likelihood = staticmethod(log_likelihood)
    conditional_expectation = staticmethod(conditional_expected_purchases)
    start_a = 2.0

    def __init__(self, horizon_days: int = 30):
        self.horizon_days = horizon_days

    @classmethod
    def from_params(cls, params, horizon_days: int):
        """A fitted model from its four numbers (what the artifact stores)."""
        model = cls(horizon_days=int(horizon_days))
        model.params_ = np.asarray(params, dtype=np.float64)
        model.converged_ = True
        model.classes_ = np.array([0, 1])
        return model

    def expected_purchases(self, X, horizon_days: float | None = None) -> np.ndarray:
        days = self.horizon_days if horizon_days is None else horizon_days
        x, t_x, T = rfm_to_bgnbd(X)
        return self.conditional_expectation(self.params_, days / DAYS_PER_UNIT, x, t_x, T)

    def predict_proba(self, X) -> np.ndarray:
        p = 1.0 - np.exp(-self.expected_purchases(X))
        p = np.clip(np.nan_to_num(p, nan=0.0), 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int8)

    def fit(self, X, y=None):
        """Maximum-likelihood parameters (L-BFGS-B on log-parameters); the labels are not used."""
        x, t_x, T = rfm_to_bgnbd(X)
        keep = T > 0
        x, t_x, T = x[keep], t_x[keep], T[keep]
        if len(x) == 0:
            raise ValueError(f"{self.model_name} needs customers with a positive age (tenure_days)")

        def negative(log_params):
            params = np.exp(log_params)
            return -float(np.sum(self.likelihood(params, x, t_x, T))) / len(x)

        start = np.log([1.0, max(float(np.mean(T)), 1.0), self.start_a, 2.0])
        bounds = [(-10, 10), (-10, 12), (-10, 10), (-10, 10)]
        result = minimize(negative, start, method="L-BFGS-B", bounds=bounds)
        self.params_ = np.exp(result.x)
        self.converged_ = bool(result.success)
        self.classes_ = np.array([0, 1])
        return self


class BetaGeoClassifier(RepeatPurchaseClassifier):
    """P(purchase within horizon_days) from BG/NBD fitted on the customers' RFM history."""
