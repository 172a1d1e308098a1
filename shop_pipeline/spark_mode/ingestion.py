"""Spark mode, ingestion: the landed files are read by DuckDB as in the embedded engine (exact line
numbers, the manifest raw.ingested_files in the DuckDB file); after the batch is published there,
the months it touched of raw.events and raw.rejected_lines, and the small raw tables whole, are
written to the lake (engine/lake.py: write-audit-publish, partition overwrite), from the DuckDB
rows of those months: a lake month equals the warehouse month."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import duckdb

from shop_pipeline.engine.lake import lake_table, write_partitions_from_duckdb
from shop_pipeline.engine.layout import month_key

MONTHLY_RAW = ("raw.events", "raw.rejected_lines")
SMALL_RAW = ("raw.products", "raw.promotions", "raw.ad_spend", "raw.ingested_files", "raw.order_labels")


def months_of(days: Iterable[dt.date]) -> list[str]:
    return sorted({month_key(day) for day in days})


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, name]
        ).fetchall()[0][0]
    )


def write_small_raw_tables(con: duckdb.DuckDBPyConnection, lake: str) -> list[str]:
    """The small raw tables present in the DuckDB file, each replaced whole on the lake."""
    written = []
    for table in SMALL_RAW:
        if _exists(con, table):
            write_partitions_from_duckdb(con, f"SELECT * FROM {table}", lake_table(lake, table))
            written.append(table)
    return written


def publish_raw_to_lake(con: duckdb.DuckDBPyConnection, lake: str, changed_days: Iterable[dt.date]) -> list[str]:
    """After `publish_batch`: the months of `changed_days` of the monthly raw tables (partition
    overwrite of exactly those months; each audited by its row count against the DuckDB month),
    then the small raw tables. Returns the months written."""
    months = months_of(changed_days)
    if months:
        for table in MONTHLY_RAW:
            query = f"SELECT * FROM {table} WHERE strftime(partition_date, '%Y-%m') IN (SELECT unnest($months))"
            expected = con.execute(f"SELECT count(*) FROM ({query})", {"months": months}).fetchall()[0][0]

            def audit(staged, expected=expected):
                return staged.dataset().count_rows() == expected

            write_partitions_from_duckdb(
                con, query, lake_table(lake, table), months=months, audit=audit, parameters={"months": months}
            )
    write_small_raw_tables(con, lake)
    return months


class SparkIngestion:
    """Ingestion's step after the DuckDB publish in Spark mode: the touched months to the lake."""

    def __init__(self, con: duckdb.DuckDBPyConnection, lake: str) -> None:
        self.con, self.lake = con, lake

    def after_publish(self, changed_days: list[dt.date]) -> None:
        publish_raw_to_lake(self.con, self.lake, changed_days)
