"""Opening the warehouse: UTC sessions and the fixed DDL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb

from shop_pipeline import sql

def prepare_session(con: duckdb.DuckDBPyConnection) -> None:
    """Timestamps without an offset are read as UTC, whatever the machine's time zone.

    Set after connecting: as a connect-time config option it needs ICU before it is loaded.
    """
    con.execute("SET TimeZone = 'UTC'")


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
