"""The Spark catalog over an existing lake: a new driver (a Dagster run's process, a benchmark, a
notebook) registers the tables of a lake other processes wrote, and must see every month already
there, not an empty table (a partitioned external table created over existing folders knows no
partition until they are recovered)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from shop_pipeline.engine import lake
from shop_pipeline.engine.spark_catalog import register_tables, table_name

pytest.importorskip("pyspark")

TABLE = "raw.rejected_lines"  # monthly (event_month folders); few tests use it on Spark


def test_a_new_catalog_sees_the_months_already_on_the_lake(tmp_path: Path, spark) -> None:
    uri = (tmp_path / "lake").as_uri()
    rows = (
        "SELECT 'f.csv' AS source_file, DATE '2026-01-01' + i::INTEGER AS partition_date, i AS line FROM range(90) t(i)"
    )
    with duckdb.connect() as con:
        written = lake.write_partitions_from_duckdb(con, rows, lake.lake_table(uri, TABLE))
    assert written.months == ("2026-01", "2026-02", "2026-03")

    spark.sql(f"DROP TABLE IF EXISTS {table_name(TABLE)}")  # as in a driver that never saw this lake
    register_tables(spark, uri, [TABLE])
    months = dict(spark.sql(f"SELECT event_month, count(*) FROM {table_name(TABLE)} GROUP BY 1").collect())
    assert months == {"2026-01": 31, "2026-02": 28, "2026-03": 31}
    spark.sql(f"DROP TABLE IF EXISTS {table_name(TABLE)}")


def test_a_new_lake_registers_every_table_before_anything_is_written(tmp_path: Path, spark) -> None:
    uri = (tmp_path / "new lake").as_uri()
    spark.sql(f"DROP TABLE IF EXISTS {table_name(TABLE)}")
    register_tables(spark, uri, [TABLE])
    assert spark.table(TABLE).count() == 0
    spark.sql(f"DROP TABLE IF EXISTS {table_name(TABLE)}")
