"""The lake tables a Spark step reads: registered in the session's catalog at this lake, current."""

from __future__ import annotations

from collections.abc import Iterable

from shop_pipeline.engine.lake import lake_table
from shop_pipeline.engine.layout import layout
from shop_pipeline.engine.spark_catalog import register_tables, table_name


def _location(spark, table: str) -> str | None:
    if not spark.catalog.tableExists(table):
        return None
    for row in spark.sql(f"DESCRIBE TABLE EXTENDED {table_name(table)}").collect():
        if row[0] == "Location":
            return row[1]
    return None


def use_lake(spark, lake: str, tables: Iterable[str]) -> None:
    """Register `tables` at `lake` (a table registered at another lake is dropped first: the
    process's session outlives a run) and refresh them, so a read sees the files as they are now
    (Spark caches a table's file listing; the month folders may have been rewritten since)."""
    for table in tables:
        expected = layout(table).location(lake).rstrip("/").removeprefix("file://")
        found = _location(spark, table)
        if found is not None and found.rstrip("/").removeprefix("file:").lstrip("/") != expected.lstrip("/"):
            spark.sql(f"DROP TABLE IF EXISTS {table_name(table)}")
        fs, folder = lake_table(lake, table).filesystem()
        fs.create_dir(folder, recursive=True)  # a table not written yet: empty, not missing
        # registers it, and (its folder exists now) recovers the month folders written since
        register_tables(spark, lake, [table])
        spark.catalog.refreshTable(table)
