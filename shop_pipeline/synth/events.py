"""Vectorised day-by-day simulation of shopping sessions.

A session belongs to one user and has a focus category (user preference x ad-spend lift).
It walks the funnel: several views (mostly of the focus category, by Zipf popularity, with
promoted products featured; a share of them in the customer's favourite taste, a small group
of related products they keep coming back to), each view may become a cart (more likely when the price is
discounted: price elasticity), some carts are removed, and some sessions check out every
remaining cart as one order. Fraudulent orders are added by fraud.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from shop_pipeline.synth.batch import CART, NO_ORDER, PURCHASE, REMOVE, VIEW, EventBatch
from shop_pipeline.synth.config import GeneratorConfig
from shop_pipeline.synth.profiles import rebuy_day
from shop_pipeline.synth.world import HOUR_WEIGHTS, WEEKDAY_FACTORS, World, yearly_factor

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
_EPOCH = dt.date(1970, 1, 1)

FOCUS_SHARE = 0.85  # views inside the session's focus category
VIEW_CONTINUE = 0.3  # geometric parameter of the number of views per session (mean 1/0.3)
MAX_VIEWS = 25
CART_RATE = 0.085  # base view -> cart probability
PRICE_ELASTICITY = 2.2  # cart probability x (price / base price) ** -elasticity
REMOVE_RATE = 0.22
CHECKOUT_RATE = 0.45
PROMO_VIEW_LIFT = 1.5  # promoted products are featured: view weight x (1 + lift x discount)
TASTE_SHARE = 0.4  # views inside the customer's favourite taste (world.build_tastes)


def day_start_ms(day: dt.date) -> int:
    return (day - _EPOCH).days * DAY_MS


def daily_targets(world: World, config: GeneratorConfig) -> np.ndarray:
    """Events per day: weekday x yearly season x total ad spend, summing exactly to config.events."""
    spend = world.ad_spend.sum(axis=1)
    weights = np.array(
        [
            WEEKDAY_FACTORS[world.day(d).weekday()]
            * yearly_factor(world.day(d))
            * (0.85 + 0.15 * spend[d] / spend.mean())
            for d in range(config.days)
        ]
    )
    if world.activity is not None:  # cohort profile: the customers still there
        weights = weights * world.activity / world.activity.mean()
    exact = config.events * weights / weights.sum()
    targets = np.floor(exact).astype(np.int64)
    remainder = config.events - int(targets.sum())
    targets[np.argsort(-(exact - targets), kind="stable")[:remainder]] += 1
    return targets


@dataclass
class DayContext:
    """What every session of one day shares: prices, product and user sampling tables."""

    day: int
    price: np.ndarray  # effective cents per product
    price_ratio: np.ndarray  # effective / base price
    product_cs: np.ndarray  # cumulative view weight, all products
    cat_cs: np.ndarray  # cumulative view weight over products ordered by category
    cat_base: np.ndarray  # (K,) cumulative weight before each category's block
    cat_total: np.ndarray  # (K,) total weight of each category's block
    user_cs: np.ndarray  # cumulative user activity weight
    cat_lift: np.ndarray  # (K,) ad-spend lift of the day
    taste_cs: np.ndarray | None = None  # cumulative view weight over products ordered by taste
    taste_base: np.ndarray | None = None
    taste_total: np.ndarray | None = None


def searchsorted_weighted(cs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indices drawn with weights whose cumulative sum is cs, for uniforms u in [0, 1)."""
    return np.minimum(np.searchsorted(cs, u * cs[-1], side="right"), len(cs) - 1)


class DaySimulator:
    def __init__(self, world: World, config: GeneratorConfig) -> None:
        self.world = world
        self.config = config
        self.targets = daily_targets(world, config)
        self.cat_order = np.argsort(world.product_category, kind="stable")
        sorted_cats = world.product_category[self.cat_order]
        k = world.n_categories
        self.cat_lo = np.searchsorted(sorted_cats, np.arange(k), side="left")
        self.cat_hi = np.searchsorted(sorted_cats, np.arange(k), side="right")
        if world.product_taste is not None:
            self.taste_order = np.argsort(world.product_taste, kind="stable")
            sorted_tastes = world.product_taste[self.taste_order]
            n_tastes = int(world.product_taste.max()) + 1
            self.taste_lo = np.searchsorted(sorted_tastes, np.arange(n_tastes), side="left")
            self.taste_hi = np.searchsorted(sorted_tastes, np.arange(n_tastes), side="right")
        self.hour_cs = np.cumsum(HOUR_WEIGHTS)
        spend_norm = world.ad_spend / world.ad_spend.mean(axis=0, keepdims=True)
        previous = np.vstack([spend_norm[:1], spend_norm[:-1]])
        self.cat_lift_by_day = 0.5 + 0.5 * (0.7 * spend_norm + 0.3 * previous)
        self.mean_prefs = world.user_prefs.mean(axis=0)
        self.mean_events_per_session = 4.0
        # running counters: ids are global and deterministic
        self.next_event = 1
        self.next_session = 1
        self.next_order = 1
        self.next_fraud_account = 0

    # ------------------------------------------------------------------ context
    def context(self, d: int) -> DayContext:
        w = self.world
        price = w.price_cents(d)
        weight = w.popularity * (w.launch_day <= d) * (1.0 + PROMO_VIEW_LIFT * w.discount[d])
        cat_cs = np.cumsum(weight[self.cat_order])
        cat_base = np.where(self.cat_lo > 0, cat_cs[np.maximum(self.cat_lo - 1, 0)], 0.0)
        cat_total = cat_cs[np.maximum(self.cat_hi - 1, 0)] - cat_base
        fade = np.clip((w.user_churn - d) / 21.0, 0.3, 1.0)
        active = (w.user_signup <= d) & (w.user_churn > d)
        user_weight = w.user_intensity * active * fade * np.where(w.user_signup == d, 3.0, 1.0)
        if user_weight.sum() <= 0:
            user_weight = w.user_intensity + 1e-9
        tastes = {}
        if w.product_taste is not None:
            taste_cs = np.cumsum(weight[self.taste_order])
            taste_base = np.where(self.taste_lo > 0, taste_cs[np.maximum(self.taste_lo - 1, 0)], 0.0)
            tastes = {
                "taste_cs": taste_cs,
                "taste_base": taste_base,
                "taste_total": taste_cs[np.maximum(self.taste_hi - 1, 0)] - taste_base,
            }
        return DayContext(
            day=d,
            price=price,
            price_ratio=price / w.base_cents,
            product_cs=np.cumsum(weight),
            cat_cs=cat_cs,
            cat_base=cat_base,
            cat_total=cat_total,
            user_cs=np.cumsum(user_weight),
            cat_lift=self.cat_lift_by_day[d],
            **tastes,
        )

    def sample_products(self, ctx: DayContext, categories: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Products by popularity within the given categories."""
        u = rng.random(len(categories))
        target = ctx.cat_base[categories] + u * ctx.cat_total[categories]
        pos = np.searchsorted(ctx.cat_cs, target, side="right")
        pos = np.clip(pos, self.cat_lo[categories], self.cat_hi[categories] - 1)
        return self.cat_order[pos]

    def sample_tastes(self, ctx: DayContext, tastes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Products by popularity within the given tastes (a taste with no launched product:
        its first product, as sample_products does for categories)."""
        target = ctx.taste_base[tastes] + rng.random(len(tastes)) * ctx.taste_total[tastes]
        pos = np.searchsorted(ctx.taste_cs, target, side="right")
        pos = np.clip(pos, self.taste_lo[tastes], self.taste_hi[tastes] - 1)
        return self.taste_order[pos]

    # ------------------------------------------------------------------ sessions
    def _sessions(
        self, ctx: DayContext, n: int, rng: np.random.Generator, taste_rng: np.random.Generator | None = None
    ) -> tuple[EventBatch, np.ndarray]:
        """n legitimate sessions (session = local number 0..n-1); returns events and events per session."""
        w = self.world
        user = searchsorted_weighted(ctx.user_cs, rng.random(n))
        probs = w.user_prefs[user] * ctx.cat_lift[None, :]
        cum = np.cumsum(probs, axis=1)
        focus = (cum < (rng.random(n) * cum[:, -1])[:, None]).sum(axis=1)
        focus = np.minimum(focus, w.n_categories - 1)
        hour = searchsorted_weighted(self.hour_cs, rng.random(n))
        start = hour * HOUR_MS + rng.integers(0, HOUR_MS, size=n)
        n_views = np.minimum(rng.geometric(VIEW_CONTINUE, size=n), MAX_VIEWS)

        # views
        sess_v = np.repeat(np.arange(n), n_views)
        n_v = len(sess_v)
        in_focus = rng.random(n_v) < FOCUS_SHARE
        prod_v = searchsorted_weighted(ctx.product_cs, rng.random(n_v))
        prod_v[in_focus] = self.sample_products(ctx, focus[sess_v[in_focus]], rng)
        if taste_rng is not None and ctx.taste_cs is not None:
            # its own random stream: the other draws of the day stay as they were
            in_taste = np.flatnonzero(taste_rng.random(n_v) < TASTE_SHARE)
            prod_v[in_taste] = self.sample_tastes(ctx, w.user_taste[user[sess_v[in_taste]]], taste_rng)
        gap = (rng.exponential(40_000.0, size=n_v) + 2_000).astype(np.int64)
        csum = np.cumsum(gap)
        first = np.concatenate([[0], np.cumsum(n_views)[:-1]])
        t_v = start[sess_v] + csum - (csum[first] - gap[first])[sess_v]

        # carts (price elasticity: discounts lift the cart probability)
        p_cart = np.clip(CART_RATE * w.user_buy[user[sess_v]] * ctx.price_ratio[prod_v] ** -PRICE_ELASTICITY, 0, 0.9)
        c_idx = np.flatnonzero(rng.random(n_v) < p_cart)
        sess_c = sess_v[c_idx]
        prod_c = prod_v[c_idx]
        t_c = t_v[c_idx] + (rng.exponential(25_000.0, size=len(c_idx)) + 1_000).astype(np.int64)

        # removals
        removed = rng.random(len(c_idx)) < REMOVE_RATE
        r_idx = np.flatnonzero(removed)
        t_r = t_c[r_idx] + (rng.exponential(120_000.0, size=len(r_idx)) + 1_000).astype(np.int64)

        # checkout: every remaining cart of the session becomes a purchase row of one order
        remaining = np.bincount(sess_c[~removed], minlength=n) > 0
        p_checkout = np.clip(CHECKOUT_RATE * w.user_buy[user] ** 0.3, 0, 0.9)
        checkout = remaining & (rng.random(n) < p_checkout)
        p_idx = np.flatnonzero(~removed & checkout[sess_c])
        sess_p = sess_c[p_idx]
        end = np.zeros(n, dtype=np.int64)
        np.maximum.at(end, sess_v, t_v)
        np.maximum.at(end, sess_c, t_c)
        np.maximum.at(end, sess_c[r_idx], t_r)
        delay = (rng.exponential(60_000.0, size=n) + 2_000).astype(np.int64)
        if len(sess_p):
            group_start = np.concatenate([[0], np.flatnonzero(np.diff(sess_p)) + 1])
            sizes = np.diff(np.concatenate([group_start, [len(sess_p)]]))
            rank = np.arange(len(sess_p)) - np.repeat(group_start, sizes)
        else:
            rank = np.zeros(0, dtype=np.int64)
        t_p = end[sess_p] + delay[sess_p] + rank
        qty_p = np.minimum(rng.geometric(0.72, size=len(sess_p)), 12)

        sess = np.concatenate([sess_v, sess_c, sess_c[r_idx], sess_p])
        prod = np.concatenate([prod_v, prod_c, prod_c[r_idx], prod_c[p_idx]])
        etype = np.concatenate(
            [
                np.full(n_v, VIEW),
                np.full(len(c_idx), CART),
                np.full(len(r_idx), REMOVE),
                np.full(len(sess_p), PURCHASE),
            ]
        ).astype(np.int64)
        qty = np.concatenate([np.ones(n_v + len(c_idx) + len(r_idx), dtype=np.int64), qty_p])
        order = np.concatenate([np.full(n_v + len(c_idx) + len(r_idx), NO_ORDER), sess_p]).astype(np.int64)
        batch = EventBatch(
            event_id=np.zeros(len(sess), dtype=np.int64),
            time_ms=np.concatenate([t_v, t_c, t_r, t_p]).astype(np.int64),
            etype=etype,
            user=user[sess].astype(np.int64),
            session=sess.astype(np.int64),
            product=prod.astype(np.int64),
            price_cents=ctx.price[prod],
            qty=qty,
            order=order,
        )
        return batch, np.bincount(sess, minlength=n)

    def legit_day(
        self,
        ctx: DayContext,
        rng: np.random.Generator,
        taste_rng: np.random.Generator | None = None,
        profile_rng: np.random.Generator | None = None,
    ) -> EventBatch:
        """Sessions until the day's target number of events is reached (times relative to the day);
        on a grocery shop the regulars' re-buy baskets (from `profile_rng`) count towards it."""
        target = int(self.targets[ctx.day])
        parts: list[EventBatch] = []
        produced = 0
        sessions_so_far = 0
        rebuy = EventBatch.empty()
        if self.world.staples is not None and profile_rng is not None:  # grocery: the day's re-buy baskets first
            rebuy = rebuy_day(
                self.world,
                self.world.staples,
                ctx.day,
                ctx.price,
                lambda categories, r: self.sample_products(ctx, categories, r),
                profile_rng,
            )
            target -= len(rebuy)
        while produced < target:
            need = target - produced
            n = int(need / self.mean_events_per_session * 1.1) + 8
            batch, per_session = self._sessions(ctx, n, rng, taste_rng)
            self.mean_events_per_session = 0.5 * self.mean_events_per_session + 0.5 * len(batch) / n
            kept_sessions = int(np.searchsorted(np.cumsum(per_session), need, side="right"))
            if kept_sessions == 0:
                break
            batch = batch.take(np.flatnonzero(batch.session < kept_sessions))
            batch.session += sessions_so_far
            batch.order = np.where(batch.order >= 0, batch.order + sessions_so_far, NO_ORDER)
            sessions_so_far += kept_sessions
            produced += len(batch)
            parts.append(batch)
        if len(rebuy):
            rebuy.session += sessions_so_far
            rebuy.order = np.where(rebuy.order >= 0, rebuy.order + sessions_so_far, NO_ORDER)
            parts.append(rebuy)
        return EventBatch.concat(parts)

    # ------------------------------------------------------------------ ids
    def new_event_numbers(self, count: int) -> np.ndarray:
        """Fresh event numbers (e.g. for a producer's re-sent copy of an event)."""
        numbers = self.next_event + np.arange(count, dtype=np.int64)
        self.next_event += count
        return numbers

    def assign_ids(self, batch: EventBatch, d: int) -> tuple[EventBatch, dict[int, int]]:
        """Absolute times, and global session / order / event ids in order of time.

        Returns the batch and the map from local order keys to global order numbers.
        """
        batch.time_ms = batch.time_ms + day_start_ms(self.world.day(d))
        order_map: dict[int, int] = {}
        if not len(batch):
            return batch, order_map
        keys, inverse = np.unique(batch.session, return_inverse=True)
        first_time = np.full(len(keys), np.iinfo(np.int64).max)
        np.minimum.at(first_time, inverse, batch.time_ms)
        rank = np.empty(len(keys), dtype=np.int64)
        rank[np.lexsort((keys, first_time))] = np.arange(len(keys))
        batch.session = self.next_session + rank[inverse]
        self.next_session += len(keys)

        has_order = batch.order >= 0
        if has_order.any():
            okeys, oinv = np.unique(batch.order[has_order], return_inverse=True)
            ofirst = np.full(len(okeys), np.iinfo(np.int64).max)
            np.minimum.at(ofirst, oinv, batch.time_ms[has_order])
            orank = np.empty(len(okeys), dtype=np.int64)
            orank[np.lexsort((okeys, ofirst))] = np.arange(len(okeys))
            new_order = batch.order.copy()
            new_order[has_order] = self.next_order + orank[oinv]
            batch.order = new_order
            order_map = dict(zip(okeys.tolist(), (self.next_order + orank).tolist()))
            self.next_order += len(okeys)

        batch = batch.take(np.lexsort((batch.session, batch.time_ms)))
        batch.event_id = self.next_event + np.arange(len(batch), dtype=np.int64)
        self.next_event += len(batch)
        return batch, order_map
