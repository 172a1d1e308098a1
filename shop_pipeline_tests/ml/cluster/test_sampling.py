"""The training sample's stable hash: DuckDB, Spark and Python compute the same values and keep the same ids."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from shop_pipeline.ml.common import sampling
from shop_pipeline.ml.common.sampling import HASH_SPACE, Sample, id_hash

TRICKY = [
    "",
    "a",
    "c1",
    "ü",
    "日本語",
    "🛒 basket",
    "o'brien",
    'say "hi"',
    "back\\slash",
    "tab\tand\nnewline",
    " leading space",
    "guest:o-17",
    "0",
    "-1",
    "x" * 500,
    "é",  # precomposed
    "e\u0301",  # decomposed: other bytes, another hash
]
IDS = TRICKY + [f"u{i}" for i in range(300)]


@pytest.fixture(scope="module")
def con():
    connection = duckdb.connect()
    connection.execute("CREATE TABLE ids (id VARCHAR)")
    # every id twice, and a NULL: duplicates count once, NULL never
    connection.executemany("INSERT INTO ids VALUES (?)", [[i] for i in IDS + IDS + [None]])
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def frame(spark):
    return spark.createDataFrame(pd.DataFrame({"id": IDS + IDS + [None]}), "id string").repartition(3)


def test_the_hash_is_md5s_first_15_hex_digits_below_2_to_the_60():
    assert id_hash("a") == int("0cc175b9c0f1b6a", 16)  # md5("a") = 0cc175b9c0f1b6a831c399e269772661
    assert id_hash("") == int("d41d8cd98f00b20", 16)
    assert all(0 <= id_hash(i) < HASH_SPACE == 2**60 for i in TRICKY)
    assert id_hash("é") != id_hash("e\u0301")  # bytes, not normalised text


def test_duckdb_spark_and_python_compute_the_same_hash(con, spark):
    from pyspark.sql import functions as F

    python = {i: id_hash(i) for i in TRICKY}
    in_duckdb = dict(con.execute(f"SELECT id, {sampling.duckdb_hash('id')} FROM ids WHERE id IS NOT NULL").fetchall())
    tricky = spark.createDataFrame(pd.DataFrame({"id": TRICKY}), "id string")
    in_spark_sql = dict(tricky.select("id", F.expr(sampling.spark_hash("id"))).collect())
    in_spark = dict(tricky.select("id", sampling.spark_hash_column("id")).collect())
    for name, got in {"duckdb": in_duckdb, "spark sql": in_spark_sql, "spark column": in_spark}.items():
        assert {i: got[i] for i in TRICKY} == python, name
    assert con.execute(f"SELECT {sampling.duckdb_hash('NULL')}").fetchone()[0] is None


@pytest.mark.parametrize(
    "sample",
    [
        Sample("id", max_ids=50),
        Sample("id", fraction=0.25),
        Sample("id", max_ids=50, fraction=0.1),  # the fraction is the tighter bound here
        Sample("id", max_ids=0),
        Sample("id", max_ids=len(IDS)),  # every id: the (N+1)-th does not exist
        Sample("id", max_ids=10_000),
        Sample("id"),
    ],
    ids=lambda s: s.describe(),
)
def test_the_three_engines_keep_the_same_ids(con, frame, sample):
    python_threshold = sampling.python_threshold([*IDS, None], sample)
    duckdb_threshold = sampling.duckdb_threshold(con, "ids", sample)
    spark_rows, spark_threshold = sampling.spark_sample(frame, sample)
    assert duckdb_threshold == spark_threshold == python_threshold

    kept_python = {i for i, keep in zip(IDS, sampling.python_keep(IDS, python_threshold)) if keep}
    query, _ = sampling.duckdb_sample(con, "ids", sample)
    kept_duckdb = {r[0] for r in con.execute(query).fetchall()}
    kept_spark = {r[0] for r in spark_rows.collect()}
    assert kept_duckdb == kept_spark == kept_python
    assert None not in kept_duckdb
    if sample.max_ids is not None:
        assert len(kept_python) <= sample.max_ids
    if sample.max_ids is not None and sample.fraction is None:
        assert len(kept_python) == min(sample.max_ids, len(set(IDS)))  # exactly N when there are more
    if not sample.bounded:
        assert kept_python == set(IDS)


def test_a_fraction_sample_keeps_its_ids_as_the_data_grows(con):
    sample = Sample("id", fraction=0.3)
    before = {i for i in IDS if id_hash(i) < sampling.fraction_threshold(0.3)}
    more = IDS + [f"new{i}" for i in range(200)]
    after = {i for i, keep in zip(more, sampling.python_keep(more, sampling.python_threshold(more, sample))) if keep}
    assert before <= after and 0.15 < len(before) / len(IDS) < 0.45


def test_bad_samples_are_refused():
    with pytest.raises(ValueError):
        Sample("id", max_ids=-1)
    with pytest.raises(ValueError):
        Sample("id", fraction=1.5)
    with pytest.raises(ValueError):
        Sample("id", max_ids=2.5)
