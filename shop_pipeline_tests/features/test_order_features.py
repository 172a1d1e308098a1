"""features.order_features: hand-computed values, point in time, bad input."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from shop_pipeline.features.order_features import (
    ORDER_FEATURES,
    ORDER_FEATURES_NULLABLE,
    build_order_features,
    order_features_frame,
    read_order_features,
)
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.features.shop import make_shop, random_shop
from shop_pipeline_tests.landing_fixtures import event_line, write_events
from shop_pipeline_tests.warehouse.helpers import run_days

D = dt.date
T = dt.datetime
AS_OF = D(2025, 1, 3)

# event_id, event_time, event_type, user_id, session_id, product_id (pA toys, pB books), price, quantity, order_id
EVENTS = [
    ("a01", T(2025, 1, 1, 10, 0), "view", "u1", "s1", "pA", 10.0, 1, None),
    ("a02", T(2025, 1, 1, 10, 5), "cart", "u1", "s1", "pA", 10.0, 1, None),
    ("a03", T(2025, 1, 1, 10, 10), "purchase", "u1", "s1", "pA", 10.0, 2, "o1"),
    ("a04", T(2025, 1, 1, 11, 0), "view", "u2", "s2", "pA", 10.0, 1, None),
    ("a05", T(2025, 1, 1, 11, 30), "purchase", "u2", "s2", "pA", 10.0, 1, "o2"),
    ("a06", T(2025, 1, 2, 9, 0), "view", "u1", "s3", "pB", 20.0, 1, None),
    ("a07", T(2025, 1, 2, 9, 1), "cart", "u1", "s3", "pB", 20.0, 1, None),
    ("a08", T(2025, 1, 2, 9, 2), "purchase", "u1", "s3", "pB", 20.0, 1, "o3"),
    ("a09", T(2025, 1, 2, 9, 30), "purchase", "u1", "s4", "pA", 40.0, 1, "o4"),
    ("a10", T(2025, 1, 3, 12, 0), "purchase", "u1", "s5", "pA", 10.0, 1, "o5"),
    ("a11", T(2025, 1, 3, 13, 0), "purchase", "u3", "s6", "pB", 0.0, 1, "o6"),
    ("a12", T(2025, 1, 3, 14, 0), "purchase", "u3", "s7", "pB", 5.0, 1, "o7"),
    # after the cut-off of AS_OF
    ("a13", T(2025, 1, 4, 8, 0), "purchase", "u1", "s8", "pA", 10.0, 1, "o8"),
]


@pytest.fixture
def con(tmp_path):
    path = make_shop(tmp_path / "shop.duckdb", events=EVENTS)
    with connect(path) as connection:
        yield connection


def by_order(frame: pd.DataFrame) -> dict[str, dict]:
    return {row["order_id"]: row for row in frame.to_dict("records")}


def test_one_row_per_order_before_the_cut_off_in_time_order(con):
    frame = order_features_frame(con, AS_OF)
    assert list(frame.columns) == list(ORDER_FEATURES)
    assert frame["order_id"].tolist() == ["o1", "o2", "o3", "o4", "o5", "o6", "o7"]
    assert (frame["as_of"] == pd.Timestamp(AS_OF)).all()


def test_a_first_order_has_no_history(con):
    o1 = by_order(order_features_frame(con, AS_OF))["o1"]
    assert o1["is_first_order"] and o1["prev_orders"] == 0
    for column in (
        "prev_mean_amount",
        "prev_std_amount",
        "amount_vs_customer_mean",
        "amount_zscore",
        "days_since_prev_order",
        "hour_order_share",
        "max_price_vs_category",
    ):
        assert math.isnan(o1[column]), column
    assert o1["expensive_item_share"] == 0.0  # no earlier day of the category to compare with
    assert o1["amount"] == 20.0 and o1["units"] == 2 and o1["items"] == 1
    assert o1["account_age_days"] == pytest.approx(10 / 1440)  # first event 10:00, order 10:10
    assert (o1["session_views"], o1["session_carts"]) == (1, 1)
    assert o1["cart_to_purchase_seconds"] == 300.0 and o1["session_seconds"] == 600.0
    assert o1["customer_events_before"] == 0 and o1["categories_before"] == 0
    assert o1["is_new_category"] and o1["new_category_share"] == 1.0
    assert o1["order_hour"] == 10


def test_an_order_without_a_cart_has_no_cart_time(con):
    o2 = by_order(order_features_frame(con, AS_OF))["o2"]
    assert math.isnan(o2["cart_to_purchase_seconds"])
    assert (o2["session_views"], o2["session_carts"]) == (1, 0)


def test_history_bursts_new_categories_and_expensive_items(con):
    rows = by_order(order_features_frame(con, AS_OF))
    o3, o4, o5 = rows["o3"], rows["o4"], rows["o5"]
    # o3: u1's first touch of books is in o3's own session: a new category; toys came before
    assert o3["is_new_category"] and o3["categories_before"] == 1
    assert o3["customer_events_before"] == 3
    assert o3["prev_mean_amount"] == 20.0 and math.isnan(o3["prev_std_amount"])
    # o4 at 09:30 on day 2: o3 (09:02) within the hour, o1 (day 1 10:10) within the day
    assert (o4["orders_last_1h"], o4["orders_last_24h"], o4["amount_last_24h"]) == (1, 2, 40.0)
    assert o4["prev_orders"] == 2 and o4["prev_std_amount"] == 0.0
    assert math.isnan(o4["amount_zscore"])  # earlier orders all of one amount: no spread to compare with
    assert o4["amount_vs_customer_mean"] == 2.0
    # toys' reference price on day 2 is the mean of day 1's toys events (all at 10): 40 >= 1.5 x 10
    assert o4["max_price_vs_category"] == pytest.approx(4.0)
    assert o4["expensive_item_share"] == 1.0
    assert not o4["is_new_category"] and math.isnan(o4["cart_to_purchase_seconds"])
    # o4 is in hour 9; day 1's orders were at 10 and 11
    assert o4["hour_order_share"] == 0.0
    # o5: earlier amounts 20, 20, 40
    history = np.array([20.0, 20.0, 40.0])
    assert o5["prev_orders"] == 3
    assert o5["amount_zscore"] == pytest.approx((10.0 - history.mean()) / history.std(ddof=1))
    assert o5["days_since_prev_order"] == pytest.approx(
        (dt.timedelta(days=1, hours=2, minutes=30)) / dt.timedelta(days=1)
    )
    assert o5["account_age_days"] == pytest.approx(2 + 2 / 24)
    assert o5["customer_events_before"] == 7


def test_price_zero_is_an_ordinary_value(con):
    rows = by_order(order_features_frame(con, AS_OF))
    o6, o7 = rows["o6"], rows["o7"]
    assert o6["amount"] == 0.0 and o6["mean_unit_price"] == 0.0 and o6["expensive_item_share"] == 0.0
    assert o7["prev_mean_amount"] == 0.0
    assert math.isnan(o7["amount_vs_customer_mean"])  # a mean of 0 has no ratio


def test_only_nullable_columns_hold_nulls_and_the_table_matches_the_frame(con):
    frame = order_features_frame(con, AS_OF)
    for column in ORDER_FEATURES:
        if column not in ORDER_FEATURES_NULLABLE:
            assert frame[column].notna().all(), column
    assert build_order_features(con, AS_OF) == len(frame)
    pd.testing.assert_frame_equal(read_order_features(con), frame, check_exact=True)
    assert build_order_features(con, AS_OF) == len(frame)  # rebuilt whole, not appended


def test_no_purchase_gives_an_empty_table_and_no_data_is_an_error(tmp_path):
    path = make_shop(tmp_path / "views.duckdb", events=[e for e in EVENTS if e[2] != "purchase"])
    with connect(path) as con:
        assert len(order_features_frame(con, AS_OF)) == 0
        assert build_order_features(con, AS_OF) == 0
        with pytest.raises(ValueError, match="before the first landed day"):
            order_features_frame(con, D(2024, 12, 31))
    with connect(tmp_path / "empty.duckdb") as con, pytest.raises(ValueError, match="no events have landed"):
        order_features_frame(con, AS_OF)


def test_point_in_time_later_events_change_no_earlier_order(tmp_path):
    path = random_shop(tmp_path / "random.duckdb", n_events=4000, days=30)
    with connect(path) as con:
        as_of = con.execute("SELECT max(partition_date) FROM staging.events").fetchall()[0][0]
        before = order_features_frame(con, as_of)
        split = before["order_time"].iloc[len(before) // 2].to_pydatetime()
        # copies of a fifth of the events (same customers, sessions, products and categories,
        # other prices and quantities, new orders) moved to the ten days from `split` on
        con.execute(
            """INSERT INTO staging.events BY NAME
               SELECT CAST(t AS DATE) AS partition_date, 'late-' || event_id AS event_id, t AS event_time,
                      event_type, user_id, session_id, product_id, category, brand, price * 3 + 1 AS price,
                      quantity + 2 AS quantity, 'late-' || order_id AS order_id, false AS is_late,
                      'late.csv' AS source_file, line, ingested_at
               FROM (SELECT *, $split + to_seconds(CAST(hash(event_id) % 864000 AS BIGINT)) AS t
                     FROM staging.events)
               WHERE hash(event_id) % 5 = 0 AND t < $cutoff""",
            {"split": split, "cutoff": dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())},
        )
        assert con.execute("SELECT count(*) FROM staging.events WHERE event_id LIKE 'late-%'").fetchall()[0][0] > 300
        after = order_features_frame(con, as_of)
        earlier_as_of = (split - dt.timedelta(days=3)).date()
        at_earlier_cutoff = order_features_frame(con, earlier_as_of)
    assert len(after) > len(before)
    unchanged = before[before["order_time"] < split].reset_index(drop=True)
    assert len(unchanged) > 100
    pd.testing.assert_frame_equal(
        after[after["order_time"] < split].reset_index(drop=True), unchanged, check_exact=True
    )
    # and an earlier cut-off sees the same rows for its orders (only as_of differs)
    common = (
        unchanged[unchanged["order_day"] <= pd.Timestamp(earlier_as_of)].drop(columns="as_of").reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(at_earlier_cutoff.drop(columns="as_of"), common, check_exact=True)


def test_a_purchase_line_without_price_is_quarantined_and_the_order_keeps_its_priced_lines(tmp_path):
    landing = tmp_path / "landing"
    write_events(
        landing,
        "events_2025-01-02.csv",
        [
            event_line(
                "e1", "2025-01-02T10:00:00.000Z", "purchase", product="p1", price="10.00", quantity="2", order="o1"
            ),
            event_line("e2", "2025-01-02T10:00:00.000Z", "purchase", product="p2", price="", order="o1"),
            event_line("e3", "2025-01-02T11:00:00.000Z", "purchase", user="u2", product="p2", price="", order="o2"),
        ],
    )
    with connect(tmp_path / "shop.duckdb") as con:
        run_days(con, landing, [D(2025, 1, 2)])
        quarantined = con.execute("SELECT event_id, reason_code FROM staging.quarantined_events ORDER BY 1").fetchall()
        frame = order_features_frame(con, D(2025, 1, 2))
    assert quarantined == [("e2", "missing_price"), ("e3", "missing_price")]
    assert frame["order_id"].tolist() == ["o1"]  # o2 lost its only line
    assert (frame.loc[0, "amount"], frame.loc[0, "items"], frame.loc[0, "units"]) == (20.0, 1, 2)
