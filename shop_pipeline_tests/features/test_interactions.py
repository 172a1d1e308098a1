"""features.interactions on the hand-written shop (shop.py): weights and counts by hand, cut-off, catalog."""

import datetime as dt

import pytest

from shop_pipeline.features.interactions import (
    INTERACTIONS,
    INTERACTIONS_TABLE,
    InteractionWeights,
    build_interactions,
    interactions_frame,
    window_frame,
)
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.features.shop import (
    EVENTS,
    PRODUCTS,
    T,
    insert_events,
    make_shop,
)

AS_OF = dt.date(2025, 1, 5)
CUTOFF = T(2025, 1, 6)
W = InteractionWeights(view=1.0, cart=3.0, purchase=5.0, half_life_days=30.0)


def decayed(weight: float, at: dt.datetime) -> float:
    return weight * 0.5 ** ((CUTOFF - at).total_seconds() / 86400 / 30.0)


def by_pair(frame):
    return {(r.customer_id, r.product_id): r for r in frame.itertuples()}


@pytest.fixture
def shop(tmp_path):
    return make_shop(tmp_path / "shop.duckdb")


def test_counts_weights_and_times_by_hand(shop):
    with connect(shop) as con:
        frame = interactions_frame(con, AS_OF, W)
    assert list(frame.columns) == list(INTERACTIONS)
    pairs = by_pair(frame)
    assert sorted(pairs) == [("u1", "pA"), ("u1", "pB"), ("u2", "pA"), ("u3", "pA")]  # e11, e12 are after the cut-off
    u1a = pairs[("u1", "pA")]
    assert (u1a.views, u1a.carts, u1a.purchases, u1a.orders) == (1, 1, 2, 2)
    expected = (
        decayed(1, T(2025, 1, 1, 10, 0))
        + decayed(3, T(2025, 1, 1, 10, 5))
        + decayed(5, T(2025, 1, 1, 10, 10))
        + decayed(5, T(2025, 1, 4, 12, 10))
    )
    assert u1a.weight == pytest.approx(expected, rel=1e-9)
    assert u1a.first_interaction == T(2025, 1, 1, 10, 0) and u1a.last_purchase == T(2025, 1, 4, 12, 10)
    u3a = pairs[("u3", "pA")]
    assert (u3a.views, u3a.purchases, u3a.orders) == (1, 0, 0)
    assert u3a.weight == pytest.approx(decayed(1, T(2025, 1, 5, 8, 0)))
    assert u3a.last_purchase is None or u3a.last_purchase != u3a.last_purchase  # NULL: never bought
    assert pairs[("u1", "pB")].category == "books" and pairs[("u2", "pA")].category == "toys"
    assert frame["in_catalog"].all() and (frame["as_of"].dt.date == AS_OF).all()


def test_a_later_half_life_weighs_old_events_more(shop):
    with connect(shop) as con:
        short = by_pair(interactions_frame(con, AS_OF, InteractionWeights(half_life_days=1.0)))
        long = by_pair(interactions_frame(con, AS_OF, InteractionWeights(half_life_days=1000.0)))
    assert short[("u2", "pA")].weight < long[("u2", "pA")].weight
    assert long[("u2", "pA")].weight == pytest.approx(1 + 1 + 5, rel=0.01)


def test_nothing_after_the_cutoff_or_landed_later_is_read(tmp_path):
    late = ("e13", T(2025, 1, 5, 9, 0), "purchase", "u3", "s8", "pB", 20.0, 1, "o6")
    path = make_shop(tmp_path / "late.duckdb")
    with connect(path) as con:
        insert_events(con, [late], partition_date=dt.date(2025, 1, 7))  # happened on the 5th, landed on the 7th
        on_the_3rd = by_pair(interactions_frame(con, dt.date(2025, 1, 3), W))
        on_the_5th = by_pair(interactions_frame(con, AS_OF, W))
        on_the_7th = by_pair(interactions_frame(con, dt.date(2025, 1, 7), W))
    assert ("u1", "pB") not in on_the_3rd and on_the_3rd[("u1", "pA")].purchases == 1
    assert ("u3", "pB") not in on_the_5th
    assert on_the_7th[("u3", "pB")].purchases == 1


def test_a_product_missing_from_the_catalog_is_kept_but_not_in_catalog(tmp_path):
    path = make_shop(tmp_path / "delisted.duckdb", products=[p for p in PRODUCTS if p[0] == "pA"])
    with connect(path) as con:
        pairs = by_pair(interactions_frame(con, AS_OF, W))
    assert not pairs[("u1", "pB")].in_catalog
    assert pairs[("u1", "pB")].category == "books"  # from its events
    assert pairs[("u1", "pA")].in_catalog


def test_without_a_catalog_every_product_is_sellable(tmp_path):
    path = make_shop(tmp_path / "nocatalog.duckdb", products=[])
    with connect(path) as con:
        frame = interactions_frame(con, AS_OF, W)
    assert frame["in_catalog"].all()


def test_purchases_only_data(tmp_path):
    purchases = [e for e in EVENTS if e[2] == "purchase"]
    path = make_shop(tmp_path / "purchases.duckdb", events=purchases)
    with connect(path) as con:
        frame = interactions_frame(con, AS_OF, W)
    assert (frame["views"] == 0).all() and (frame["carts"] == 0).all() and (frame["weight"] > 0).all()
    assert len(frame) == 3  # u1-pA, u1-pB, u2-pA


def test_build_replaces_the_table_and_is_idempotent(shop):
    with connect(shop) as con:
        n = build_interactions(con, AS_OF, W)
        first = con.execute(f"SELECT * FROM {INTERACTIONS_TABLE} ORDER BY ALL").fetchall()
        assert build_interactions(con, AS_OF, W) == n == 4
        assert con.execute(f"SELECT * FROM {INTERACTIONS_TABLE} ORDER BY ALL").fetchall() == first
        assert build_interactions(con, dt.date(2025, 1, 2), W) == 2  # u1-pA and u2-pA only
        with pytest.raises(ValueError, match="before the first landed day"):
            build_interactions(con, dt.date(2024, 12, 1), W)


def test_held_out_window_pairs(shop):
    with connect(shop) as con:
        window = window_frame(con, AS_OF, dt.date(2025, 1, 7))
        empty = window_frame(con, dt.date(2025, 1, 7), dt.date(2025, 1, 9))
        with pytest.raises(ValueError, match="before as_of"):
            window_frame(con, AS_OF, AS_OF)
    assert [(r.customer_id, r.product_id, r.purchases) for r in window.itertuples()] == [
        ("u1", "pA", 1),
        ("u2", "pB", 1),
    ]
    assert empty.empty


def test_weights_must_make_sense():
    with pytest.raises(ValueError):
        InteractionWeights(half_life_days=0)
    with pytest.raises(ValueError):
        InteractionWeights(view=0, cart=0, purchase=0)
