"""Every ground-truth row names a line that really has its defect; every other line is clean."""

from __future__ import annotations

import collections

import pytest

from shop_pipeline.synth import DEFECT_OUTCOMES
from shop_pipeline.synth.config import LINE_DEFECTS, TEXT_ONLY_DEFECTS
from shop_pipeline_tests.synth.events_check import catalog, clean_problems, file_day, has_defect, read_rows

CONTENT = (
    "event_time",
    "event_type",
    "user_id",
    "session_id",
    "product_id",
    "category",
    "brand",
    "price",
    "quantity",
    "order_id",
)


def _check_shop(shop):
    truth = shop.truth()
    products = catalog(shop)
    by_file = collections.defaultdict(dict)
    for t in truth:
        assert DEFECT_OUTCOMES[t["defect"]] == t["expected_outcome"]
        by_file[t["source_file"]][t["line"]] = t
    files = shop.event_files()
    seen_ids: dict[str, bytes | dict] = {}  # event_id -> first occurrence (raw line or row)
    for rel in files:
        marks = by_file.get(rel, {})
        if "" in marks:  # whole-file defect: nothing inside is checked line by line
            assert set(marks) == {""}
            continue
        day = file_day(rel)
        rows = read_rows(shop, rel)
        for line in marks:
            assert 1 <= int(line) <= len(rows), (rel, line)
        contents = set()
        for i, (raw, row) in enumerate(rows, start=1):
            mark = marks.get(str(i))
            if mark is None:
                assert row is not None, (rel, i, raw)
                assert clean_problems(row, day, products) == [], (rel, i, row)
            else:
                defect = mark["defect"]
                if defect == "duplicate_event":
                    first = seen_ids.get(row["event_id"])
                    assert first == (raw if raw is not None else row), (rel, i)
                    assert mark["event_id"] == row["event_id"]
                elif defect == "duplicate_content":
                    assert row["event_id"] not in seen_ids
                    assert tuple(row[c] for c in CONTENT) in contents, (rel, i)
                    assert mark["event_id"] == row["event_id"]
                else:
                    assert has_defect(defect, raw, row, day, products), (rel, i, defect, raw, row)
                    if row is not None:
                        assert mark["event_id"] == row["event_id"]
            if row is not None and mark is None:
                seen_ids.setdefault(row["event_id"], raw if raw is not None else row)
                contents.add(tuple(row[c] for c in CONTENT))


@pytest.mark.parametrize("shop_name", ["csv_shop", "jsonl_shop", "parquet_shop"])
def test_every_defect_is_real_and_every_other_line_is_clean(request, shop_name):
    _check_shop(request.getfixturevalue(shop_name))


@pytest.mark.parametrize("shop_name", ["csv_shop", "jsonl_shop", "parquet_shop"])
def test_small_shop_gets_every_defect(request, shop_name):
    shop = request.getfixturevalue(shop_name)
    counts = collections.Counter(t["defect"] for t in shop.truth())
    for defect in LINE_DEFECTS:
        if shop.config.format == "parquet" and defect in TEXT_ONLY_DEFECTS:
            assert counts[defect] == 0
        else:
            assert counts[defect] >= 1, defect
    assert counts["replayed_file"] == 1 and counts["schema_drift"] == 1


def test_no_defects_when_off(clean_shop):
    assert clean_shop.truth() == []
    assert not any("replay" in f or "partner" in f for f in clean_shop.event_files())
    _check_shop(clean_shop)


def test_replayed_and_schema_drift_files(csv_shop):
    truth = {t["defect"]: t for t in csv_shop.truth() if t["line"] == ""}
    days = sorted({file_day(f) for f in csv_shop.event_files()})
    replay = truth["replayed_file"]["source_file"]
    assert replay.endswith(" (replay).csv")
    original = replay.replace(" (replay)", "")
    assert (csv_shop.landing / replay).read_bytes() == (csv_shop.landing / original).read_bytes()
    drift = truth["schema_drift"]["source_file"]
    assert drift.endswith("_partner.csv")
    header = (csv_shop.landing / drift).read_text().split("\n", 1)[0].split(",")
    assert "unit_price" in header and "coupon_code" in header and "price" not in header
    for rel in (replay, drift):
        assert file_day(rel) not in (days[0], days[-1])
        assert truth["replayed_file" if rel == replay else "schema_drift"]["event_id"] == ""
    # the partner file's events are real and appear in no other file
    partner_ids = {r["event_id"] for _, r in read_rows(csv_shop, drift)}
    assert 50 <= len(partner_ids) <= 100
    for rel in csv_shop.event_files():
        if rel != drift:
            assert not partner_ids & {r["event_id"] for _, r in read_rows(csv_shop, rel) if r}
