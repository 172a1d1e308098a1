"""Every warehouse table of sql/tables/ as an external Parquet table on the lake, in a Spark catalog.

`register_tables(spark, lake)` creates the databases (raw, staging, features, ...) and each table
at its lake folder (engine/layout.py): `CREATE TABLE IF NOT EXISTS <schema>.<table> (...) USING
parquet [PARTITIONED BY (event_month)] LOCATION '<lake>/<schema>/<table>'`. The tables that grow
with the event log get the partition column `event_month STRING` appended (layout.MONTH_COLUMN).

The columns are the DDL file's, as DuckDB creates them (sql/ddl.columns: the CREATE TABLE and
its ALTER TABLE migrations, executed), their types parsed by sqlglot as DuckDB types and mapped:

    VARCHAR, JSON      STRING (JSON stays its text)
    INTEGER, BIGINT    INT, BIGINT
    UBIGINT            DECIMAL(20, 0): every unsigned 64-bit value, exactly (Spark has no
                       unsigned type; Parquet readers see the same number DuckDB wrote)
    DOUBLE, DOUBLE[]   DOUBLE, ARRAY<DOUBLE>
    DATE, BOOLEAN      DATE, BOOLEAN
    TIMESTAMP          TIMESTAMP_NTZ: the pipeline's timestamps are UTC wall times without a
                       zone (DuckDB's TIMESTAMP); TIMESTAMP_NTZ keeps the wall time whatever the
                       session or reader time zone, where Spark's TIMESTAMP is an instant shown
                       in the session's zone and Parquet-annotated as UTC-adjusted.

PRIMARY KEY, NOT NULL and DEFAULT are dropped: Spark does not enforce them on Parquet tables
(the writers' audits and the quality suites check keys and nulls); the comments of the DDL file
become the columns' COMMENTs.

Names come from the DDL files (checked to be plain identifiers) and are quoted with backticks;
the lake path is a string literal with its quotes and backslashes escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlglot
from sqlglot import exp

from shop_pipeline.engine.layout import MONTH_COLUMN, layout
from shop_pipeline.sql import ddl

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_TYPES = {
    exp.DataType.Type.VARCHAR: "STRING",
    exp.DataType.Type.TEXT: "STRING",
    exp.DataType.Type.JSON: "STRING",
    exp.DataType.Type.INT: "INT",
    exp.DataType.Type.BIGINT: "BIGINT",
    exp.DataType.Type.UBIGINT: "DECIMAL(20, 0)",
    exp.DataType.Type.DOUBLE: "DOUBLE",
    exp.DataType.Type.DATE: "DATE",
    exp.DataType.Type.BOOLEAN: "BOOLEAN",
    exp.DataType.Type.TIMESTAMP: "TIMESTAMP_NTZ",
    exp.DataType.Type.TIMESTAMPNTZ: "TIMESTAMP_NTZ",  # DuckDB TIMESTAMP: without a zone
    exp.DataType.Type.VARBINARY: "BINARY",  # DuckDB BLOB (the sealed ids of reidentify.customers)
}


def spark_type(duckdb_type: str) -> str:
    """The Spark SQL type of a DuckDB column type (as ddl.columns names it)."""
    parsed = exp.DataType.build(duckdb_type, dialect="duckdb")
    if parsed.this == exp.DataType.Type.ARRAY:
        [element] = parsed.expressions
        return f"ARRAY<{spark_type(element.sql(dialect='duckdb'))}>"
    try:
        return _TYPES[parsed.this]
    except KeyError:
        raise ValueError(f"DuckDB type {duckdb_type} has no Spark mapping in engine/spark_catalog.py") from None


def quote_identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain identifier")
    return f"`{name}`"


def quote_string(value: str) -> str:
    """A Spark SQL string literal: backslashes and single quotes escaped (Spark reads backslash escapes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def table_name(table: str) -> str:
    schema, name = table.split(".")
    return f"{quote_identifier(schema)}.{quote_identifier(name)}"


def columns_ddl(table: str) -> list[str]:
    """The table's column definitions in Spark SQL, the month column last when partitioned."""
    parts = []
    for column in ddl.columns(table):
        comment = f" COMMENT {quote_string(column.description)}" if column.description else ""
        parts.append(f"{quote_identifier(column.name)} {spark_type(column.type)}{comment}")
    if layout(table).partition_column:
        parts.append(
            f"{quote_identifier(MONTH_COLUMN)} STRING COMMENT 'partition: yyyy-MM of {layout(table).month_of}'"
        )
    return parts


def create_statement(table: str, lake: str) -> str:
    """CREATE TABLE IF NOT EXISTS for `table` as an external Parquet table under the lake URI."""
    where = layout(table)
    partitioned = f"\nPARTITIONED BY ({quote_identifier(MONTH_COLUMN)})" if where.partition_column else ""
    columns = ",\n    ".join(columns_ddl(table))
    statement = (
        f"CREATE TABLE IF NOT EXISTS {table_name(table)} (\n    {columns}\n)\nUSING parquet"
        f"{partitioned}\nLOCATION {quote_string(where.location(lake))}"
    )
    sqlglot.parse_one(statement, read="spark")  # a malformed statement fails here, naming the table
    return statement


def register_tables(spark, lake: str, tables: Iterable[str] | None = None) -> list[str]:
    """Create the databases and the external Parquet tables `tables` (default: every table with a
    DDL file) under `lake`; existing tables keep their data and get any column added since
    (ALTER TABLE ADD COLUMNS). Partitioned ones, new or not, discover the month folders already on
    the lake (RECOVER PARTITIONS): a table created over existing folders knows none of them, so a
    new driver would read an existing lake as empty. Returns the tables registered."""
    names = list(tables) if tables is not None else list(ddl.tables())
    for schema in dict.fromkeys(t.split(".")[0] for t in names):
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(schema)}")
    for table in names:
        existed = spark.catalog.tableExists(table)
        spark.sql(create_statement(table, lake))
        if existed:
            _add_missing_columns(spark, table)
        if layout(table).partition_column and _folder_exists(lake, table):
            spark.sql(f"ALTER TABLE {table_name(table)} RECOVER PARTITIONS")
    return names


def _folder_exists(lake: str, table: str) -> bool:
    """Whether `table` has a folder on the lake yet (RECOVER PARTITIONS fails on a missing one)."""
    from pyarrow import fs as pafs

    from shop_pipeline.engine.lake import lake_table

    filesystem, base = lake_table(lake, table).filesystem()
    return filesystem.get_file_info(base).type == pafs.FileType.Directory


def _add_missing_columns(spark, table: str) -> None:
    present = {field.name for field in spark.table(table).schema.fields}
    missing = [c for c in ddl.columns(table) if c.name not in present]
    if missing:
        added = ", ".join(f"{quote_identifier(c.name)} {spark_type(c.type)}" for c in missing)
        spark.sql(f"ALTER TABLE {table_name(table)} ADD COLUMNS ({added})")
