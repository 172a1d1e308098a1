"""A transaction-only shop with known ground truth: who buys, how often, for how long, for how much.

For the customer-value models (ml/propensity/: bgnbd.py, mbgnbd.py, gamma_gamma.py)
the question is whether expected orders over a horizon match what customers then do, so the
generator writes the future too: orders up to `history_days + future_days`; a benchmark lands
only the history and compares the models' predictions with the future it kept back.

The story is Pareto/NBD (Schmittlein, Morrison & Colombo 1987), which none of the candidates
assumes exactly (BG/NBD and MBG/NBD let customers drop out at purchases, not in continuous
time), with Gamma-Gamma order values:

    customer i is acquired (first order) on a day uniform in [0, acquisition_days)
    purchase rate   lambda_i ~ Gamma(r, rate alpha)      per week, Poisson purchases while alive
    drop-out rate   mu_i     ~ Gamma(s, rate beta)       per week, exponential lifetime
    order value     nu_i     ~ Gamma(q, rate gamma); each order ~ Gamma(p, rate nu_i)

Seeded: the same config gives the same orders. No Dagster, no warehouse.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TransactionShopConfig:
    customers: int = 5000
    history_days: int = 364
    future_days: int = 273
    acquisition_days: int = 84  # CDNOW's cohort was acquired over 12 weeks
    start: dt.date = dt.date(2024, 1, 1)
    r: float = 0.55
    alpha: float = 4.0  # mean rate r / alpha ~ 0.14 orders a week
    s: float = 0.6
    beta: float = 12.0  # mean lifetime ~ beta / (s - 1): heavy-tailed, many stay
    p: float = 6.0
    q: float = 4.0
    gamma: float = 15.0  # mean order value p * gamma / (q - 1) = 30
    seed: int = 0

    @property
    def as_of(self) -> dt.date:
        """The last day of the history (the scoring cut-off)."""
        return self.start + dt.timedelta(days=self.history_days - 1)


def generate_orders(config: TransactionShopConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(orders, customers). orders: customer_id, order_id, order_time (UTC, naive), amount,
    sorted by time, history and future together. customers: customer_id, first_day,
    purchase_rate, dropout_rate, death_time (weeks after acquisition), mean_order_value."""
    c = config
    rng = np.random.default_rng(c.seed)
    n = c.customers
    first_day = rng.integers(0, c.acquisition_days, n)
    lam = rng.gamma(c.r, 1.0 / c.alpha, n)
    mu = rng.gamma(c.s, 1.0 / c.beta, n)
    life = rng.exponential(1.0 / np.maximum(mu, 1e-12))  # weeks alive after acquisition
    nu = rng.gamma(c.q, 1.0 / c.gamma, n)
    end_week = (c.history_days + c.future_days) / 7.0
    rows_customer, rows_week = [], []
    for i in range(n):
        start_week = first_day[i] / 7.0 + rng.random() / 7.0  # a time of day on the first day
        times = [start_week]
        stop = min(start_week + life[i], end_week)
        t = start_week
        while lam[i] > 0:
            t += rng.exponential(1.0 / lam[i])
            if t >= stop:
                break
            times.append(t)
        rows_customer.extend([i] * len(times))
        rows_week.extend(times)
    who = np.asarray(rows_customer)
    weeks = np.asarray(rows_week)
    amounts = np.round(rng.gamma(c.p, 1.0 / nu[who]), 2)
    amounts = np.maximum(amounts, 0.01)
    base = pd.Timestamp(c.start)
    order_time = base + pd.to_timedelta(np.round(weeks * 7 * 86400), unit="s")
    orders = (
        pd.DataFrame(
            {
                "customer_id": [f"t{i:06d}" for i in who],
                "order_time": order_time,
                "amount": amounts,
            }
        )
        .sort_values(["order_time", "customer_id"], kind="stable")
        .reset_index(drop=True)
    )
    orders.insert(1, "order_id", [f"to{k:08d}" for k in range(len(orders))])
    customers = pd.DataFrame(
        {
            "customer_id": [f"t{i:06d}" for i in range(n)],
            "first_day": [c.start + dt.timedelta(days=int(d)) for d in first_day],
            "purchase_rate": lam,
            "dropout_rate": mu,
            "death_time": life,
            "mean_order_value": c.p / nu,
        }
    )
    return orders, customers


def staging_events(orders: pd.DataFrame, ingested_at: dt.datetime | None = None) -> pd.DataFrame:
    """The orders as staging.events rows (one purchase event per order, quantity 1, the amount
    as price, landed on its own day): what a transaction-log adapter would stage."""
    at = pd.Timestamp(ingested_at or dt.datetime(2000, 1, 1))
    times = pd.to_datetime(orders["order_time"])
    return pd.DataFrame(
        {
            "partition_date": times.dt.date,
            "event_id": "e" + orders["order_id"].str[2:],
            "event_time": times,
            "event_type": "purchase",
            "user_id": orders["customer_id"],
            "session_id": None,
            "product_id": "p0",
            "category": None,
            "brand": None,
            "price": orders["amount"].astype(float),
            "quantity": 1,
            "order_id": orders["order_id"],
            "is_late": False,
            "source_file": "transactions.csv",
            "line": np.arange(2, len(orders) + 2),
            "ingested_at": at,
        }
    )


def future_orders(orders: pd.DataFrame, as_of: dt.date, horizon_days: int) -> pd.DataFrame:
    """Per customer seen by `as_of`: orders and spend in the `horizon_days` after it
    (customer_id, orders, spend; 0 for a customer who did not buy)."""
    cutoff = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    end = cutoff + pd.Timedelta(days=horizon_days)
    known = orders.loc[orders["order_time"] < cutoff, "customer_id"].unique()
    window = orders[(orders["order_time"] >= cutoff) & (orders["order_time"] < end)]
    agg = window.groupby("customer_id").agg(orders=("order_id", "size"), spend=("amount", "sum"))
    out = pd.DataFrame({"customer_id": np.sort(known)}).merge(agg, on="customer_id", how="left")
    return out.fillna({"orders": 0, "spend": 0.0}).astype({"orders": np.int64})
