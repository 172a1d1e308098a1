"""Layout, headers, counts in generation.json, and the three formats."""

from __future__ import annotations

import collections
import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq

from shop_pipeline.synth import EVENT_COLUMNS
from shop_pipeline_tests.synth.events_check import read_rows


def test_layout_and_side_files(csv_shop):
    home = csv_shop.home
    written = {p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file()}
    assert all(w.startswith(("landing/", "ground_truth/")) for w in written)
    assert not any(w.endswith(".tmp") for w in written)
    headers = {
        "landing/catalog/products.csv": "product_id,name,category,brand,base_price,launched_on",
        "landing/marketing/ad_spend.csv": "date,category,ad_spend",
        "landing/marketing/promotions.csv": "product_id,start_date,end_date,discount_pct",
        "ground_truth/defects.csv": "source_file,line,event_id,defect,expected_outcome",
        "ground_truth/fraud_labels.csv": "order_id,user_id,is_fraud,pattern",
    }
    for rel, header in headers.items():
        assert (home / rel).read_text().split("\n", 1)[0] == header
    with open(home / "landing/catalog/products.csv", newline="") as f:
        products = list(csv.DictReader(f))
    assert len(products) == 100  # 20000 / 200
    assert 8 <= len({p["category"] for p in products}) <= 15
    with open(home / "landing/marketing/ad_spend.csv", newline="") as f:
        spend = list(csv.DictReader(f))
    assert len({r["date"] for r in spend}) == csv_shop.config.days
    with open(home / "landing/marketing/promotions.csv", newline="") as f:
        for r in csv.DictReader(f):
            assert 0.05 <= float(r["discount_pct"]) <= 0.5 and r["start_date"] <= r["end_date"]


def test_event_file_headers(csv_shop):
    files = csv_shop.event_files()
    assert len(files) == csv_shop.config.days + 2  # + replay + partner
    for rel in files:
        header = (csv_shop.landing / rel).read_text(errors="replace").split("\n", 1)[0]
        if rel.endswith("_partner.csv"):
            assert header.split(",") == [("unit_price" if c == "price" else c) for c in EVENT_COLUMNS] + ["coupon_code"]
        else:
            assert header == ",".join(EVENT_COLUMNS)


def test_generation_json_matches_files(csv_shop):
    gen = csv_shop.generation
    assert gen["config"]["events"] == csv_shop.config.events
    for rel, lines in gen["events_per_file"].items():
        assert len(csv_shop.raw_lines(rel)) == lines, rel
    assert set(gen["events_per_file"]) == set(csv_shop.event_files())
    counts = collections.Counter(t["defect"] for t in csv_shop.truth())
    assert {k: v for k, v in gen["defects"].items() if v} == dict(counts)
    assert gen["late_events"] > 0
    # late events: clean lines of an earlier day, at most late_events of them (a few may carry a defect)
    truth_lines = {(t["source_file"], t["line"]) for t in csv_shop.truth()}
    late_clean = 0
    for rel in csv_shop.event_files():
        if "(replay)" in rel or "_partner" in rel:
            continue
        day = rel.split("_")[1][:10]
        for i, (_, row) in enumerate(read_rows(csv_shop, rel), start=1):
            if (rel, str(i)) not in truth_lines and row["event_time"][:10] < day:
                late_clean += 1
    assert 0.9 * gen["late_events"] <= late_clean <= gen["late_events"]


def test_event_count_close_to_requested(csv_shop, jsonl_shop, parquet_shop, clean_shop):
    for shop in (csv_shop, jsonl_shop, parquet_shop, clean_shop):
        gen = shop.generation
        assert abs(gen["real_events"] - shop.config.events) <= 0.03 * shop.config.events


def test_jsonl_reads_back(jsonl_shop):
    rel = jsonl_shop.event_files()[0]
    lines = jsonl_shop.raw_lines(rel)
    parsed = 0
    for raw in lines:
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        assert list(obj) == list(EVENT_COLUMNS)
        assert all(v is None or isinstance(v, str) for v in obj.values())
        parsed += 1
    assert parsed >= 0.99 * len(lines)


def test_parquet_reads_back(parquet_shop):
    for rel in parquet_shop.event_files():
        table = pq.read_table(parquet_shop.landing / rel)
        assert all(t == pa.string() for t in table.schema.types)
        if "_partner" not in rel:
            assert table.column_names == list(EVENT_COLUMNS)
        assert table.num_rows == parquet_shop.generation["events_per_file"][rel]
    # order_id is null (not '') outside purchases
    table = pq.read_table(parquet_shop.landing / parquet_shop.event_files()[1]).to_pydict()
    assert None in table["order_id"] and "" not in table["order_id"]
