"""Reading generated event files back and judging single rows (shared by the synth tests)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re

import pyarrow.parquet as pq

from shop_pipeline.synth import EVENT_COLUMNS, EVENT_TYPES
from shop_pipeline_tests.synth.conftest import Shop, parse_csv_line

_ID = {
    "event_id": re.compile(r"e\d{12}"),
    "user_id": re.compile(r"u\d{6,}"),
    "session_id": re.compile(r"s\d{10}"),
    "product_id": re.compile(r"p\d{6,}"),
    "order_id": re.compile(r"o\d{8}"),
}
_UTC_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_OFFSET_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d")
_PRICE = re.compile(r"-?\d+\.\d\d")


def file_day(rel: str) -> dt.date:
    return dt.date.fromisoformat(re.search(r"\d{4}-\d\d-\d\d", rel).group(0))


def read_rows(shop: Shop, rel: str) -> list[tuple[bytes | None, dict | None]]:
    """(raw line, row as a dict of strings with '' for missing) per data line; row None if unreadable."""
    if rel.endswith(".parquet"):
        table = pq.read_table(shop.landing / rel)
        return [(None, {k: ("" if v is None else v) for k, v in row.items()}) for row in table.to_pylist()]
    out = []
    header = None
    if rel.endswith(".csv"):
        header = (shop.landing / rel).read_bytes().split(b"\n", 1)[0].decode().split(",")
    for raw in shop.raw_lines(rel):
        try:
            if header is not None:
                fields = parse_csv_line(raw)
                row = dict(zip(header, fields)) if fields is not None and len(fields) == len(header) else None
            else:
                obj = json.loads(raw.decode("utf-8"))
                row = {k: ("" if v is None else v) for k, v in obj.items()}
        except (UnicodeDecodeError, json.JSONDecodeError, csv.Error):
            row = None
        out.append((raw, row))
    return out


def catalog(shop: Shop) -> dict[str, dict]:
    with open(shop.landing / "catalog" / "products.csv", newline="") as f:
        return {r["product_id"]: r for r in csv.DictReader(f)}


def clean_problems(row: dict, day: dt.date, products: dict[str, dict]) -> list[str]:
    """Why a row is not a clean canonical event (empty list: it is clean)."""
    problems = []
    if list(row)[: len(EVENT_COLUMNS)] != list(EVENT_COLUMNS):
        problems.append("columns")
    for name, pattern in _ID.items():
        value = row.get(name, "")
        if name == "order_id":
            if (value != "") != (row.get("event_type") == "purchase"):
                problems.append("order_id only on purchases")
            if value and not pattern.fullmatch(value):
                problems.append(name)
        elif not pattern.fullmatch(value):
            problems.append(name)
    if not _UTC_TIME.fullmatch(row["event_time"]):
        problems.append("event_time format")
    else:
        when = dt.datetime.fromisoformat(row["event_time"].replace("Z", "+00:00")).date()
        if when not in (day, day - dt.timedelta(days=1)):
            problems.append("event_time day")
    if row["event_type"] not in EVENT_TYPES:
        problems.append("event_type")
    if not _PRICE.fullmatch(row["price"]) or not 0 < float(row["price"]) < 1_000_000:
        problems.append("price")
    if not row["quantity"].isdigit() or int(row["quantity"]) < 1:
        problems.append("quantity")
    elif row["event_type"] != "purchase" and row["quantity"] != "1":
        problems.append("quantity of a non-purchase")
    product = products.get(row["product_id"])
    if product is None or (product["category"], product["brand"]) != (row["category"], row["brand"]):
        problems.append("product/category/brand")
    return problems


def has_defect(defect: str, raw: bytes | None, row: dict | None, day: dt.date, products: dict) -> bool:
    """Does this line really carry the named defect?"""
    if defect == "invalid_utf8":
        try:
            raw.decode("utf-8")
            return False
        except UnicodeDecodeError:
            return b"\xff\xfe" in raw
    if defect == "malformed_line":
        return row is None
    if row is None:
        return False
    if defect == "missing_user_id":
        return row["user_id"] == ""
    if defect == "missing_product_id":
        return row["product_id"] == ""
    if defect in ("negative_price", "absurd_price", "unparseable_price"):
        try:
            price = float(row["price"])
        except ValueError:
            return defect == "unparseable_price"
        return (defect == "negative_price" and price < 0) or (defect == "absurd_price" and price > 1_000_000)
    if defect == "unknown_event_type":
        return row["event_type"] not in EVENT_TYPES and row["event_type"] != ""
    if defect in ("future_event_time", "ancient_event_time", "unparseable_event_time", "mixed_utc_offset"):
        text = row["event_time"]
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return defect == "unparseable_event_time"
        if defect == "future_event_time":
            return when.year >= day.year + 5
        if defect == "ancient_event_time":
            return when.year <= day.year - 5
        if defect == "mixed_utc_offset":
            utc_day = when.astimezone(dt.UTC).date()
            return (
                bool(_OFFSET_TIME.fullmatch(text))
                and not text.endswith(("+00:00", "Z"))
                and utc_day in (day, day - dt.timedelta(days=1))
            )
        return False
    raise AssertionError(f"not a per-line defect: {defect}")
