"""Opening the warehouse: UTC sessions and the fixed DDL."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb

from shop_pipeline import sql

MEMORY_LIMIT_ENV = "SHOP_PIPELINE_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "3GB"


def prepare_session(con: duckdb.DuckDBPyConnection) -> None:
    """UTC timestamps and bounded memory for every session.

    Timestamps without an offset are read as UTC, whatever the machine's time zone (set after
    connecting: as a connect-time option it needs ICU before it is loaded). DuckDB would
    otherwise take up to 80% of RAM; with a limit it spills to disk next to the warehouse.
    """
    con.execute("SET TimeZone = 'UTC'")
    limit = os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)
    con.execute("SET memory_limit = " + _quote_setting(limit))


def _quote_setting(value: str) -> str:
    """A size setting like '3GB' as a SQL literal (validated, since SET takes no parameters)."""
    if not re.fullmatch(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", value.strip(), flags=re.IGNORECASE):
        raise ValueError(f"{MEMORY_LIMIT_ENV}={value!r} is not a size like 3GB")
    return "'" + value.strip() + "'"


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    prepare_session(con)
    con.execute(sql.load("warehouse_schema"))


@contextlib.contextmanager
def connect(path: Path | str, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        prepare_session(con)
        if not read_only:
            ensure_schema(con)
        yield con
    finally:
        con.close()


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The columns of `table` ("schema.name") in order; empty when it does not exist."""
    schema, name = table.split(".")
    return [row[0] for row in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
        "AND database_name = current_database() ORDER BY column_index", [schema, name]).fetchall()]


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction: committed on success, rolled back on any error (last good state stays)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
