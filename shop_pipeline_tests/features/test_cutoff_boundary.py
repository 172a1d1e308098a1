"""An event exactly at the cut-off instant ($as_of + 1 day, 00:00:00.000 UTC) is after the cut-off:
neither features.interactions nor features.order_features reads it (issue 23, item 5). The event
lands in the as_of partition, so only `event_time < $cutoff` keeps it out: these tests fail if that
`<` becomes `<=`."""

import datetime as dt

from shop_pipeline.features.interactions import interactions_frame
from shop_pipeline.features.order_features import order_features_frame
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.features.shop import EVENTS, T, insert_events, make_shop

AS_OF = dt.date(2025, 1, 5)
CUTOFF = T(2025, 1, 6)
AT_CUTOFF = [
    ("b1", CUTOFF, "view", "u9", "s9", "pB", 20.0, 1, None),
    ("b2", CUTOFF, "cart", "u9", "s9", "pB", 20.0, 1, None),
    ("b3", CUTOFF, "purchase", "u9", "s9", "pB", 20.0, 1, "o9"),
]
JUST_BEFORE = [("b4", CUTOFF - dt.timedelta(milliseconds=1), "purchase", "u8", "s8", "pB", 20.0, 1, "o8")]


def shop(tmp_path, extra):
    path = make_shop(tmp_path / "shop.duckdb", events=[e for e in EVENTS if e[1] < CUTOFF])
    with connect(path) as con:
        insert_events(con, extra, partition_date=AS_OF)  # landed by as_of: only the time rule can exclude it
    return path


def test_an_event_at_the_cut_off_is_not_an_interaction(tmp_path):
    with connect(shop(tmp_path, AT_CUTOFF + JUST_BEFORE)) as con:
        frame = interactions_frame(con, AS_OF)
    customers = set(frame["customer_id"])
    assert "u9" not in customers
    assert "u8" in customers  # one millisecond earlier counts


def test_an_order_at_the_cut_off_has_no_order_features(tmp_path):
    with connect(shop(tmp_path, AT_CUTOFF + JUST_BEFORE)) as con:
        frame = order_features_frame(con, AS_OF)
    orders = set(frame["order_id"])
    assert "o9" not in orders
    assert "o8" in orders
