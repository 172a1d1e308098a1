"""Fraudulent orders: recognisable but noisy patterns, planted next to the legitimate sessions.

An incident is one fraudster acting on one day, through a brand-new account or a taken-over
existing one. Its orders show some of: new_account (first activity that day), high_amount
(expensive items, many units), unusual_hour (01:00-05:00 UTC), burst (several orders within
an hour), new_category (a category the user never cared for). Legitimate users show each of
these now and then too (night owls, new customers, big baskets), so no single rule is enough.
"""

from __future__ import annotations

import numpy as np

from shop_pipeline.synth.batch import CART, NO_ORDER, PURCHASE, VIEW, EventBatch
from shop_pipeline.synth.events import HOUR_MS, DayContext, DaySimulator, searchsorted_weighted

PATTERNS = ("new_account", "high_amount", "unusual_hour", "burst", "new_category")
ORDERS_PER_INCIDENT = 1.7  # expected, given the burst probability below


def expensive_products(sim: DaySimulator, ctx: DayContext, category: int) -> np.ndarray:
    """The top fifth by base price of the category's launched products."""
    w = sim.world
    members = sim.cat_order[sim.cat_lo[category] : sim.cat_hi[category]]
    members = members[w.launch_day[members] <= ctx.day]
    if len(members) == 0:
        members = sim.cat_order[sim.cat_lo[category] : sim.cat_hi[category]]
    prices = w.base_cents[members]
    cut = np.quantile(prices, 0.8)
    return members[prices >= cut]


def fraud_day(
    sim: DaySimulator, ctx: DayContext, rng: np.random.Generator, n_legit_orders: int, first_key: int
) -> tuple[EventBatch, dict[int, str]]:
    """Fraud sessions for one day; session (and order) keys start at first_key.

    Returns the events (times relative to the day) and order key -> pattern ('+'-joined).
    """
    w = sim.world
    rate = sim.config.fraud_rate
    n_incidents = int(rng.binomial(n_legit_orders, min(1.0, rate / ORDERS_PER_INCIDENT))) if n_legit_orders else 0
    cols: dict[str, list[int]] = {k: [] for k in ("time", "etype", "user", "session", "product", "qty", "order")}
    patterns_by_key: dict[int, str] = {}
    key = first_key
    for _ in range(n_incidents):
        patterns: set[str] = set()
        if rng.random() < 0.5 and sim.next_fraud_account < len(w.fraud_accounts):
            user = int(w.fraud_accounts[sim.next_fraud_account])
            sim.next_fraud_account += 1
            patterns.add("new_account")
            prefs = sim.mean_prefs
        else:
            user = int(searchsorted_weighted(ctx.user_cs, rng.random(1))[0])
            prefs = w.user_prefs[user]
        if rng.random() < 0.55:
            patterns.add("unusual_hour")
        if rng.random() < 0.6:
            patterns.add("high_amount")
        if rng.random() < 0.35:
            patterns.add("burst")
        if "new_account" not in patterns and rng.random() < 0.5:
            patterns.add("new_category")
        if not patterns:
            patterns.add("high_amount")
        if "new_category" in patterns:
            category = int(np.argmin(prefs))
        else:
            category = int(rng.choice(w.n_categories, p=prefs / prefs.sum()))
        if "unusual_hour" in patterns:
            start = int(rng.integers(1 * HOUR_MS, 4 * HOUR_MS))
        else:
            start = int(searchsorted_weighted(sim.hour_cs, rng.random(1))[0]) * HOUR_MS + int(rng.integers(0, HOUR_MS))
        n_orders = int(rng.integers(2, 5)) if "burst" in patterns else 1
        offsets = np.sort(rng.integers(0, 50 * 60_000, size=n_orders))
        offsets[0] = 0
        pool = expensive_products(sim, ctx, category) if "high_amount" in patterns else None
        label = "+".join(p for p in PATTERNS if p in patterns)
        for offset in offsets:
            n_items = int(rng.integers(1, 4))
            if pool is not None:
                items = rng.choice(pool, size=n_items)
                qty = rng.integers(2, 7, size=n_items) if rng.random() < 0.5 else np.ones(n_items, dtype=np.int64)
            else:
                items = sim.sample_products(ctx, np.full(n_items, category), rng)
                qty = np.minimum(rng.geometric(0.72, size=n_items), 12)
            t = start + int(offset)
            for item in items:
                for etype in (VIEW, CART):
                    t += int(rng.exponential(15_000.0)) + 1_000
                    cols["time"].append(t)
                    cols["etype"].append(etype)
                    cols["product"].append(int(item))
                    cols["qty"].append(1)
                    cols["order"].append(NO_ORDER)
            t += int(rng.exponential(20_000.0)) + 1_000
            for i, (item, q) in enumerate(zip(items, qty)):
                cols["time"].append(t + i)
                cols["etype"].append(PURCHASE)
                cols["product"].append(int(item))
                cols["qty"].append(int(q))
                cols["order"].append(key)
            n_rows = 3 * n_items
            cols["user"].extend([user] * n_rows)
            cols["session"].extend([key] * n_rows)
            patterns_by_key[key] = label
            key += 1
    n = len(cols["time"])
    product = np.array(cols["product"], dtype=np.int64)
    batch = EventBatch(
        event_id=np.zeros(n, dtype=np.int64),
        time_ms=np.array(cols["time"], dtype=np.int64),
        etype=np.array(cols["etype"], dtype=np.int64),
        user=np.array(cols["user"], dtype=np.int64),
        session=np.array(cols["session"], dtype=np.int64),
        product=product,
        price_cents=ctx.price[product] if n else np.zeros(0, dtype=np.int64),
        qty=np.array(cols["qty"], dtype=np.int64),
        order=np.array(cols["order"], dtype=np.int64),
    )
    return batch, patterns_by_key
