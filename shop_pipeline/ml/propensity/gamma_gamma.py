"""Gamma-Gamma (Fader & Hardie 2013, after Colombo & Jiang 1999): the spend per order of each
customer, to turn expected orders into expected spend.

A customer's order values are gamma(p, nu) around the customer's mean p/nu, and nu is
gamma(q, gamma) across customers. Given x orders with mean value m, the likelihood is

    f(m | x) = G(p x + q) / (G(p x) G(q)) * gamma^q * m^(p x - 1) * x^(p x) / (gamma + m x)^(p x + q)

and the customer's expected value per order is a weighted mean of the population mean
p gamma / (q - 1) and the customer's own mean m, the weight of m growing with x:

    E[M | x, m] = (gamma + m x) p / (p x + q - 1)         (needs q > 1)

Inputs are the customer-feature columns `frequency` (orders, all of them) and
`avg_order_value` (their mean value). Customers without orders, or whose orders are worth
0 (free orders, refunds netted to 0), do not enter the fit; a customer without orders gets
the population mean. Fitting maximises the likelihood with L-BFGS-B on log-parameters.
`fit_gamma_gamma` returns None when it cannot be trusted (too few customers with two orders or
more, the optimiser did not converge, or q <= 1: an infinite population mean), and the
caller keeps its simpler shrinkage of the average order value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln

MIN_REPEAT_CUSTOMERS = 20  # customers with at least two orders: the within-customer spread


def log_likelihood(params: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of (p, q, gamma) for x >= 1 orders of mean value m > 0."""
    p, q, g = params
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1.0) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(g + m * x)
    )


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float

    @property
    def population_mean(self) -> float:
        return self.p * self.gamma / (self.q - 1.0)

    def expected_order_value(self, frequency: np.ndarray, avg_order_value: np.ndarray) -> np.ndarray:
        """E[value of an order | x orders of mean m]; the population mean for x = 0."""
        x = np.maximum(np.nan_to_num(np.asarray(frequency, dtype=np.float64), nan=0.0), 0.0)
        m = np.maximum(np.nan_to_num(np.asarray(avg_order_value, dtype=np.float64), nan=0.0), 0.0)
        m = np.where(x > 0, m, 0.0)
        return (self.gamma + m * x) * self.p / (self.p * x + self.q - 1.0)

    def to_array(self) -> np.ndarray:
        return np.array([self.p, self.q, self.gamma])

    @classmethod
    def from_array(cls, values) -> GammaGamma:
        p, q, g = (float(v) for v in values)
        return cls(p, q, g)


def fit_gamma_gamma(frequency: np.ndarray, avg_order_value: np.ndarray) -> GammaGamma | None:
    """Maximum-likelihood Gamma-Gamma, or None when it cannot be trusted (see the module docstring)."""
    x = np.nan_to_num(np.asarray(frequency, dtype=np.float64), nan=0.0)
    m = np.nan_to_num(np.asarray(avg_order_value, dtype=np.float64), nan=0.0)
    keep = (x >= 1) & (m > 0) & np.isfinite(m)
    x, m = x[keep], m[keep]
    if int(np.sum(x >= 2)) < MIN_REPEAT_CUSTOMERS:
        return None
    scale = float(np.median(m))  # values in currency units: fit on a unit scale, rescale gamma

    def negative(log_params):
        return -float(np.mean(log_likelihood(np.exp(log_params), x, m / scale)))

    result = minimize(negative, np.log([2.0, 3.0, 2.0]), method="L-BFGS-B", bounds=[(-8, 8), (-8, 8), (-12, 12)])
    p, q, g = np.exp(result.x)
    if not result.success or q <= 1.0 + 1e-6:
        return None
    return GammaGamma(float(p), float(q), float(g * scale))
