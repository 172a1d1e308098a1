"""What online order features need from the history, and the features of one order (no DuckDB at request time).

The definitions are those of sql/order_features.sql (documented column by column in
features/order_features.py); this module computes them for one order in microseconds from
arrays the snapshot holds:

  risk_events.parquet      every event of every customer up to the cut-off: time, session,
                           category (for events before a session, categories touched)
  risk_orders.parquet      every order up to the cut-off: customer, key, time, amount
  risk_categories.parquet  per category and day: the sum of its events' unit prices and their count
                           (the point-in-time reference price of "expensive")
  risk_hours.parquet       per day and UTC hour: the shop's orders (how usual the hour is)

An order that the batch already scored, sent with the same lines and session facts, gets the
same feature values (shop_pipeline_tests/serving/test_order_risk.py checks every order of a
generated shop). The session facts (when the session began, its views and carts before the
order, its first cart) come with the request: the checkout knows its session, the snapshot
only knows sessions up to the last run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

MS_PER_DAY = 86_400_000.0
HOUR_US = 3_600 * 1_000_000
DAY_US = 24 * HOUR_US
_CENT = Decimal("0.0001")

# The history the snapshot keeps, read from the warehouse with the leakage rule of
# sql/order_features.sql (events before the cut-off that had landed by as_of).
HISTORY_QUERIES = {
    "risk_events": """
        SELECT user_id, epoch_us(event_time) AS t_us, session_id, category
        FROM staging.events WHERE event_time < $cutoff AND partition_date <= $as_of
        ORDER BY user_id, t_us""",
    "risk_orders": """
        SELECT user_id, order_key, epoch_us(min(event_time)) AS t_us,
               CAST(sum(CAST(price AS DECIMAL(18, 4)) * quantity) AS VARCHAR) AS amount
        FROM (SELECT *, coalesce(order_id, event_id) AS order_key FROM staging.events
              WHERE event_time < $cutoff AND partition_date <= $as_of AND event_type = 'purchase')
        GROUP BY user_id, order_key
        ORDER BY user_id, t_us, order_key""",
    "risk_categories": """
        SELECT category, CAST(event_time AS DATE) AS day, CAST(sum(CAST(price AS DECIMAL(18, 4))) AS VARCHAR) AS price_sum,
               count(*) AS n
        FROM staging.events
        WHERE event_time < $cutoff AND partition_date <= $as_of AND category IS NOT NULL
        GROUP BY ALL ORDER BY category, day""",
    "risk_hours": """
        SELECT CAST(t AS DATE) AS day, hour(t) AS hour, count(*) AS n
        FROM (SELECT min(event_time) AS t FROM staging.events
              WHERE event_time < $cutoff AND partition_date <= $as_of AND event_type = 'purchase'
              GROUP BY user_id, coalesce(order_id, event_id))
        GROUP BY ALL ORDER BY day, hour""",
}


# Every order of features.order_features as the checkout would send it (consistency tests and
# benchmarks/serve.py): its purchase lines, and its session facts (the session's start and first
# cart come back from the batch's own seconds-before-the-order).
ORDERS_AS_SENT = """
SELECT f.order_id, f.customer_id, f.order_time, f.session_id, f.session_views, f.session_carts,
       f.order_time - to_milliseconds(CAST(round(f.session_seconds * 1000) AS BIGINT)) AS session_started_at,
       CASE WHEN f.cart_to_purchase_seconds IS NOT NULL
            THEN f.order_time - to_milliseconds(CAST(round(f.cart_to_purchase_seconds * 1000) AS BIGINT)) END AS first_cart_at,
       list({'product_id': e.product_id, 'category': e.category, 'price': e.price, 'quantity': e.quantity}
            ORDER BY e.event_time, e.event_id) AS items
FROM features.order_features AS f
JOIN staging.events AS e
  ON e.user_id = f.customer_id AND coalesce(e.order_id, e.event_id) = f.order_id AND e.event_type = 'purchase'
GROUP BY ALL
ORDER BY f.order_time, f.order_id
"""


def export_history(con: duckdb.DuckDBPyConnection, folder: Path, as_of: dt.date) -> dict[str, int]:
    """Write the four history files into `folder`; their row counts."""
    cutoff = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    from shop_pipeline.ml.common.snapshot_files import write_parquet

    return {
        name: write_parquet(con, query, folder / f"{name}.parquet", {"as_of": as_of, "cutoff": cutoff})
        for name, query in HISTORY_QUERIES.items()
    }


@dataclass(frozen=True)
class OrderLine:
    product_id: str
    category: str | None
    price: float
    quantity: int


@dataclass(frozen=True)
class OnlineOrder:
    customer_id: str
    order_id: str
    order_time: dt.datetime  # UTC, naive
    session_id: str | None
    lines: tuple[OrderLine, ...]
    session_started_at: dt.datetime | None = None  # the session's first event (None: no session)
    session_views: int = 0  # views / carts of the session before the order
    session_carts: int = 0  # (since the session's previous order)
    first_cart_at: dt.datetime | None = None  # the first of those carts

    @classmethod
    def from_row(cls, row) -> OnlineOrder:
        """An order from a row of ORDERS_AS_SENT (a pandas itertuples row)."""

        def at(value):
            return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()

        return cls(
            customer_id=row.customer_id,
            order_id=row.order_id,
            order_time=at(row.order_time),
            session_id=row.session_id,
            session_started_at=at(row.session_started_at) if row.session_id is not None else None,
            session_views=int(row.session_views),
            session_carts=int(row.session_carts),
            first_cart_at=at(row.first_cart_at),
            lines=tuple(
                OrderLine(i["product_id"], i["category"], float(i["price"]), int(i["quantity"])) for i in row.items
            ),
        )

    def to_request(self) -> dict:
        """The body of POST /v1/orders/risk for this order."""
        return {
            "customer_id": self.customer_id,
            "order_id": self.order_id,
            "order_time": self.order_time.isoformat(),
            "session_id": self.session_id,
            "session_views": self.session_views,
            "session_carts": self.session_carts,
            "session_started_at": self.session_started_at.isoformat() if self.session_started_at else None,
            "first_cart_at": self.first_cart_at.isoformat() if self.first_cart_at else None,
            "items": [vars(line) for line in self.lines],
        }


def _us(value: dt.datetime) -> int:
    return int((value - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1))


def _ms(us: int) -> int:
    return us // 1000


def _decimal(value: float) -> Decimal:
    """DuckDB's CAST(DOUBLE AS DECIMAL(18, 4))."""
    return Decimal(repr(float(value))).quantize(_CENT, rounding=ROUND_HALF_EVEN)


def _spans(keys: np.ndarray) -> dict[str, tuple[int, int]]:
    if not len(keys):
        return {}
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    return {keys[s]: (int(s), int(e)) for s, e in zip(starts, ends)}


class OrderHistory:
    """The snapshot's history arrays, indexed by customer; `features` computes one order's row."""

    def __init__(self, folder: Path, expensive_ratio: float):
        self.expensive_ratio = expensive_ratio
        events = pd.read_parquet(folder / "risk_events.parquet")
        self._event_spans = _spans(events["user_id"].to_numpy())
        self._event_t = events["t_us"].to_numpy(np.int64)
        self._event_session = events["session_id"].to_numpy()
        self._event_category = events["category"].to_numpy()
        orders = pd.read_parquet(folder / "risk_orders.parquet")
        self._order_spans = _spans(orders["user_id"].to_numpy())
        self._order_key = orders["order_key"].to_numpy()
        self._order_t = orders["t_us"].to_numpy(np.int64)
        self._order_amount = [Decimal(a) for a in orders["amount"]]
        categories = pd.read_parquet(folder / "risk_categories.parquet")
        self._category_days: dict[str, tuple[np.ndarray, list[Decimal], np.ndarray]] = {}
        for category, group in categories.groupby("category", sort=False):
            days = pd.to_datetime(group["day"]).to_numpy().astype("datetime64[D]")
            sums = list(np.cumsum([Decimal(s) for s in group["price_sum"]]))
            self._category_days[category] = (days, sums, np.cumsum(group["n"].to_numpy(np.int64)))
        hours = pd.read_parquet(folder / "risk_hours.parquet")
        days = np.sort(pd.to_datetime(hours["day"]).unique().to_numpy().astype("datetime64[D]"))
        grid = np.zeros((len(days), 24), dtype=np.int64)
        grid[
            np.searchsorted(days, pd.to_datetime(hours["day"]).to_numpy().astype("datetime64[D]")),
            hours["hour"].to_numpy(),
        ] = hours["n"].to_numpy()
        self._hour_days = days
        self._hour_cumulative = np.vstack([np.zeros((1, 24), dtype=np.int64), np.cumsum(grid, axis=0)])

    def knows(self, customer_id: str) -> bool:
        return customer_id in self._event_spans

    def _reference_price(self, category: str | None, day: np.datetime64) -> float | None:
        """The category's mean unit price over its events of the days before `day`."""
        found = self._category_days.get(category) if category is not None else None
        if found is None:
            return None
        days, sums, counts = found
        before = int(np.searchsorted(days, day, side="left"))
        if before == 0:
            return None
        return float(sums[before - 1]) / int(counts[before - 1])

    def features(self, order: OnlineOrder) -> dict[str, object]:
        """The order's row of features.order_features (the columns the risk model reads, and its keys)."""
        t = _us(order.order_time)
        day = np.datetime64(order.order_time.date(), "D")
        lines = order.lines
        amounts = [_decimal(line.price) * line.quantity for line in lines]
        amount = sum(amounts, Decimal(0))
        units = sum(line.quantity for line in lines)
        references = [self._reference_price(line.category, day) for line in lines]
        expensive = sum(
            (
                a
                for a, line, r in zip(amounts, lines, references)
                if r is not None and line.price >= self.expensive_ratio * r
            ),
            Decimal(0),
        )
        ratios = [line.price / r for line, r in zip(lines, references) if r is not None and r != 0]
        row: dict[str, object] = {
            "order_id": order.order_id,
            "customer_id": order.customer_id,
            "order_time": order.order_time,
            "order_day": order.order_time.date(),
            "session_id": order.session_id,
            "amount": float(amount),
            "items": len(lines),
            "units": units,
            "distinct_products": len({line.product_id for line in lines}),
            "distinct_categories": len({line.category for line in lines if line.category is not None}),
            "max_item_price": max(line.price for line in lines),
            "mean_unit_price": float(amount) / units if units > 0 else None,
            "expensive_item_share": float(expensive / amount) if amount > 0 else 0.0,
            "max_price_vs_category": max(ratios) if ratios else None,
        }
        row.update(self._against_history(order, t, amount))
        started = self._started_at(order, t)
        row.update(self._before_session(order, started, t))
        row["session_views"] = int(order.session_views) if order.session_id is not None else 0
        row["session_carts"] = int(order.session_carts) if order.session_id is not None else 0
        row["cart_to_purchase_seconds"] = (
            (_ms(t) - _ms(_us(order.first_cart_at))) / 1000.0
            if order.first_cart_at is not None and order.session_id is not None
            else None
        )
        row["session_seconds"] = (_ms(t) - _ms(started)) / 1000.0
        row["order_hour"] = order.order_time.hour
        row["hour_order_share"] = self._hour_share(day, order.order_time.hour)
        return row

    def _against_history(self, order: OnlineOrder, t: int, amount: Decimal) -> dict[str, object]:
        start, end = self._order_spans.get(order.customer_id, (0, 0))
        previous, hour_count, day_count, day_amount = [], 0, 0, Decimal(0)
        for i in range(start, end):
            if self._order_key[i] == order.order_id:
                continue  # the order itself, when the batch already knows it
            other_t = int(self._order_t[i])
            if (other_t, self._order_key[i]) < (t, order.order_id):
                previous.append(i)
            if t - HOUR_US <= other_t <= t:
                hour_count += 1
            if t - DAY_US <= other_t <= t:
                day_count += 1
                day_amount += self._order_amount[i]
        amounts = [self._order_amount[i] for i in previous]
        mean = float(sum(amounts, Decimal(0)) / len(amounts)) if amounts else None
        std = float(np.std([float(a) for a in amounts], ddof=1)) if len(amounts) >= 2 else None
        last = max((int(self._order_t[i]) for i in previous), default=None)
        value = float(amount)
        return {
            "prev_orders": len(previous),
            "is_first_order": not previous,
            "prev_mean_amount": mean,
            "prev_std_amount": std,
            "amount_vs_customer_mean": value / mean if mean is not None and mean > 0 else None,
            "amount_zscore": (value - mean) / std if std is not None and std > 0 else None,
            "days_since_prev_order": (_ms(t) - _ms(last)) / MS_PER_DAY if last is not None else None,
            "orders_last_1h": hour_count,
            "orders_last_24h": day_count,
            "amount_last_24h": float(day_amount),
        }

    def _started_at(self, order: OnlineOrder, t: int) -> int:
        """The session's first event known anywhere (history or request), else the order's time."""
        if order.session_id is None:
            return t
        candidates = [t]
        if order.session_started_at is not None:
            candidates.append(_us(order.session_started_at))
        start, end = self._event_spans.get(order.customer_id, (0, 0))
        for i in range(start, end):
            if self._event_session[i] == order.session_id:
                candidates.append(int(self._event_t[i]))
                break  # events are in time order: the first match is the session's first event
        return min(candidates)

    def _before_session(self, order: OnlineOrder, started: int, t: int) -> dict[str, object]:
        start, end = self._event_spans.get(order.customer_id, (0, 0))
        times = self._event_t[start:end]
        first_seen = min(int(times[0]) if len(times) else t, started, t)
        before = int(np.searchsorted(times, started, side="left"))
        touched = {c for c in self._event_category[start : start + before] if c is not None}
        ordered = {line.category for line in order.lines if line.category is not None}
        new = len(ordered - touched)
        return {
            "account_age_days": (_ms(t) - _ms(first_seen)) / MS_PER_DAY,
            "customer_events_before": before,
            "categories_before": len(touched),
            "new_category_share": new / len(ordered) if ordered else None,
            "is_new_category": new > 0,
        }

    def _hour_share(self, day: np.datetime64, hour: int) -> float | None:
        before = int(np.searchsorted(self._hour_days, day, side="left"))
        earlier = self._hour_cumulative[before]
        total = int(earlier.sum())
        return int(earlier[hour]) / total if total > 0 else None
