"""Chargeback labels: landing/labels/*.csv -> raw.order_labels, rejects with reasons, known-by rule."""

from __future__ import annotations

import csv
import datetime as dt

import duckdb
import pytest

from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.order_labels import known_labels_frame, load_order_labels

D = dt.date


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def write(folder, name: str, data: bytes):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def rows(con, query: str):
    return con.execute(query).fetchall()


def test_every_data_line_is_a_label_or_a_reject_with_its_reason(tmp_path, con):
    labels = tmp_path / "landing" / "labels"
    write(
        labels,
        "chargebacks_2025-01.csv",
        (
            b"order_id,is_fraud,reported_on\n"
            b"o1,1,2025-01-05\n"
            b"\n"
            b"o2,maybe,2025-01-06\n"
            b"o3,1\n"
            b'"o4",TRUE,2025-01-07\n'
            b"o5,1,2025-01-0\xff8\n"
            b",1,2025-01-08\n"
            b"o6,,2025-01-08\n"
            b"o7,0,\n"
            b"o8,0,05/01/2025\n"
            b"o9,false,2025-02-30\n"
            b"o10,0,2025-01-09"  # no newline at the end
        ),
    )
    load = load_order_labels(con, labels)
    assert load.files == ["labels/chargebacks_2025-01.csv"]
    assert rows(con, "SELECT order_id, is_fraud, reported_on, line FROM raw.order_labels ORDER BY line") == [
        ("o1", True, D(2025, 1, 5), 2),
        ("o4", True, D(2025, 1, 7), 6),
        ("o10", False, D(2025, 1, 9), 13),
    ]
    rejects = rows(con, "SELECT line, reason_code FROM raw.order_label_rejects ORDER BY line")
    assert rejects == [
        (3, "blank_line"),
        (4, "invalid_is_fraud"),
        (5, "malformed_line"),
        (7, "invalid_encoding"),
        (8, "missing_order_id"),
        (9, "missing_is_fraud"),
        (10, "missing_reported_on"),
        (11, "unparseable_reported_on"),
        (12, "unparseable_reported_on"),
    ]
    # conservation: 12 data lines = 3 labels + 9 rejects, and every reject is readable
    assert load.rows + load.rejected == 12
    assert load.reasons["unparseable_reported_on"] == 2
    reasons = dict(rows(con, "SELECT line, reason FROM raw.order_label_rejects"))
    assert reasons[4] == "is_fraud 'maybe' is not one of 1, 0, true, false"
    assert reasons[5] == "expected 3 fields, found 2"
    assert reasons[11] == "reported_on '05/01/2025' is not a date YYYY-MM-DD"


def test_a_file_without_the_required_columns_is_rejected_whole_with_a_reason(tmp_path, con):
    labels = tmp_path / "landing" / "labels"
    write(labels, "a_truth.csv", b"order_id,user_id,is_fraud,pattern\no1,u1,1,burst\no2,u2,0,\n")
    write(labels, "b_empty.csv", b"")
    write(labels, "c_extra_columns.csv", b"note,Reported_On,order_id,IS_FRAUD\nlate,2025-01-03,o1,1\n")
    write(labels, "d_mixed_endings.csv", b"order_id,is_fraud,reported_on\r\no1,1,2025-01-05\no2,0,2025-01-06\r\n")
    write(labels, ".hidden.csv", b"order_id,is_fraud,reported_on\no9,1,2025-01-05\n")
    write(labels, "notes.txt", b"not a labels file\n")
    load = load_order_labels(con, labels)
    assert load.files == [
        "labels/a_truth.csv",
        "labels/b_empty.csv",
        "labels/c_extra_columns.csv",
        "labels/d_mixed_endings.csv",
    ]
    assert rows(con, "SELECT order_id, is_fraud, source_file FROM raw.order_labels") == [
        ("o1", True, "labels/c_extra_columns.csv")
    ]
    rejects = rows(con, "SELECT source_file, line, reason_code, reason FROM raw.order_label_rejects ORDER BY 1")
    assert [(f, line, code) for f, line, code, _ in rejects] == [
        ("labels/a_truth.csv", 1, "bad_header"),
        ("labels/b_empty.csv", 1, "bad_header"),
        ("labels/d_mixed_endings.csv", 0, "unreadable_file"),
    ]
    assert "2 data lines not loaded: missing columns reported_on" in rejects[0][3]
    assert "empty file" in rejects[1][3]
    assert "2 data lines not loaded" in rejects[2][3]


def test_the_tables_mirror_the_folder(tmp_path, con):
    labels = tmp_path / "landing" / "labels"
    write(labels, "one.csv", b"order_id,is_fraud,reported_on\no1,1,2025-01-05\n")
    write(labels, "two.csv", b"order_id,is_fraud,reported_on\no2,1,2025-01-06\n")
    assert load_order_labels(con, labels).rows == 2
    assert load_order_labels(con, labels).rows == 2  # loading again adds nothing
    (labels / "two.csv").unlink()
    assert load_order_labels(con, labels).rows == 1
    assert rows(con, "SELECT order_id FROM raw.order_labels") == [("o1",)]
    load = load_order_labels(con, tmp_path / "nowhere")
    assert (load.files, load.rows, load.rejected) == ([], 0, 0)
    assert rows(con, "SELECT count(*) FROM raw.order_labels") == [(0,)]


def test_known_labels_use_only_reports_on_or_before_as_of_and_the_latest_report_wins(tmp_path, con):
    assert known_labels_frame(con, D(2025, 1, 31)).empty  # never loaded: no labels, no error
    labels = tmp_path / "landing" / "labels"
    write(
        labels,
        "a.csv",
        (
            b"order_id,is_fraud,reported_on\n"
            b"o1,1,2025-01-05\n"  # chargeback ...
            b"o1,0,2025-01-20\n"  # ... later won by the shop
            b"o2,1,2025-01-10\n"
            b"o3,1,2025-02-01\n"
        ),
    )  # not known on 2025-01-31
    write(labels, "b.csv", b"order_id,is_fraud,reported_on\no2,0,2025-01-10\n")  # same day, later file
    load_order_labels(con, labels)
    early = known_labels_frame(con, D(2025, 1, 10))
    assert early.values.tolist() == [["o1", 1, D(2025, 1, 5)], ["o2", 0, D(2025, 1, 10)]]
    late = known_labels_frame(con, D(2025, 1, 31))
    assert late[["order_id", "is_fraud"]].values.tolist() == [["o1", 0], ["o2", 0]]
    assert str(late["is_fraud"].dtype) == "int8"
    assert known_labels_frame(con, D(2025, 1, 4)).empty


def test_the_generator_writes_a_clean_labels_file_of_delayed_chargebacks(tmp_path, con):
    config = GeneratorConfig(events=30_000, days=30, seed=5, fraud_rate=0.05)
    generate_shop(tmp_path, config)
    load = load_order_labels(con, tmp_path / "landing" / "labels")
    assert load.files == ["labels/chargebacks.csv"] and load.rejected == 0 and load.rows > 10
    with (tmp_path / "ground_truth" / "fraud_labels.csv").open() as f:
        truth = {r["order_id"]: r["is_fraud"] == "1" for r in csv.DictReader(f)}
    reported = rows(con, "SELECT order_id, is_fraud, reported_on FROM raw.order_labels")
    assert all(truth[order] and is_fraud for order, is_fraud, _ in reported)  # only real frauds, as fraud
    assert len({o for o, _, _ in reported}) == len(reported)
    last_day = config.start + dt.timedelta(days=config.days - 1)
    assert max(day for _, _, day in reported) <= last_day
    # reported at least a day after the order, and not every fraud is known yet by the last day
    first_purchase = {}
    for path in sorted((tmp_path / "landing" / "events").glob("events_????-??-??.csv")):
        with path.open(newline="", errors="replace") as f:
            for r in csv.DictReader(f):
                if r["event_type"] == "purchase" and r["order_id"] and r["event_time"][:4].isdigit():
                    day = D.fromisoformat(r["event_time"][:10])
                    first_purchase[r["order_id"]] = min(day, first_purchase.get(r["order_id"], day))
    assert all(day > first_purchase[o] for o, _, day in reported if o in first_purchase)
    assert len(reported) < sum(truth.values())
