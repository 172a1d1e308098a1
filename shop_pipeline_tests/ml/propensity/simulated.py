"""Customers simulated from a purchase model's own story, summarised as the customer features are."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shop_pipeline.ml.propensity.bgnbd import DAYS_PER_UNIT


def simulated_customers(
    purchase_times: Callable[[np.random.Generator], list[float]],
    customers: int,
    weeks: float,
    future_weeks: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """For customers acquired at week 0 whose purchase times (in weeks, the first at 0, none from
    weeks + future_weeks on) `purchase_times` draws: (frequency, recency_days, tenure_days) at `weeks`
    (frequency counts the first purchase, as the customer features do), and each one's purchases in
    the `future_weeks` after it."""
    rng = np.random.default_rng(seed)
    rows, future = [], []
    for _ in range(customers):
        times = purchase_times(rng)
        past = [w for w in times if w < weeks]
        rows.append((len(past), (weeks - past[-1]) * DAYS_PER_UNIT, weeks * DAYS_PER_UNIT))
        future.append(len(times) - len(past))
    return np.array(rows, dtype=np.float64), np.array(future, dtype=np.float64)
