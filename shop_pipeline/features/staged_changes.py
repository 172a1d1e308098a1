"""Since when the staged events a feature table was built from have changed.

A feature whose row never depends on later events (an order's features look only at what
happened up to the order; a product-day at the days up to it) need not be recomputed for
rows before the earliest event that changed. What changed is found from the data itself,
whoever wrote staging.events (a daily run, a backfill, a re-staged partition, a hand-made
fix): each build records one fingerprint per partition (events, first event time, XOR of the
rows' hashes); the next build compares them with the partitions as they are now. A new,
removed or changed partition moves `since` back to the first event time it had or has;
moving the cut-off forward moves it back to the previous cut-off (what happened between the
two cut-offs is new).

Everything else a table depends on goes into the build's parameters, compared as a whole: the
query's text (another version of it recomputes every row), small input tables by fingerprint
(table_fingerprint), settings. Rows added or removed by hand (the table's row count is not the
one the last build left) recompute every row too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import duckdb

from shop_pipeline import sql
from shop_pipeline.features.columns import cutoff_for
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import table_columns


def changed_since(
    con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], as_of: dt.date, parameters: dict
) -> dt.datetime | None:
    """The earliest instant from which rows of `table` may differ from its last build; None:
    every row may (never built this way, missing or not with `columns`, built with other
    parameters, for a later as_of (a cut-off moved back: rows after it must go), or rows were
    added or removed since)."""
    con.execute(sql.load("staged_fingerprints"), {"as_of": as_of})
    last = con.execute(
        "SELECT as_of, parameters, table_rows FROM features.table_builds WHERE table_name = ?", [table]
    ).fetchone()
    if (
        last is None
        or last[0] > as_of
        or json.loads(last[1]) != _plain(parameters)
        or table_columns(con, table) != list(columns)
    ):
        return None
    if con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] != last[2]:
        return None  # rows added or removed since the build, not by a build: compute them all again
    [(changed_from,)] = con.execute(sql.load("changed_since_build"), {"table": table}).fetchall()
    previous_cutoff = cutoff_for(last[0])
    return previous_cutoff if changed_from is None else min(previous_cutoff, changed_from)


def record_build(con: duckdb.DuckDBPyConnection, table: str, as_of: dt.date, parameters: dict, rows: int) -> None:
    """Remember what `table` now reflects, `rows` rows (in the write's transaction, after changed_since)."""
    con.execute(
        "INSERT OR REPLACE INTO features.table_builds (table_name, as_of, parameters, table_rows) VALUES (?, ?, ?, ?)",
        [table, as_of, json.dumps(_plain(parameters), sort_keys=True), rows],
    )
    con.execute("DELETE FROM features.built_partitions WHERE table_name = ?", [table])
    con.execute("INSERT INTO features.built_partitions SELECT ?, * FROM temp.staged_fingerprints", [table])


# A feature table whose inputs (staged events, catalog, settings, code: the caller's key) are
# those of its last audited build is left as it is: computing it again would write nothing.
INPUTS_TABLE = "features.table_inputs"  # DDL: sql/tables/features.table_inputs.sql


def unchanged_inputs(con: duckdb.DuckDBPyConnection, table: str, inputs_key: str) -> int | None:
    """The row count of `table` when its last audited build recorded `inputs_key` and the table
    still has the rows it left; None otherwise (compute it)."""
    if not table_columns(con, "features.table_inputs") or not table_columns(con, table):
        return None
    recorded = con.execute(
        "SELECT table_rows FROM features.table_inputs WHERE table_name = ? AND inputs_key = ?", [table, inputs_key]
    ).fetchone()
    if recorded is None:
        return None
    return recorded[0] if con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == recorded[0] else None


def record_inputs(con: duckdb.DuckDBPyConnection, table: str, inputs_key: str | None, rows: int) -> None:
    """Remember the inputs of the build that left `rows` rows (in the write's transaction); None forgets them."""
    ddl.create(con, INPUTS_TABLE)
    con.execute("DELETE FROM features.table_inputs WHERE table_name = ?", [table])
    if inputs_key is not None:
        con.execute("INSERT INTO features.table_inputs VALUES (?, ?, ?)", [table, inputs_key, rows])


def _plain(parameters: dict) -> dict:
    return json.loads(json.dumps(parameters, sort_keys=True, default=str))


def table_fingerprint(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: tuple[str, ...] = (),
    where: str = "",
    params: dict | None = None,
) -> str:
    """`rows:xor-of-row-hashes` of `table` (a project constant): of `columns`, or of whole rows,
    filtered by `where` (SQL over its columns and `params`); "missing" for a table that does not
    exist. For a build's or a training's inputs: another value means the table changed."""
    schema, name = table.split(".")
    if not con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, name]
    ).fetchone():
        return "missing"
    hashed = f"hash({', '.join(columns)})" if columns else "hash(t)"
    rows, digest = con.execute(
        f"SELECT count(*), coalesce(bit_xor({hashed}), 0) FROM {table} AS t {'WHERE ' + where if where else ''}",
        params or {},
    ).fetchone()
    return f"{rows}:{digest}"


def query_fingerprint(query: str) -> str:
    """For a build's parameters: rows computed by another version of the query are recomputed."""
    return hashlib.sha256(query.encode()).hexdigest()
