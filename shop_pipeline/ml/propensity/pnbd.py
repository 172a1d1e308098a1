"""Pareto/NBD (Schmittlein, Morrison & Colombo 1987): the other classic purchase model of
transaction logs, beside BG/NBD (bgnbd.py) and MBG/NBD (mbgnbd.py).

A customer buys at a Poisson rate lambda (gamma across customers: r, alpha) and stays alive
for an exponential lifetime of rate mu (gamma across customers: s, beta), in continuous time:
unlike BG/NBD, a customer may drop out at any moment, not only right after a purchase. Same
inputs as BG/NBD (`bgnbd.COLUMNS`, in weeks through `bgnbd.rfm_to_bgnbd`):

    x = repeat purchases, t_x = time of the last purchase, T = age

Per-customer likelihood (Fader, Hardie & Lee 2005, "A note on deriving the Pareto/NBD model"):
alive through T, or dead at some tau in (t_x, T]:

    L = G(r+x)/G(r) alpha^r beta^s [ 1 / ((alpha+T)^(r+x) (beta+T)^s) + s I ]
    I = integral over (t_x, T] of (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau

I has a closed form in Gauss' hypergeometric function (with k = r+s+x, m = max(alpha, beta)):

    I = [ F(t_x) / (m+t_x)^k - F(T) / (m+T)^k ] / k
    F(u) = 2F1(k, s+1; k+1; (alpha-beta)/(alpha+u))   when alpha >= beta
    F(u) = 2F1(k, r+x; k+1; (beta-alpha)/(beta+u))    when alpha <  beta

computed in logs (the two terms are far apart in size for long-lived customers). The
conditional expectation of purchases in the next t weeks:

    E[X(t) | x, t_x, T] = (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] P(alive)
    P(alive) = 1 / (1 + s I (alpha+T)^(r+x) (beta+T)^s)

(the bracket divided by s-1 taken to its limit log((beta+T+t)/(beta+T)) at s = 1).

Fitting maximises the likelihood with L-BFGS-B on log-parameters, as the other two; customers
with the same (x, t_x, T) are one weighted row, since each likelihood evaluation costs two
hypergeometric functions per row. A row whose hypergeometric terms overflow has no finite
likelihood: -inf, so those parameters count as impossible.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1

from shop_pipeline.ml.propensity.bgnbd import COLUMNS, RepeatPurchaseClassifier, rfm_to_bgnbd

__all__ = [
    "COLUMNS",
    "ParetoNBDClassifier",
    "conditional_expected_purchases",
    "log_dropout_integral",
    "log_likelihood",
    "probability_alive",
]


def log_dropout_integral(params: np.ndarray, x, t_x, T) -> np.ndarray:
    """log of I, the integral over the dropout instant in (t_x, T] (-inf where t_x = T)."""
    r, alpha, s, beta = params
    k = r + s + x
    if alpha >= beta:
        top, second = alpha, s + 1.0
    else:
        top, second = beta, r + x
    gap = abs(alpha - beta)
    near, far = top + t_x, top + T
    with np.errstate(all="ignore"):
        log_near = np.log(hyp2f1(k, second, k + 1.0, gap / near)) - k * np.log(near)
        log_far = np.log(hyp2f1(k, second, k + 1.0, gap / far)) - k * np.log(far)
        # log(e^near - e^far) with near >= far: the later dropout window is the smaller term
        difference = log_near + np.log(-np.expm1(np.minimum(log_far - log_near, 0.0)))
    return difference - np.log(k)


def _log_alive_term(params: np.ndarray, x, T) -> np.ndarray:
    r, alpha, s, beta = params
    return -(r + x) * np.log(alpha + T) - s * np.log(beta + T)


def log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of (r, alpha, s, beta); -inf where it cannot be computed."""
    r, alpha, s, beta = params
    base = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    with np.errstate(all="ignore"):
        out = base + np.logaddexp(_log_alive_term(params, x, T), np.log(s) + log_dropout_integral(params, x, t_x, T))
    return np.where(np.isfinite(out), out, -np.inf)


def probability_alive(params: np.ndarray, x, t_x, T) -> np.ndarray:
    s = params[2]
    with np.errstate(all="ignore"):
        dead_odds_log = np.log(s) + log_dropout_integral(params, x, t_x, T) - _log_alive_term(params, x, T)
    # an overflowing integral leaves the customer's odds unknown: alive, as BG/NBD's fallback is
    return np.where(np.isnan(dead_odds_log), 1.0, 1.0 / (1.0 + np.exp(np.minimum(dead_odds_log, 700.0))))


def conditional_expected_purchases(params: np.ndarray, t: float, x, t_x, T) -> np.ndarray:
    """E[X(t) | x, t_x, T]: expected purchases in the next t weeks."""
    r, alpha, s, beta = params
    shrink = np.log(beta + T) - np.log(beta + T + t)  # < 0
    lifetime = -shrink if abs(s - 1.0) < 1e-12 else -np.expm1((s - 1.0) * shrink) / (s - 1.0)
    rate = (r + x) * (beta + T) / (alpha + T)
    return np.clip(rate * lifetime * probability_alive(params, x, t_x, T), 0.0, None)


class ParetoNBDClassifier(RepeatPurchaseClassifier):
    """P(purchase within horizon_days) and expected purchases from Pareto/NBD; params_ are
    (r, alpha, s, beta)."""

    model_name = "Pareto/NBD"
    likelihood = staticmethod(log_likelihood)
    conditional_expectation = staticmethod(conditional_expected_purchases)

    def fit(self, X, y=None):
        """Maximum-likelihood parameters over the distinct (x, t_x, T), each weighted by its customers."""
        x, t_x, T = rfm_to_bgnbd(X)
        keep = T > 0
        if not keep.any():
            raise ValueError(f"{self.model_name} needs customers with a positive age (tenure_days)")
        rows, weights = np.unique(np.column_stack([x[keep], t_x[keep], T[keep]]), axis=0, return_counts=True)
        x, t_x, T = rows[:, 0], rows[:, 1], rows[:, 2]
        total = float(weights.sum())

        def negative(log_params):
            return -float(np.dot(weights, self.likelihood(np.exp(log_params), x, t_x, T))) / total

        mean_age = max(float(np.average(T, weights=weights)), 1.0)
        start = np.log([1.0, mean_age, 1.0, mean_age])
        bounds = [(-10, 10), (-10, 12), (-10, 10), (-10, 12)]
        result = minimize(negative, start, method="L-BFGS-B", bounds=bounds)
        self.params_ = np.exp(result.x)
        self.converged_ = bool(result.success)
        self.classes_ = np.array([0, 1])
        return self
