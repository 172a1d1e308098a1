"""Opening the warehouse: UTC sessions, the fixed DDL and the pseudonym macros (pseudonyms.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb

from shop_pipeline.pseudonyms import install_macros, pseudonymiser_from_env
from shop_pipeline.sql import ddl
from shop_pipeline.sql.session import TEMP_FOLDER, prepare_session
from shop_pipeline.warehouse.encryption import open_database, warehouse_key


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """The tables every read-write connection makes sure of (sql/ddl.ON_CONNECT)."""
    ddl.create(con, *ddl.ON_CONNECT)


@contextlib.contextmanager
def connect(
    path: Path | str, read_only: bool = False, *, memory_limit: str | None = None, threads: int | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A session on the warehouse file, prepared (prepare_session: memory_limit and threads as there),
    with the pseudonym macros of the configured key, decrypted with the warehouse key when one is set
    (warehouse/encryption.py; a key setting that cannot be used fails here, before the file is opened)."""
    pseudonymiser = pseudonymiser_from_env()
    key = warehouse_key()
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = open_database(path, read_only=read_only, key=key)
    try:
        prepare_session(con, None if read_only else Path(path).parent / TEMP_FOLDER, memory_limit, threads)
        install_macros(con, pseudonymiser)
        if not read_only:
            ensure_schema(con)
        yield con
    finally:
        con.close()


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The columns of `table` ("schema.name") in order; empty when it does not exist."""
    schema, name = table.split(".")
    return [
        row[0]
        for row in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
            "AND database_name = current_database() ORDER BY column_index",
            [schema, name],
        ).fetchall()
    ]


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


@contextlib.contextmanager
def unordered_inserts(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Inserts that may write rows in any order (parallel, about a third faster for millions of
    rows); every other statement keeps DuckDB's insertion order."""
    con.execute("SET preserve_insertion_order = false")
    try:
        yield con
    finally:
        con.execute("SET preserve_insertion_order = true")
