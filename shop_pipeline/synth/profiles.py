"""Shop shapes beyond the default: `grocery` (staples re-bought on personal cycles) and `cohort`
(customers acquired early, then only the repeat buyers stay, so aggregate sales decay).

Each profile changes the world after build_world from its own random stream (a child of the run's
seed spawned only for a non-default profile), so the default shop's bytes never change.

    grocery  a share of the customers are regulars: each has 2-6 staples (drawn by popularity over
             the whole catalog, so the long tail sells too) with a personal re-buy cycle of 7-21 days
             and a phase; on a due day (85% of them: a skipped week happens) the regular opens a
             session that views, carts and buys every staple due as one basket, plus 0-2 products of
             their favourite category. These baskets take ~40% of the events; the ordinary sessions
             fill the rest of each day's target.
    cohort   every customer signs up before the start or in the first 10% of the days; 30% are
             repeat buyers who never churn (and buy more), the others churn after an exponential
             lifetime (mean max(14, days / 4) days). Each day's events follow the customers still
             active, so the aggregate decays towards the repeat buyers' level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shop_pipeline.synth.batch import CART, PURCHASE, VIEW, EventBatch
from shop_pipeline.synth.world import HOUR_WEIGHTS, NEVER, World

REBUY_SHARE = 0.4  # share of the events in regulars' re-buy baskets (grocery)
STAPLES = (2, 6)  # staples per regular, inclusive
CYCLE_DAYS = (7, 21)  # personal re-buy cycle, inclusive
DUE_BUY_RATE = 0.85  # a due day becomes a basket
ADD_ONS = 2  # at most this many extra products of the favourite category per basket
COHORT_ACQUIRE_SHARE = 0.1  # sign-ups in the first 10% of the days (the rest before the start)
COHORT_REPEAT_SHARE = 0.3  # customers who never churn
COHORT_REPEAT_BUY = 1.5  # their purchase propensity multiplier
HOUR_MS = 3_600_000


@dataclass
class Staples:
    """The grocery regulars' staples: one row per (regular, product) pair."""

    user: np.ndarray  # (S,) user index
    product: np.ndarray  # (S,) product index
    cycle: np.ndarray  # (S,) days between purchases
    phase: np.ndarray  # (S,) due on days d with (d - phase) % cycle == 0


def active_span(world: World) -> tuple[np.ndarray, np.ndarray]:
    """(first, end) day of each user's activity within the run: [first, end)."""
    first = np.maximum(world.user_signup, 0)
    end = np.minimum(world.user_churn, world.days)
    return first, end


def apply_cohort(world: World, rng: np.random.Generator) -> None:
    """Sign-ups early, then churn of everyone but the repeat buyers (module docstring)."""
    n = world.n_users
    acquire_days = max(1, round(COHORT_ACQUIRE_SHARE * world.days))
    before = rng.random(n) < 0.5
    signup = np.where(before, -rng.integers(1, 60, size=n), rng.integers(0, acquire_days, size=n))
    repeat = rng.random(n) < COHORT_REPEAT_SHARE
    lifetime = np.ceil(rng.exponential(max(14.0, world.days / 4.0), size=n)).astype(np.int64)
    world.user_signup = signup
    world.user_churn = np.where(repeat, NEVER, np.maximum(signup, 0) + lifetime)
    world.user_buy = np.where(repeat, np.minimum(world.user_buy * COHORT_REPEAT_BUY, 4.0), world.user_buy)


def active_weight(world: World) -> np.ndarray:
    """(days,) the activity of the customers still there each day (as DaySimulator.context weighs them)."""
    days = np.arange(world.days)
    weight = np.zeros(world.days)
    for d in days:
        active = (world.user_signup <= d) & (world.user_churn > d)
        fade = np.clip((world.user_churn - d) / 21.0, 0.3, 1.0)
        weight[d] = float((world.user_intensity * active * fade).sum())
    return np.maximum(weight, 1e-9)


def build_staples(world: World, events: int, rng: np.random.Generator) -> Staples:
    """Regulars, their staples and cycles, sized so that the baskets make ~REBUY_SHARE of `events`."""
    n = world.n_users
    per_user = rng.integers(STAPLES[0], STAPLES[1] + 1, size=n)
    user = np.repeat(np.arange(n), per_user)
    weight = world.popularity / world.popularity.sum()
    product = rng.choice(world.n_products, size=len(user), p=weight)
    cycle = rng.integers(CYCLE_DAYS[0], CYCLE_DAYS[1] + 1, size=len(user))
    phase = rng.integers(0, CYCLE_DAYS[1], size=len(user))
    # a pair bought twice by the same user is one staple
    _, keep = np.unique(user * world.n_products + product, return_index=True)
    user, product, cycle, phase = user[keep], product[keep], cycle[keep], phase[keep]
    # expected basket events of each user if every customer were a regular (view + cart + purchase)
    first, end = active_span(world)
    span = np.maximum(end - first, 0)[user]
    expected = np.bincount(user, weights=3.0 * DUE_BUY_RATE * span / cycle, minlength=n)
    expected[world.fraud_accounts] = 0.0
    share = min(1.0, REBUY_SHARE * events / max(float(expected.sum()), 1.0))
    regular = rng.random(n) < share
    regular[world.fraud_accounts] = False
    pick = regular[user]
    return Staples(user=user[pick], product=product[pick], cycle=cycle[pick], phase=phase[pick])


def rebuy_day(
    world: World,
    staples: Staples,
    day: int,
    price: np.ndarray,
    sample_products,
    rng: np.random.Generator,
) -> EventBatch:
    """The day's re-buy baskets (sessions numbered 0.., order = session): every due staple of an
    active regular, viewed, carted and bought, plus 0-ADD_ONS products of their favourite category
    (`sample_products(categories, rng)` draws by popularity)."""
    first, end = active_span(world)
    u = staples.user
    due = ((day - staples.phase) % staples.cycle == 0) & (first[u] <= day) & (end[u] > day)
    due &= world.launch_day[staples.product] <= day
    idx = np.flatnonzero(due)
    idx = idx[rng.random(len(idx)) < DUE_BUY_RATE]
    if len(idx) == 0:
        return EventBatch.empty()
    users, session_of = np.unique(u[idx], return_inverse=True)
    n = len(users)
    favourite = world.user_prefs[users].argmax(axis=1)
    n_add = rng.integers(0, ADD_ONS + 1, size=n)
    add_session = np.repeat(np.arange(n), n_add)
    add_product = sample_products(favourite[add_session], rng) if len(add_session) else np.zeros(0, np.int64)
    session = np.concatenate([session_of, add_session]).astype(np.int64)
    product = np.concatenate([staples.product[idx], add_product]).astype(np.int64)
    # a basket may name a product twice (a staple that is also an add-on): one line
    _, once = np.unique(session * world.n_products + product, return_index=True)
    session, product = session[once], product[once]
    order = np.argsort(session, kind="stable")
    session, product = session[order], product[order]
    hour_cs = np.cumsum(HOUR_WEIGHTS)
    hour = np.minimum(np.searchsorted(hour_cs, rng.random(n) * hour_cs[-1], side="right"), 23)
    start = hour * HOUR_MS + rng.integers(0, HOUR_MS // 2, size=n)
    k = len(session)
    rank = np.arange(k) - np.searchsorted(session, session, side="left")
    t_view = start[session] + rank * 30_000
    t_cart = t_view + 10_000
    t_buy = start[session] + 30_000 * np.bincount(session, minlength=n)[session] + 60_000 + rank
    qty = np.minimum(rng.geometric(0.8, size=k), 6)
    return EventBatch(
        event_id=np.zeros(3 * k, dtype=np.int64),
        time_ms=np.concatenate([t_view, t_cart, t_buy]).astype(np.int64),
        etype=np.concatenate([np.full(k, VIEW), np.full(k, CART), np.full(k, PURCHASE)]).astype(np.int64),
        user=np.tile(users[session], 3).astype(np.int64),
        session=np.tile(session, 3),
        product=np.tile(product, 3),
        price_cents=np.tile(price[product], 3),
        qty=np.concatenate([np.ones(2 * k, dtype=np.int64), qty]),
        order=np.concatenate([np.full(2 * k, -1), session]).astype(np.int64),
    )


def shape_world(world: World, config, rng: np.random.Generator) -> None:
    """Give the world the shape of config.profile (nothing for the default); called before the days
    are simulated, from the profile's own random stream."""
    if config.profile == "cohort":
        apply_cohort(world, rng)
        world.activity = active_weight(world)
    elif config.profile == "grocery":
        world.staples = build_staples(world, config.events, rng)
