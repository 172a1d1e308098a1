"""The shop has signal: a funnel, price elasticity, seasonality, churn and labelled fraud."""

from __future__ import annotations

import collections
import csv
import datetime as dt

import numpy as np

from shop_pipeline.synth import GeneratorConfig
from shop_pipeline.synth.events import DaySimulator
from shop_pipeline.synth.world import build_world
from shop_pipeline_tests.synth.events_check import catalog, read_rows


def _clean_rows(shop):
    truth = {(t["source_file"], t["line"]) for t in shop.truth()}
    for rel in shop.event_files():
        if "(replay)" in rel or "_partner" in rel:
            continue
        for i, (_, row) in enumerate(read_rows(shop, rel), start=1):
            if (rel, str(i)) not in truth:
                yield row


def test_funnel(clean_shop):
    types = collections.Counter(r["event_type"] for r in _clean_rows(clean_shop))
    assert types["view"] > types["cart"] > types["purchase"] > 0
    assert types["remove_from_cart"] > 0
    assert 0.01 < types["purchase"] / types["view"] < 0.1  # conversion: a few percent


def test_promotions_lower_price(clean_shop):
    products = catalog(clean_shop)
    promos = collections.defaultdict(list)
    with open(clean_shop.landing / "marketing/promotions.csv", newline="") as f:
        for r in csv.DictReader(f):
            promos[r["product_id"]].append((r["start_date"], r["end_date"], float(r["discount_pct"])))
    discounted = full = 0
    for row in _clean_rows(clean_shop):
        base = float(products[row["product_id"]]["base_price"])
        day = row["event_time"][:10]
        active = [pct for start, end, pct in promos.get(row["product_id"], []) if start <= day <= end]
        price = float(row["price"])
        if active:
            assert abs(price - round(base * (1 - active[0]), 2)) < 0.011 and price < base
            discounted += 1
        else:
            assert price == base
            full += 1
    assert discounted > 0 and full > discounted


def test_fraud_labels_cover_every_order(csv_shop):
    labels = csv_shop.fraud_labels()
    by_order = {r["order_id"]: r for r in labels}
    assert len(by_order) == len(labels)
    in_files = {}
    for rel in csv_shop.event_files():
        for _, row in read_rows(csv_shop, rel):
            if row and row["order_id"]:
                in_files.setdefault(row["order_id"], row["user_id"])
    # an order whose only purchase line was truncated by a malformed_line defect reached the file
    # without its order_id: labelled, but not readable back
    assert set(in_files) <= set(by_order)
    malformed = sum(1 for d in csv_shop.truth() if d["defect"] == "malformed_line")
    assert len(set(by_order) - set(in_files)) <= malformed
    for order, user in in_files.items():
        assert user in ("", by_order[order]["user_id"])  # '' where a defect removed it
    fraud = [r for r in labels if r["is_fraud"] == "1"]
    assert all(r["pattern"] for r in fraud)
    assert all(r["pattern"] == "" for r in labels if r["is_fraud"] == "0")
    assert 0.003 < len(fraud) / len(labels) < 0.05


def test_fraud_patterns_are_recognisable(tmp_path):
    from shop_pipeline_tests.synth.conftest import make_shop

    shop = make_shop(tmp_path, events=100_000, days=20, defects="none")
    labels = {r["order_id"]: r for r in shop.fraud_labels()}
    night = collections.Counter()
    amount = collections.defaultdict(float)
    for row in _clean_rows(shop):
        if row["order_id"]:
            amount[row["order_id"]] += float(row["price"]) * int(row["quantity"])
            if 1 <= int(row["event_time"][11:13]) < 5:
                night[row["order_id"]] = 1
    fraud = [o for o in amount if labels[o]["is_fraud"] == "1"]
    legit = [o for o in amount if labels[o]["is_fraud"] == "0"]
    assert np.mean([night[o] for o in fraud]) > 3 * np.mean([night[o] for o in legit])
    assert np.median([amount[o] for o in fraud]) > 2 * np.median([amount[o] for o in legit])


def test_weekends_and_season_lift_traffic():
    config = GeneratorConfig(events=1_000_000, days=364, start=dt.date(2025, 1, 1))
    world = build_world(config, np.random.Generator(np.random.PCG64(1)))
    targets = DaySimulator(world, config).targets
    assert targets.sum() == config.events
    weekday = np.array([(config.start + dt.timedelta(days=int(d))).weekday() for d in range(config.days)])
    assert targets[weekday >= 5].mean() > 1.1 * targets[weekday < 5].mean()
    assert targets[330:350].mean() > 1.3 * targets[150:200].mean()  # December vs early summer


def test_users_churn(clean_shop):
    last_seen = {}
    first_seen = {}
    for row in _clean_rows(clean_shop):
        day = row["event_time"][:10]
        last_seen[row["user_id"]] = max(day, last_seen.get(row["user_id"], day))
        first_seen[row["user_id"]] = min(day, first_seen.get(row["user_id"], day))
    days = sorted(set(last_seen.values()))
    # a good share of users who were active early stop before the end
    early = [u for u, d in first_seen.items() if d <= days[3]]
    gone = [u for u in early if last_seen[u] <= days[-5]]
    assert len(gone) > 0.2 * len(early)
