"""A tiny hand-written shop for the feature tests: catalog, marketing and staging.events rows.

Days 2025-01-01 .. 2025-01-05 are the history (hand-computed values in the tests), and
2025-01-06 / 2025-01-07 hold the purchases the labels see. 2025-01-01 is a Wednesday.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from shop_pipeline.warehouse.connection import connect

D = dt.date
T = dt.datetime
INGESTED_AT = T(2025, 2, 1)

PRODUCTS = [
    # product_id, name, category, brand, base_price, launched_on
    ("pA", "toy", "toys", "B1", 10.0, D(2024, 12, 1)),
    ("pB", "book", "books", "B2", 20.0, D(2025, 1, 3)),
]
PROMOTIONS = [("pA", D(2025, 1, 3), D(2025, 1, 4), 0.5)]
AD_SPEND = [(D(2025, 1, 1), "toys", 100.0), (D(2025, 1, 2), "toys", 200.0), (D(2025, 1, 1), "books", 50.0)]

# event_id, event_time, event_type, user_id, session_id, product_id, price, quantity, order_id
EVENTS = [
    ("e01", T(2025, 1, 1, 10, 0), "view", "u1", "s1", "pA", 10.0, 1, None),
    ("e02", T(2025, 1, 1, 10, 5), "cart", "u1", "s1", "pA", 10.0, 1, None),
    ("e03", T(2025, 1, 1, 10, 10), "purchase", "u1", "s1", "pA", 10.0, 2, "o1"),
    ("e04", T(2025, 1, 1, 11, 0), "view", "u2", "s2", "pA", 10.0, 1, None),
    ("e05", T(2025, 1, 2, 9, 0), "view", "u2", "s3", "pA", 10.0, 1, None),
    ("e06", T(2025, 1, 2, 9, 30), "purchase", "u2", "s3", "pA", 10.0, 1, "o2"),
    ("e07", T(2025, 1, 4, 12, 0), "view", "u1", "s4", "pB", 20.0, 1, None),
    ("e08", T(2025, 1, 4, 12, 10), "purchase", "u1", "s4", "pB", 20.0, 1, "o3"),
    ("e09", T(2025, 1, 4, 12, 10), "purchase", "u1", "s4", "pA", 5.0, 1, "o3"),
    ("e10", T(2025, 1, 5, 8, 0), "view", "u3", "s5", "pA", 10.0, 1, None),
    # after the cut-off of as_of 2025-01-05: what the labels see
    ("e11", T(2025, 1, 6, 10, 0), "purchase", "u1", "s6", "pA", 10.0, 3, "o4"),
    ("e12", T(2025, 1, 7, 10, 0), "purchase", "u2", "s7", "pB", 20.0, 1, "o5"),
]
CATEGORY = {"pA": ("toys", "B1"), "pB": ("books", "B2")}


def insert_events(con: duckdb.DuckDBPyConnection, events, partition_date: dt.date | None = None) -> None:
    """Insert events into staging.events; each lands on its own day unless partition_date is given."""
    rows = []
    for line, (event_id, time, kind, user, session, product, price, quantity, order) in enumerate(events, start=1):
        category, brand = CATEGORY.get(product, (None, None))
        day = partition_date or time.date()
        rows.append(
            (
                day,
                event_id,
                time,
                kind,
                user,
                session,
                product,
                category,
                brand,
                price,
                quantity,
                order,
                time.date() < day,
                f"events/events_{day}.csv",
                line,
                INGESTED_AT,
            )
        )
    con.executemany("INSERT INTO staging.events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def make_shop(path: Path, events=EVENTS, products=PRODUCTS, promotions=PROMOTIONS, ad_spend=AD_SPEND) -> Path:
    with connect(path) as con:
        if products:
            con.executemany("INSERT INTO raw.products VALUES (?, ?, ?, ?, ?, ?)", products)
        if promotions:
            con.executemany("INSERT INTO raw.promotions VALUES (?, ?, ?, ?)", promotions)
        if ad_spend:
            con.executemany("INSERT INTO raw.ad_spend VALUES (?, ?, ?)", ad_spend)
        insert_events(con, events)
    return path


def random_shop(path: Path, seed: int = 7, n_events: int = 3000, days: int = 40, products: int = 25) -> Path:
    """A random shop (no catalog): products appear on different days, many days without sales."""
    rng = np.random.default_rng(seed)
    start = T(2025, 3, 1)
    product_ids = np.array([f"r{i:03d}" for i in range(products)])
    debut = rng.integers(0, days - 1, size=products)  # product i sells from day debut[i] on
    product = rng.integers(0, products, size=n_events)
    offset_s = debut[product] * 86400 + rng.integers(0, (days - debut[product]) * 86400)
    kind = rng.choice(["view", "cart", "purchase", "remove_from_cart"], p=[0.6, 0.2, 0.15, 0.05], size=n_events)
    frame = pd.DataFrame(
        {
            "event_id": [f"x{i:06d}" for i in range(n_events)],
            "event_time": pd.to_datetime(start) + pd.to_timedelta(offset_s, unit="s"),
            "event_type": kind,
            "user_id": [f"u{u:03d}" for u in rng.integers(0, 200, size=n_events)],
            "session_id": [f"s{s:04d}" for s in rng.integers(0, 900, size=n_events)],
            "product_id": product_ids[product],
            "category": np.array(["c0", "c1", "c2"])[product % 3],
            "brand": "b",
            "price": np.round(5 + product * 1.5 + rng.integers(0, 3, size=n_events), 2),
            "quantity": rng.integers(1, 4, size=n_events).astype("int32"),
        }
    )
    frame["order_id"] = np.where(frame.event_type == "purchase", frame.event_id.str.replace("x", "o"), None)
    frame["partition_date"] = frame.event_time.dt.date
    with connect(path) as con:
        con.register("generated", frame)
        con.execute(
            """INSERT INTO staging.events BY NAME
               SELECT *, false AS is_late, 'random.csv' AS source_file, row_number() OVER () AS line,
                      TIMESTAMP '2025-06-01' AS ingested_at
               FROM generated"""
        )
        con.unregister("generated")
    return path
