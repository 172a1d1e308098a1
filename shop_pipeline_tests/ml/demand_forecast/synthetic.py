"""Synthetic product_daily_sales frames for model tests (numpy, PRODUCT_DAILY_SALES columns)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shop_pipeline.features.columns import PRODUCT_DAILY_SALES

START = pd.Timestamp("2025-01-06")  # a Monday


def fill_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """Calendar, lags and rolling means (over the days before `day`) consistent with units."""
    f = frame.sort_values(["product_id", "day"]).reset_index(drop=True)
    day = pd.DatetimeIndex(f["day"])
    f["day_of_week"] = day.dayofweek
    f["day_of_year"] = day.dayofyear
    f["month"] = day.month
    f["is_weekend"] = (day.dayofweek >= 5).astype(int)
    g = f.groupby("product_id")["units"]
    for k in (1, 7, 14):
        f[f"units_lag_{k}"] = g.shift(k).fillna(0.0)
    shifted = g.shift(1)
    for w in (7, 28):
        f[f"units_rolling_mean_{w}"] = (
            shifted.groupby(f["product_id"]).transform(lambda s, w=w: s.rolling(w, min_periods=1).mean()).fillna(0.0)
        )
    ref = f.groupby("product_id")["shown_price"].shift(1)
    f["ref_price_28d"] = ref.groupby(f["product_id"]).transform(lambda s: s.rolling(28, min_periods=1).mean())
    f["discount_vs_ref"] = np.where(f["ref_price_28d"] > 0, 1 - f["shown_price"] / f["ref_price_28d"], 0.0)
    f["revenue"] = f["units"] * f["shown_price"]
    f["purchases"] = f["units"]
    f["orders"] = f["units"]
    f["views"] = f["units"] * 10 + 5
    f["carts"] = f["units"] * 2
    f["conversion"] = f["purchases"] / f["views"]
    f["avg_paid_price"] = np.where(f["units"] > 0, f["shown_price"], np.nan)
    return f.loc[:, list(PRODUCT_DAILY_SALES)]


def weekly_history(n_products: int = 3, days: int = 42) -> pd.DataFrame:
    """Units follow an exact weekly pattern per product (no noise, no promotions)."""
    rows = []
    for i in range(n_products):
        pattern = np.array([1, 2, 3, 4, 5, 8, 9]) * (i + 1)
        for d in range(days):
            day = START + pd.Timedelta(days=d)
            rows.append(
                {
                    "product_id": f"p{i}",
                    "day": day,
                    "category": "c0",
                    "brand": "b0",
                    "units": float(pattern[day.dayofweek]),
                    "shown_price": 10.0,
                    "list_price": 10.0,
                    "promo_discount_pct": 0.0,
                    "is_promo": 0,
                    "ad_spend": 100.0,
                }
            )
    return fill_derived(pd.DataFrame(rows))


def effect_history(n_products: int = 60, days: int = 84, seed: int = 0, start_day: int = 0):
    """Poisson units driven by a weekday profile, promotions (price elasticity), category ad
    spend and a product level: a real promotion / price / weekday effect. Returns the
    history frame and a `future` frame of the next 14 days (plans known in advance)."""
    rng = np.random.default_rng(seed)
    total = days + 14
    level = rng.lognormal(1.0, 0.8, n_products)
    cats = np.array([f"c{i % 4}" for i in range(n_products)])
    list_price = rng.uniform(5, 50, n_products)
    weekday = np.array([0.7, 0.8, 0.9, 1.0, 1.2, 1.6, 1.5])
    ad = rng.lognormal(5.0, 0.4, (total, 4))
    promo = np.zeros((total, n_products))
    for p in range(n_products):
        for _ in range(rng.integers(1, 4)):
            s = rng.integers(0, total - 5)
            promo[s : s + rng.integers(3, 8), p] = rng.choice([0.2, 0.3, 0.5])
    rows = []
    for d in range(total):
        day = START + pd.Timedelta(days=start_day + d)
        for p in range(n_products):
            c = int(cats[p][1:])
            shown = list_price[p] * (1 - promo[d, p])
            mu = level[p] * weekday[day.dayofweek] * (1 - promo[d, p]) ** -2.5 * (ad[d, c] / 150.0) ** 0.5
            rows.append(
                {
                    "product_id": f"p{p:03d}",
                    "day": day,
                    "category": cats[p],
                    "brand": "b",
                    "units": float(rng.poisson(mu)),
                    "shown_price": shown,
                    "list_price": list_price[p],
                    "promo_discount_pct": promo[d, p],
                    "is_promo": int(promo[d, p] > 0),
                    "ad_spend": ad[d, c],
                }
            )
    frame = fill_derived(pd.DataFrame(rows))
    last = START + pd.Timedelta(days=start_day + days - 1)
    history = frame[frame["day"] <= last].reset_index(drop=True)
    future = frame[frame["day"] > last].reset_index(drop=True)
    return history, future
