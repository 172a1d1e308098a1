"""The staging audit's repeated-id screen (quality/audit.DUPLICATED_ID_DAYS) names the same days on
both engines: the days of $days whose clean rows hold an event_id that occurs more than once among
those days' clean rows (only ids in staged_repeated_ids can), and no other day."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from shop_pipeline.quality.audit import DUPLICATED_ID_DAYS

D1, D2, D3, D4, OUTSIDE = (dt.date(2025, 1, d) for d in (1, 2, 3, 4, 5))
CLEAN = [  # (partition_date, event_id)
    (D1, "across-days"),
    (D2, "across-days"),  # D1 and D2: one id on two days
    (D3, "within-a-day"),
    (D3, "within-a-day"),  # D3: one id twice on one day
    (D4, "once-among-the-clean"),  # repeated among the valid rows, but its copy was dropped
    (D4, "unique"),
    (OUTSIDE, "with-a-day-outside"),
    (D4, "with-a-day-outside"),  # its other occurrence is on a day not audited
]
REPEATED = ["across-days", "within-a-day", "once-among-the-clean", "with-a-day-outside"]
DAYS = [D1, D2, D3, D4]
EXPECTED = [D1, D2, D3]


def test_duckdb_names_the_days_with_a_repeated_clean_id() -> None:
    with duckdb.connect() as con:
        con.execute("CREATE TEMP TABLE staged_clean (partition_date DATE, event_id VARCHAR)")
        con.executemany("INSERT INTO staged_clean VALUES (?, ?)", CLEAN)
        con.execute("CREATE TEMP TABLE staged_repeated_ids AS SELECT unnest($ids) AS event_id", {"ids": REPEATED})
        days = sorted(r[0] for r in con.execute(DUPLICATED_ID_DAYS, {"days": DAYS}).fetchall())
    assert days == EXPECTED


def test_spark_names_the_same_days(spark) -> None:
    pytest.importorskip("pyspark")
    from shop_pipeline.spark_mode.staging import run_sql

    spark.createDataFrame(CLEAN, "partition_date DATE, event_id STRING").createOrReplaceTempView("staged_clean")
    spark.createDataFrame([(i,) for i in REPEATED], "event_id STRING").createOrReplaceTempView("staged_repeated_ids")
    try:
        days = sorted(r[0] for r in run_sql(spark, DUPLICATED_ID_DAYS, {"days": DAYS}).collect())
    finally:
        for view in ("staged_clean", "staged_repeated_ids"):
            spark.catalog.dropTempView(view)
    assert days == EXPECTED
