"""Spark mode's staging write (spark_mode/staging.write_staged): a staged view replaces its months
of the lake table, audited by its row count, also when it has no rows.

A daily run of a clean day stages no duplicates (nor quarantined rows): that view is empty, Spark
writes no data file aside, and the write must still pass its audit and empty the months it names,
not fail the run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from shop_pipeline.engine import lake
from shop_pipeline.engine.layout import MONTH_COLUMN
from shop_pipeline.engine.spark_catalog import spark_type
from shop_pipeline.spark_mode.staging import write_staged
from shop_pipeline.sql import ddl

pytest.importorskip("pyspark")

TABLE = "staging.duplicate_events"
VIEW = "test_staged_duplicates"


def _stage(spark, rows: list[tuple]) -> None:
    """The view `VIEW` holding `rows` of staging.duplicate_events."""
    schema = ", ".join(f"{c.name} {spark_type(c.type)}" for c in ddl.columns(TABLE))
    spark.createDataFrame(rows, schema).createOrReplaceTempView(VIEW)


def _months(table: lake.LakeTable) -> dict[str, int]:
    with duckdb.connect() as con:
        rows = con.execute(f"SELECT {MONTH_COLUMN}, count(*) FROM {lake.duckdb_source(table)} GROUP BY 1").fetchall()
    return dict(rows)


def test_a_staged_view_replaces_its_months_and_an_empty_one_empties_them(spark, tmp_path: Path) -> None:
    table = lake.lake_table((tmp_path / "lake").as_uri(), TABLE)
    january, february = dt.date(2025, 1, 3), dt.date(2025, 2, 3)
    _stage(
        spark,
        [
            (day, "events.csv", n, f"e{n}", "same_event_id", "events.csv", 1)
            for day in (january, february)
            for n in range(3)
        ],
    )
    write_staged(spark, VIEW, table, ["2025-01", "2025-02"])
    assert _months(table) == {"2025-01": 3, "2025-02": 3}

    _stage(spark, [])  # a clean day: no duplicates staged
    result = write_staged(spark, VIEW, table, ["2025-02"])
    assert result.months == ("2025-02",)
    assert _months(table) == {"2025-01": 3}  # February emptied, January kept
