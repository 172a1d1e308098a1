"""Feature tables on a hand-written shop: values, grid, leakage, labels, fallbacks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from shop_pipeline.features import columns as fc
from shop_pipeline.features import tables as ft
from shop_pipeline.features.columns import (
    CUSTOMER_FEATURES,
    CUSTOMER_LABELS,
    PRODUCT_DAILY_SALES,
)
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.features.shop import (
    D,
    T,
    insert_events,
    make_shop,
    random_shop,
)

AS_OF = D(2025, 1, 5)
CUTOFF = T(2025, 1, 6)


def days(delta: dt.timedelta) -> float:
    return delta.total_seconds() / 86400


@pytest.fixture
def shop(tmp_path):
    return make_shop(tmp_path / "w.duckdb")


def product_rows(frame: pd.DataFrame, product: str) -> pd.DataFrame:
    rows = frame[frame.product_id == product].copy()
    rows["day"] = pd.to_datetime(rows["day"]).dt.date
    return rows.set_index("day")


def test_cutoff_and_default_as_of(tmp_path, shop):
    assert fc.cutoff_for(AS_OF) == CUTOFF
    with connect(shop) as con:
        assert ft.default_as_of(con) == D(2025, 1, 7)
    with connect(tmp_path / "empty.duckdb") as con:
        assert ft.default_as_of(con) is None


def test_product_daily_sales_hand_computed(shop):
    with connect(shop) as con:
        frame = ft.product_daily_sales_frame(con, AS_OF)
    assert tuple(frame.columns) == PRODUCT_DAILY_SALES
    # pA launched before the data: from the first landed day; pB from its launch day (before its first event)
    a, b = product_rows(frame, "pA"), product_rows(frame, "pB")
    assert list(a.index) == [D(2025, 1, d) for d in range(1, 6)]
    assert list(b.index) == [D(2025, 1, d) for d in range(3, 6)]
    assert len(frame) == 8

    assert a["units"].tolist() == [2, 1, 0, 1, 0]
    assert a["revenue"].tolist() == [20.0, 10.0, 0.0, 5.0, 0.0]
    assert a["views"].tolist() == [2, 1, 0, 0, 1]
    assert a["carts"].tolist() == [1, 0, 0, 0, 0]
    assert a["purchases"].tolist() == [1, 1, 0, 1, 0]
    assert a["orders"].tolist() == [1, 1, 0, 1, 0]
    assert a["conversion"].tolist() == [0.5, 1.0, 0.0, 0.0, 0.0]  # day 4: a purchase without a view
    assert a["avg_paid_price"].tolist()[:2] == [10.0, 10.0] and np.isnan(a.loc[D(2025, 1, 3), "avg_paid_price"])
    assert a.loc[D(2025, 1, 4), "avg_paid_price"] == 5.0
    # the day's mean event price, else the last known price
    assert a["shown_price"].tolist() == [10.0, 10.0, 10.0, 5.0, 10.0]
    assert a["list_price"].tolist() == [10.0] * 5
    assert a["promo_discount_pct"].tolist() == [0.0, 0.0, 0.5, 0.5, 0.0]  # end date inclusive
    assert a["is_promo"].tolist() == [False, False, True, True, False]
    assert a["ad_spend"].tolist() == [100.0, 200.0, 0.0, 0.0, 0.0]
    assert a["day_of_week"].tolist() == [3, 4, 5, 6, 7]
    assert a["is_weekend"].tolist() == [False, False, False, True, True]
    assert a["day_of_year"].tolist() == [1, 2, 3, 4, 5] and set(a["month"]) == {1}
    # lags and rolling means: only days before `day`
    assert np.isnan(a.loc[D(2025, 1, 1), "units_lag_1"])
    assert a["units_lag_1"].tolist()[1:] == [2, 1, 0, 1]
    assert a["units_lag_7"].isna().all() and a["units_lag_14"].isna().all()
    assert np.isnan(a.loc[D(2025, 1, 1), "units_rolling_mean_7"])
    assert a["units_rolling_mean_7"].tolist()[1:] == [2.0, 1.5, 1.0, 1.0]
    assert a["units_rolling_mean_28"].tolist()[1:] == [2.0, 1.5, 1.0, 1.0]
    # reference price: mean shown price of the earlier days
    assert np.isnan(a.loc[D(2025, 1, 1), "ref_price_28d"]) and a.loc[D(2025, 1, 1), "discount_vs_ref"] == 0.0
    assert a.loc[D(2025, 1, 4), "ref_price_28d"] == pytest.approx(10.0)
    assert a.loc[D(2025, 1, 4), "discount_vs_ref"] == pytest.approx(0.5)
    assert a.loc[D(2025, 1, 5), "ref_price_28d"] == pytest.approx(8.75)
    assert a.loc[D(2025, 1, 5), "discount_vs_ref"] == pytest.approx(1 - 10 / 8.75)

    assert b["units"].tolist() == [0, 1, 0]
    assert b["views"].tolist() == [0, 1, 0]
    assert b["conversion"].tolist() == [0.0, 1.0, 0.0]
    assert b["shown_price"].tolist() == [20.0, 20.0, 20.0]  # list price before any event
    assert b["ad_spend"].tolist() == [0.0, 0.0, 0.0]
    assert set(b["category"]) == {"books"} and set(b["brand"]) == {"B2"}


def test_first_day_keeps_history_for_lags(shop):
    with connect(shop) as con:
        full = ft.product_daily_sales_frame(con, AS_OF)
        tail = ft.product_daily_sales_frame(con, AS_OF, first_day=D(2025, 1, 4))
    expected = full[pd.to_datetime(full["day"]).dt.date >= D(2025, 1, 4)].reset_index(drop=True)
    pd.testing.assert_frame_equal(tail, expected)


def test_customer_features_hand_computed(shop):
    with connect(shop) as con:
        frame = ft.customer_features_frame(con, AS_OF)
    assert tuple(frame.columns) == CUSTOMER_FEATURES
    assert frame["customer_id"].tolist() == ["u1", "u2", "u3"]
    f = frame.set_index("customer_id")
    assert (pd.to_datetime(f["as_of"]).dt.date == AS_OF).all()

    u1 = f.loc["u1"]
    assert u1["first_seen"] == T(2025, 1, 1, 10, 0) and u1["last_seen"] == T(2025, 1, 4, 12, 10)
    assert u1["tenure_days"] == pytest.approx(days(CUTOFF - T(2025, 1, 1, 10, 0)))
    assert u1["recency_days"] == pytest.approx(days(CUTOFF - T(2025, 1, 4, 12, 10)))
    assert (u1["frequency"], u1["monetary"], u1["avg_order_value"]) == (2, 45.0, 22.5)  # o1 20 + o3 (20 + 5)
    assert (u1["sessions"], u1["views"], u1["carts"], u1["purchases"]) == (2, 2, 1, 3)
    assert u1["view_to_cart_rate"] == 0.5 and u1["cart_to_purchase_rate"] == 3.0
    assert u1["category_diversity"] == 2
    assert u1["days_since_last_view"] == pytest.approx(days(CUTOFF - T(2025, 1, 4, 12, 0)))
    assert u1["days_since_last_cart"] == pytest.approx(days(CUTOFF - T(2025, 1, 1, 10, 5)))
    assert u1["mean_interpurchase_days"] == pytest.approx(days(T(2025, 1, 4, 12, 10) - T(2025, 1, 1, 10, 10)))
    assert (u1["orders_last_30d"], u1["orders_last_90d"], u1["spend_last_30d"], u1["spend_last_90d"]) == (
        2,
        2,
        45.0,
        45.0,
    )

    u2 = f.loc["u2"]
    assert (u2["frequency"], u2["monetary"]) == (1, 10.0)
    assert u2["recency_days"] == pytest.approx(days(CUTOFF - T(2025, 1, 2, 9, 30)))
    assert np.isnan(u2["mean_interpurchase_days"])  # fewer than two orders
    assert u2["days_since_last_cart"] == fc.NO_EVENT_DAYS
    assert u2["view_to_cart_rate"] == 0.0 and u2["cart_to_purchase_rate"] == 0.0

    u3 = f.loc["u3"]  # one view, never bought: recency from first_seen
    assert (u3["frequency"], u3["monetary"], u3["avg_order_value"]) == (0, 0.0, 0.0)
    assert u3["recency_days"] == pytest.approx(days(CUTOFF - T(2025, 1, 5, 8, 0)))
    assert u3["recency_days"] == u3["tenure_days"]
    assert u3["days_since_last_cart"] == fc.NO_EVENT_DAYS


def test_orders_last_30d_window(tmp_path):
    events = [
        ("a", T(2025, 1, 1, 12), "purchase", "u1", "s1", "pA", 10.0, 1, "o1"),
        ("b", T(2025, 3, 1, 12), "purchase", "u1", "s2", "pA", 10.0, 1, "o2"),
        ("c", T(2025, 3, 31, 12), "purchase", "u1", "s3", "pA", 10.0, 2, "o3"),
    ]
    with connect(make_shop(tmp_path / "w.duckdb", events=events)) as con:
        u1 = ft.customer_features_frame(con, D(2025, 4, 5)).iloc[0]
    assert (u1["frequency"], u1["orders_last_30d"], u1["orders_last_90d"]) == (3, 1, 2)
    assert (u1["spend_last_30d"], u1["spend_last_90d"], u1["monetary"]) == (20.0, 30.0, 40.0)
    assert u1["mean_interpurchase_days"] == pytest.approx(89.0 / 2)


def test_labels_window_strictly_after_the_cutoff(shop):
    with connect(shop) as con:
        labels = ft.customer_labels_frame(con, AS_OF, 2)
        one_day = ft.customer_labels_frame(con, AS_OF, 1)
        # purchases at the window's edges: just before the cut-off, at it, at its end
        insert_events(
            con,
            [
                ("edge1", T(2025, 1, 5, 23, 59, 59, 999000), "purchase", "u3", "s8", "pA", 7.0, 1, "o7"),
                ("edge2", T(2025, 1, 6, 0, 0), "purchase", "u3", "s9", "pA", 3.0, 1, "o8"),
                ("edge3", T(2025, 1, 7, 0, 0), "purchase", "u3", "s9", "pA", 100.0, 1, "o9"),
            ],
        )
        edges = ft.customer_labels_frame(con, AS_OF, 1).set_index("customer_id")
        features = ft.customer_features_frame(con, AS_OF).set_index("customer_id")
    assert tuple(labels.columns) == CUSTOMER_LABELS
    assert labels["customer_id"].tolist() == ["u1", "u2", "u3"]
    assert labels["purchased"].tolist() == [True, True, False]
    assert labels["orders"].tolist() == [1, 1, 0]
    assert labels["spend"].tolist() == [30.0, 20.0, 0.0]
    assert set(labels["horizon_days"]) == {2} and (pd.to_datetime(labels["as_of"]).dt.date == AS_OF).all()
    assert one_day["purchased"].tolist() == [True, False, False]  # u2's purchase is on day 2 of the window
    # only the purchase at the cut-off counts; the one just before is a feature
    assert (edges.loc["u3", "purchased"], edges.loc["u3", "orders"], edges.loc["u3", "spend"]) == (True, 1, 3.0)
    assert features.loc["u3", "frequency"] == 1 and features.loc["u3", "monetary"] == 7.0


def test_labels_refuse_an_incomplete_window(shop):
    with connect(shop) as con:
        with pytest.raises(ValueError, match="past the last landed day 2025-01-07"):
            ft.customer_labels_frame(con, AS_OF, 3)
        partial = ft.customer_labels_frame(con, AS_OF, 3, allow_incomplete=True)
        with pytest.raises(ValueError, match="horizon_days"):
            ft.customer_labels_frame(con, AS_OF, 0)
    assert partial["orders"].tolist() == [1, 1, 0]


def _mutate_after_cutoff(con, cutoff: dt.datetime) -> None:
    """Everything at or after the cut-off changes; so does an event that lands after as_of."""
    con.execute(
        "UPDATE staging.events SET price = price * 7, quantity = quantity + 5 WHERE event_time >= $c", {"c": cutoff}
    )
    con.execute("DELETE FROM staging.events WHERE event_id = 'e11'")
    insert_events(
        con,
        [
            ("n1", cutoff, "purchase", "u1", "s1", "pA", 99.0, 9, "n-o1"),  # exactly at the cut-off
            (
                "n2",
                cutoff + dt.timedelta(hours=30),
                "purchase",
                "u9",
                "s9",
                "pZ",
                1.0,
                1,
                "n-o2",
            ),  # a new customer and product
            ("n3", cutoff + dt.timedelta(days=1), "view", "u2", "s2", "pB", 20.0, 1, None),
        ],
    )
    # clock skew: events at and just after the cut-off that landed in as_of's own partition
    insert_events(
        con,
        [
            ("skew1", cutoff, "purchase", "u1", "s4", "pB", 20.0, 2, "n-o4"),
            ("skew2", cutoff + dt.timedelta(minutes=30), "view", "u4", "s10", "pA", 10.0, 1, None),
        ],
        partition_date=cutoff.date() - dt.timedelta(days=1),
    )
    # a late event: it happened before the cut-off but landed the day after as_of
    insert_events(
        con,
        [("late", cutoff - dt.timedelta(hours=2), "purchase", "u3", "s5", "pA", 10.0, 4, "n-o3")],
        partition_date=cutoff.date(),
    )


def _frames(con, as_of):
    return {
        "product_daily_sales": ft.product_daily_sales_frame(con, as_of),
        "customer_features": ft.customer_features_frame(con, as_of),
        "future_product_days": ft.future_product_days_frame(con, as_of, 3),
    }


def test_no_leakage_features_ignore_events_at_or_after_the_cutoff(shop):
    as_of = D(2025, 1, 4)
    cutoff = fc.cutoff_for(as_of)
    with connect(shop) as con:
        before = _frames(con, as_of)
        labels_before = ft.customer_labels_frame(con, as_of, 2)
        ft.build_product_daily_sales(con, as_of)
        ft.build_customer_features(con, as_of)
        tables_before = {
            t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in (fc.PRODUCT_DAILY_SALES_TABLE, fc.CUSTOMER_FEATURES_TABLE)
        }

        _mutate_after_cutoff(con, cutoff)
        after = _frames(con, as_of)
        labels_after = ft.customer_labels_frame(con, as_of, 2)
        ft.build_product_daily_sales(con, as_of)
        ft.build_customer_features(con, as_of)
        tables_after = {
            t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in (fc.PRODUCT_DAILY_SALES_TABLE, fc.CUSTOMER_FEATURES_TABLE)
        }
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], check_exact=True)
        assert pd.util.hash_pandas_object(before[name]).tolist() == pd.util.hash_pandas_object(after[name]).tolist()
    assert tables_before == tables_after
    # the labels do see the change
    assert not labels_before.equals(labels_after)
    after_by_customer = labels_after.set_index("customer_id")
    assert labels_after["customer_id"].tolist() == ["u1", "u2"]  # u9 and u3 arrive after the cut-off
    assert (after_by_customer.loc["u1", "orders"], after_by_customer.loc["u1", "spend"]) == (
        2,
        99.0 * 9 + 40.0,
    )  # n1 and skew1, not e11
    assert labels_before.set_index("customer_id").loc["u1", "spend"] == 30.0


def test_built_tables_match_the_frames(shop):
    with connect(shop) as con:
        n_sales = ft.build_product_daily_sales(con, AS_OF)
        n_customers = ft.build_customer_features(con, AS_OF)
        n_labels = ft.build_customer_labels(con, AS_OF, 2)
        # built twice: the same content (replace, not append)
        assert ft.build_product_daily_sales(con, AS_OF) == n_sales
        for table, frame in [
            (fc.PRODUCT_DAILY_SALES_TABLE, ft.product_daily_sales_frame(con, AS_OF)),
            (fc.CUSTOMER_FEATURES_TABLE, ft.customer_features_frame(con, AS_OF)),
            (fc.CUSTOMER_LABELS_TABLE, ft.customer_labels_frame(con, AS_OF, 2)),
        ]:
            stored = con.execute(f"SELECT * FROM {table} ORDER BY 1, 2").df()
            assert list(stored.columns) == list(frame.columns)
            pd.testing.assert_frame_equal(stored, frame, check_dtype=False, check_exact=True)
    assert (n_sales, n_customers, n_labels) == (8, 3, 3)


def test_grid_is_complete_and_lags_match_pandas(tmp_path):
    """A random shop: rows = sum over products of the days from their first day to as_of."""
    path = random_shop(tmp_path / "w.duckdb")
    as_of = D(2025, 4, 5)  # the data ends on 2025-04-09: later events are ignored
    with connect(path) as con:
        frame = ft.product_daily_sales_frame(con, as_of)
        events = con.execute("SELECT * FROM staging.events WHERE event_time < $c", {"c": fc.cutoff_for(as_of)}).df()
    events["day"] = events["event_time"].dt.normalize()
    first_landed = pd.Timestamp(events["partition_date"].min())
    frame["day"] = pd.to_datetime(frame["day"])
    expected_rows = 0
    for product, group in events.groupby("product_id"):
        start = max(group["day"].min(), first_landed)
        days_expected = pd.date_range(start, pd.Timestamp(as_of), freq="D")
        expected_rows += len(days_expected)
        got = frame[frame.product_id == product].set_index("day")
        assert list(got.index) == list(days_expected), product
        purchases = group[group.event_type == "purchase"]
        units = purchases.groupby("day")["quantity"].sum().reindex(days_expected, fill_value=0)
        views = group[group.event_type == "view"].groupby("day").size().reindex(days_expected, fill_value=0)
        assert got["units"].tolist() == units.tolist()
        assert got["views"].tolist() == views.tolist()
        revenue = (
            (purchases.price * purchases.quantity).groupby(purchases["day"]).sum().reindex(days_expected, fill_value=0)
        )
        np.testing.assert_allclose(got["revenue"], revenue, rtol=1e-12)
        np.testing.assert_allclose(got["units_lag_1"], units.shift(1).astype(float))
        np.testing.assert_allclose(got["units_lag_7"], units.shift(7).astype(float))
        np.testing.assert_allclose(got["units_lag_14"], units.shift(14).astype(float))
        np.testing.assert_allclose(got["units_rolling_mean_7"], units.shift(1).rolling(7, min_periods=1).mean())
        np.testing.assert_allclose(got["units_rolling_mean_28"], units.shift(1).rolling(28, min_periods=1).mean())
        shown = got["shown_price"]
        np.testing.assert_allclose(got["ref_price_28d"], shown.shift(1).rolling(28, min_periods=1).mean())
        assert ((got["conversion"] >= 0) & (got["conversion"] <= 1)).all()
    assert len(frame) == expected_rows
    assert not frame.duplicated(["product_id", "day"]).any()


def test_purchases_only_data_without_catalog_or_marketing(tmp_path):
    events = [
        ("p1", T(2025, 1, 1, 9), "purchase", "u1", None, "pX", 12.0, 1, None),
        ("p2", T(2025, 1, 1, 10), "purchase", "u1", None, "pX", 14.0, 2, None),
        ("p3", T(2025, 1, 3, 10), "purchase", "u2", None, "pY", 3.0, 1, "o9"),
        ("p4", T(2025, 1, 3, 10), "purchase", "u2", None, "pY", 3.0, 1, "o9"),
    ]
    path = make_shop(tmp_path / "w.duckdb", events=events, products=[], promotions=[], ad_spend=[])
    with connect(path) as con:
        sales = ft.product_daily_sales_frame(con, D(2025, 1, 4))
        customers = ft.customer_features_frame(con, D(2025, 1, 4)).set_index("customer_id")
        future = ft.future_product_days_frame(con, D(2025, 1, 4), 2)
    x = product_rows(sales, "pX")
    assert x["units"].tolist() == [3, 0, 0, 0] and x["orders"].tolist() == [2, 0, 0, 0]
    assert x["revenue"].tolist() == [40.0, 0.0, 0.0, 0.0]
    assert x["shown_price"].tolist() == [13.0, 13.0, 13.0, 13.0]
    assert x["list_price"].tolist() == [14.0] * 4  # no catalog: the highest price seen so far
    assert (sales[["views", "carts", "conversion", "promo_discount_pct", "ad_spend"]] == 0).all().all()
    assert len(product_rows(sales, "pY")) == 2 and product_rows(sales, "pY")["orders"].tolist() == [1, 0]
    assert sales["category"].isna().all()  # no category anywhere: NULL, not an error
    assert customers.loc["u1", "frequency"] == 2  # purchases without an order id are orders of their own
    assert customers.loc["u2", "frequency"] == 1 and customers.loc["u2", "monetary"] == 6.0
    assert (customers[["views", "carts", "view_to_cart_rate", "cart_to_purchase_rate", "sessions"]] == 0).all().all()
    assert len(future) == 4 and (future["ad_spend"] == 0).all() and not future["is_promo"].any()
    # no catalog: the future price is the last price paid (median of the last ones: 12 and 14), never the highest
    assert future.set_index("product_id").loc["pX", "shown_price"].tolist() == [13.0, 13.0]


def test_empty_promotions_and_ad_spend(tmp_path):
    path = make_shop(tmp_path / "w.duckdb", promotions=[], ad_spend=[])
    with connect(path) as con:
        sales = ft.product_daily_sales_frame(con, AS_OF)
        future = ft.future_product_days_frame(con, AS_OF, 2)
    assert len(sales) == 8
    assert (sales["promo_discount_pct"] == 0).all() and not sales["is_promo"].any() and (sales["ad_spend"] == 0).all()
    assert (future["ad_spend"] == 0).all() and (future["shown_price"] == future["list_price"]).all()


def test_future_product_days(shop):
    with connect(shop) as con:
        con.execute(
            "INSERT INTO raw.ad_spend VALUES (DATE '2025-01-03', 'toys', 30.0), (DATE '2025-01-07', 'toys', 999.0)"
        )
        con.execute("INSERT INTO raw.promotions VALUES ('pB', DATE '2025-01-07', DATE '2025-01-07', 0.25)")
        future = ft.future_product_days_frame(con, D(2025, 1, 3), 5)
    assert len(future) == 10  # pA and pB (launched 2025-01-03) x 5 days
    a = product_rows(future, "pA")
    b = product_rows(future, "pB")
    assert list(a.index) == [D(2025, 1, d) for d in range(4, 9)]
    assert a["promo_discount_pct"].tolist() == [0.5, 0.0, 0.0, 0.0, 0.0]
    assert a["shown_price"].tolist() == [5.0, 10.0, 10.0, 10.0, 10.0]
    # planned spend when present, else the mean over the landed days up to as_of (3 days: 100 + 200 + 30)
    assert a["ad_spend"].tolist() == pytest.approx([110.0, 110.0, 110.0, 999.0, 110.0])
    assert b["ad_spend"].tolist() == pytest.approx([50.0 / 3] * 5)
    assert b["shown_price"].tolist() == [20.0, 20.0, 20.0, 15.0, 20.0]
    assert b["is_promo"].tolist() == [False, False, False, True, False]
    assert a["day_of_week"].tolist() == [6, 7, 1, 2, 3] and a["is_weekend"].tolist() == [
        True,
        True,
        False,
        False,
        False,
    ]


def test_as_of_before_the_data_is_an_error_and_after_it_zeros(tmp_path, shop):
    with connect(shop) as con:
        for build in (ft.product_daily_sales_frame, ft.customer_features_frame, ft.build_product_daily_sales):
            with pytest.raises(ValueError, match="before the first landed day 2025-01-01"):
                build(con, D(2024, 12, 31))
        late = ft.product_daily_sales_frame(con, D(2025, 1, 12))
        customers = ft.customer_features_frame(con, D(2025, 1, 12))
    a = product_rows(late, "pA")
    assert a.index[-1] == D(2025, 1, 12) and len(a) == 12
    assert (a.loc[D(2025, 1, 8) :, ["units", "views"]] == 0).all().all()
    assert len(customers) == 3
    with connect(tmp_path / "empty.duckdb") as con, pytest.raises(ValueError, match="no events have landed"):
        ft.customer_features_frame(con, AS_OF)


def test_one_day_of_history_and_a_category_without_sales(tmp_path):
    events = [("v1", T(2025, 1, 1, 9), "view", "u1", "s1", "pB", 20.0, 1, None)]
    products = [
        ("pB", "book", "books", "B2", 20.0, D(2024, 1, 1)),
        ("pC", "rake", "garden", "B3", 7.0, D(2024, 6, 1)),  # a category without any event
    ]
    with connect(make_shop(tmp_path / "w.duckdb", events=events, products=products)) as con:
        sales = ft.product_daily_sales_frame(con, D(2025, 1, 1))
        customers = ft.customer_features_frame(con, D(2025, 1, 1))
        future = ft.future_product_days_frame(con, D(2025, 1, 1), 3)
    assert sales["product_id"].tolist() == ["pB", "pC"]
    b, c = sales.iloc[0], sales.iloc[1]
    assert b["units"] == 0 and b["views"] == 1 and b["discount_vs_ref"] == 0.0 and b["ad_spend"] == 50.0
    assert np.isnan(b["units_lag_1"]) and np.isnan(b["units_rolling_mean_7"]) and np.isnan(b["ref_price_28d"])
    assert (c["units"], c["views"], c["revenue"], c["shown_price"], c["ad_spend"]) == (0, 0, 0.0, 7.0, 0.0)
    assert c["category"] == "garden"
    assert len(customers) == 1 and customers.iloc[0]["frequency"] == 0
    assert len(future) == 6
    assert future.groupby("product_id")["ad_spend"].first().to_dict() == {"pB": 50.0, "pC": 0.0}
