"""A training session holds exactly the sampled customers' rows of every table a training reads, chosen
by the stable md5 hash, and the count-based models' counts (ml/common/training_data.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from shop_pipeline.features.order_features import build_order_features
from shop_pipeline.features.tables import build_customer_features
from shop_pipeline.ml.common import sampling, training_data
from shop_pipeline.ml.common.training_data import TrainingSample, add_counts, session_counts, warehouse_session
from shop_pipeline.ml.propensity.counts import duckdb_counts
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import connect

AS_OF = dt.date(2026, 3, 10)
TABLES = ("features.customer_features", "features.order_features", "raw.order_labels", "staging.events")


@pytest.fixture
def warehouse(tmp_path):
    """Events of 40 customers (some buy twice), their features, labels of some orders."""
    with connect(tmp_path / "w.duckdb") as con:
        rows = []
        for c in range(40):
            for n in range(1 + c % 3):
                day = dt.date(2026, 3, 1) + dt.timedelta(days=n * 3 + c % 2)
                at = dt.datetime.combine(day, dt.time(10, c % 60))
                order = f"o-{c}-{n}"
                rows.append((day, f"v-{c}-{n}", at, "view", f"cust-{c}", None, f"p{c % 5}", None))
                rows.append(
                    (day, f"b-{c}-{n}", at + dt.timedelta(minutes=5), "purchase", f"cust-{c}", None, f"p{c % 5}", order)
                )
        con.executemany(
            "INSERT INTO staging.events BY NAME SELECT ? AS partition_date, ? AS event_id, ? AS event_time, "
            "? AS event_type, ? AS user_id, ? AS session_id, ? AS product_id, ? AS order_id, 9.5 AS price, "
            "1 AS quantity, false AS is_late, 'f.csv' AS source_file, 1 AS line, TIMESTAMP '2026-03-20' AS ingested_at",
            rows,
        )
        build_customer_features(con, AS_OF)
        build_order_features(con, AS_OF)
        ddl.create(con, "raw.order_labels")
        con.execute(
            "INSERT INTO raw.order_labels SELECT order_id, length(order_id) % 2 = 0, DATE '2026-03-09', 'l.csv', "
            "row_number() OVER () FROM features.order_features"
        )
        yield con


def test_the_session_keeps_the_sampled_customers_in_every_table(warehouse):
    sample = TrainingSample(customers=12)
    session, threshold = warehouse_session(warehouse, TABLES, sample)
    every = [r[0] for r in warehouse.execute("SELECT DISTINCT user_id FROM staging.events").fetchall()]
    assert threshold == sampling.python_threshold(every, sample.sample())
    expected = {c for c in every if sampling.id_hash(c) < threshold}
    assert len(expected) == 12
    with session:
        for table, key in training_data.CUSTOMER_COLUMNS.items():
            if table in TABLES:
                got = {r[0] for r in session.execute(f"SELECT DISTINCT {key} FROM {table}").fetchall()}
                assert got == expected, table
                # every row of a sampled customer, not a part of them
                [(kept,)] = session.execute(f"SELECT count(*) FROM {table}").fetchall()
                [(there,)] = warehouse.execute(
                    f"SELECT count(*) FROM {table} WHERE list_contains($ids, {key})", {"ids": sorted(expected)}
                ).fetchall()
                assert kept == there, table
        labelled = {r[0] for r in session.execute("SELECT order_id FROM raw.order_labels").fetchall()}
        orders = {r[0] for r in session.execute("SELECT order_id FROM features.order_features").fetchall()}
        assert labelled == orders and labelled


def test_every_customer_without_a_bound_and_counts_of_the_sample(warehouse):
    session, _ = warehouse_session(warehouse, TABLES, TrainingSample(fraction=1.0))
    with session:
        assert (
            session.execute("SELECT count(*) FROM staging.events").fetchone()
            == warehouse.execute("SELECT count(*) FROM staging.events").fetchone()
        )
        assert session_counts(session) is None
        add_counts(session, duckdb_counts(session, AS_OF))
        counts = session_counts(session)
        assert (
            len(counts) == 40
            and counts["frequency"].sum()
            == warehouse.execute("SELECT count(*) FROM staging.events WHERE event_type = 'purchase'").fetchone()[0]
        )


def test_a_wrong_sample_setting_fails_naming_the_value():
    with pytest.raises(ValueError, match="-3"):
        TrainingSample(customers=-3)
    with pytest.raises(ValueError, match=r"1\.5"):
        TrainingSample(fraction=1.5)
    assert not TrainingSample().bounded and TrainingSample().settings() == {}
    assert TrainingSample(customers=5).settings() == {"sample_customers": 5, "sample_fraction": None}
