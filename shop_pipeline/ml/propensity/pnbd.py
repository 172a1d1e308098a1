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

I has a closed form in Gauss' hypergeometric function (Fader, Hardie & Lee 2005), but scipy's
`hyp2f1` slows a hundredfold where the fit often goes (a shop too young to show drop-outs drives s
to 0 and beta up: a minute per fit of 20,000 customers). So I is integrated numerically, in
v = log(min(alpha, beta) + tau), where each factor's log falls at most as fast as its exponent:
64-point Gauss-Legendre over (t_x, T], cut where the integrand has fallen by e^-40 (the rest
cannot reach 1e-17 of it). Against adaptive quadrature it agrees to 1e-12 relative over
r, alpha, s, beta from e^-9 to e^11, up to 600 repeat purchases and ten years
(shop_pipeline_tests/ml/propensity/test_pareto_nbd.py).

The
conditional expectation of purchases in the next t weeks:

    E[X(t) | x, t_x, T] = (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] P(alive)
    P(alive) = 1 / (1 + s I (alpha+T)^(r+x) (beta+T)^s)

(the bracket divided by s-1 taken to its limit log((beta+T+t)/(beta+T)) at s = 1).

Fitting maximises the likelihood with L-BFGS-B on log-parameters, as the other two; customers
with the same (x, t_x, T) are one weighted row.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

from shop_pipeline.ml.propensity.bgnbd import COLUMNS, RepeatPurchaseClassifier, rfm_to_bgnbd

__all__ = [
    "COLUMNS",
    "ParetoNBDClassifier",
    "conditional_expected_purchases",
    "log_dropout_integral",
    "log_likelihood",
    "log_likelihood_and_gradient",
    "probability_alive",
]


NODES, WEIGHTS = np.polynomial.legendre.leggauss(64)
CUT_EFOLDS = 40.0


def _dropout_nodes(params: np.ndarray, x, t_x, T):
    """The quadrature of I: per customer, log(half-width), the nodes' tau and log integrand."""
    r, alpha, s, beta = params
    x, t_x, T = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (x, t_x, T))
    a = r + x
    low = min(alpha, beta)
    v0, v1 = np.log(low + t_x), np.log(low + T)

    def fall_rate(tau):  # -d/dv of the log integrand (v = log(low + tau)); monotone in tau
        return a * (low + tau) / (alpha + tau) + (s + 1.0) * (low + tau) / (beta + tau) - 1.0

    slowest = np.minimum(fall_rate(t_x), fall_rate(T))
    v1 = np.where(slowest > 0, np.minimum(v1, v0 + CUT_EFOLDS / np.where(slowest > 0, slowest, 1.0)), v1)
    half = (v1 - v0) / 2.0
    v = ((v0 + v1) / 2.0)[:, None] + half[:, None] * NODES[None, :]
    tau = np.exp(v) - low
    log_f = v - a[:, None] * np.log(alpha + tau) - (s + 1.0) * np.log(beta + tau)
    with np.errstate(divide="ignore"):
        return np.log(half), tau, log_f


def _weighted(log_half, log_f):
    """log I and each node's share of it."""
    top = log_f.max(axis=1, keepdims=True)
    scaled = np.exp(log_f - top) * WEIGHTS
    total = scaled.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return log_half + top[:, 0] + np.log(total), scaled / total[:, None]


def log_dropout_integral(params: np.ndarray, x, t_x, T) -> np.ndarray:
    """log of I, the integral over the dropout instant in (t_x, T] (-inf where t_x = T)."""
    log_half, _, log_f = _dropout_nodes(params, x, t_x, T)
    return _weighted(log_half, log_f)[0]


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


def log_likelihood_and_gradient(params: np.ndarray, x, t_x, T) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer log-likelihood and its gradient in the log-parameters (rows x 4): the
    derivatives of I are integrals of the same integrand times simple factors, so they come
    from the same nodes."""
    r, alpha, s, beta = params
    log_half, tau, log_f = _dropout_nodes(params, x, t_x, T)
    log_i, share = _weighted(log_half, log_f)
    d_log_i = np.column_stack(
        [
            -(share * np.log(alpha + tau)).sum(axis=1),
            -(share * (r + x)[:, None] / (alpha + tau)).sum(axis=1),
            -(share * np.log(beta + tau)).sum(axis=1),
            -(share * (s + 1.0) / (beta + tau)).sum(axis=1),
        ]
    )
    alive = _log_alive_term(params, x, T)
    dead = np.log(s) + log_i
    d_alive = np.column_stack([-np.log(alpha + T), -(r + x) / (alpha + T), -np.log(beta + T), -s / (beta + T)])
    d_dead = d_log_i + np.array([0.0, 0.0, 1.0 / s, 0.0])
    with np.errstate(all="ignore"):
        w_alive = np.where(np.isneginf(dead), 1.0, 1.0 / (1.0 + np.exp(dead - alive)))
        d_base = np.column_stack(
            [
                digamma(r + x) - digamma(r) + np.log(alpha),
                np.full_like(x, r / alpha),
                np.full_like(x, np.log(beta)),
                np.full_like(x, s / beta),
            ]
        )
        gradient = (d_base + w_alive[:, None] * d_alive + (1.0 - w_alive)[:, None] * np.nan_to_num(d_dead)) * params
    return log_likelihood(params, x, t_x, T), gradient


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
            value, gradient = log_likelihood_and_gradient(np.exp(log_params), x, t_x, T)
            return -float(np.dot(weights, value)) / total, -(weights @ gradient) / total

        mean_age = max(float(np.average(T, weights=weights)), 1.0)
        start = np.log([1.0, mean_age, 1.0, mean_age])
        bounds = [(-10, 10), (-10, 12), (-10, 10), (-10, 12)]
        result = minimize(negative, start, jac=True, method="L-BFGS-B", bounds=bounds)
        self.params_ = np.exp(result.x)
        self.converged_ = bool(result.success)
        self.classes_ = np.array([0, 1])
        return self
