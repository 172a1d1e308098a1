"""MBG/NBD (Batislam, Denizel & Filiztekin 2007): BG/NBD with a drop-out chance at time 0 too.

BG/NBD (bgnbd.py) lets a customer drop out only right after a repeat purchase, so every
customer who never bought again is certainly alive: on a log with many one-time buyers it
over-predicts their future purchases. MBG/NBD lets the drop-out happen after the first
purchase as well (p at every purchase, 0 repeats included), which fixes that and keeps closed
forms. Same inputs as BG/NBD (`bgnbd.COLUMNS`, in weeks through `bgnbd.rfm_to_bgnbd`):

    x = repeat purchases, t_x = time of the last purchase, T = age

Per-customer likelihood (Batislam et al. 2007, eq. 4):

    L = B(a, b+x+1)/B(a, b) * G(r+x)/G(r) * alpha^r / (alpha+T)^(r+x)
        * [1 + a/(b+x) * ((alpha+T)/(alpha+t_x))^(r+x)]

Conditional expectation of purchases in the next t weeks:

    E[X(t) | x, t_x, T] = (a+b+x)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x)
                           * 2F1(r+x, b+x+1; a+b+x; t/(alpha+T+t))] / D
    D = 1 + a/(b+x) * ((alpha+T)/(alpha+t_x))^(r+x)          (1/D = P(alive))

Fitting maximises the likelihood with L-BFGS-B on log-parameters (the labels are not used).
Where the hypergeometric closed form is not finite (a within a hair of 1, very large x), the
expectation falls back to P(alive) x t x (r+x)/(alpha+T), the alive customer's posterior
rate times the horizon.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, gammaln, hyp2f1

from shop_pipeline.ml.propensity.bgnbd import COLUMNS, RepeatPurchaseClassifier

__all__ = [
    "COLUMNS",
    "ModifiedBetaGeoClassifier",
    "conditional_expected_purchases",
    "log_likelihood",
    "probability_alive",
]


def _dead_odds_log(params: np.ndarray, x, t_x, T) -> np.ndarray:
    """log of a/(b+x) * ((alpha+T)/(alpha+t_x))^(r+x): the odds that the customer dropped out."""
    r, alpha, a, b = params
    return np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))


def log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of (r, alpha, a, b)."""
    r, alpha, a, b = params
    base = (
        betaln(a, b + x + 1.0)
        - betaln(a, b)
        + gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        - (r + x) * np.log(alpha + T)
    )
    return base + np.logaddexp(0.0, _dead_odds_log(params, x, t_x, T))


def probability_alive(params: np.ndarray, x, t_x, T) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(np.minimum(_dead_odds_log(params, x, t_x, T), 700.0)))


def conditional_expected_purchases(params: np.ndarray, t: float, x, t_x, T) -> np.ndarray:
    """E[X(t) | x, t_x, T]: expected purchases in the next t weeks."""
    r, alpha, a, b = params
    p_alive = probability_alive(params, x, t_x, T)
    with np.errstate(all="ignore"):
        ratio = ((alpha + T) / (alpha + T + t)) ** (r + x)
        hyp = hyp2f1(r + x, b + x + 1.0, a + b + x, t / (alpha + T + t))
        exact = (a + b + x) / (a - 1.0) * (1.0 - ratio * hyp) * p_alive
    fallback = p_alive * t * (r + x) / (alpha + T)
    ok = np.isfinite(exact) & (exact >= 0)
    return np.where(ok, exact, fallback)


class ModifiedBetaGeoClassifier(RepeatPurchaseClassifier):
    """P(purchase within horizon_days) and expected purchases from MBG/NBD fitted on the history
    (the fit is RepeatPurchaseClassifier's, on this likelihood)."""

    model_name = "MBG/NBD"
    likelihood = staticmethod(log_likelihood)
    conditional_expectation = staticmethod(conditional_expected_purchases)
    start_a = 1.0
