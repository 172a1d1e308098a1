"""Since when the staged events a feature table was built from have changed.

A feature whose row never depends on later events (an order's features look only at what
happened up to the order) need not be recomputed for rows before the earliest event that
changed. What changed is found from the data itself, whoever wrote staging.events (a daily
run, a backfill, a re-staged partition, a hand-made fix): each build records one fingerprint
per partition (events, first event time, XOR of the rows' hashes); the next build compares
them with the partitions as they are now. A new, removed or changed partition moves `since`
back to the first event time it had or has; moving the cut-off forward moves it back to the
previous cut-off (orders between the two cut-offs are new).

Table names are the project's constants; values reach DuckDB only as parameters.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb

from shop_pipeline import sql
from shop_pipeline.warehouse.connection import table_columns


def changed_since(con: duckdb.DuckDBPyConnection, table: str, as_of: dt.date, parameters: dict,
                  ) -> dt.datetime | None:
    """The earliest instant from which rows of `table` may differ from its last build; None:
    every row may (never built this way, built with other parameters, for a later as_of (a
    cut-off moved back: rows after it must go), or rows were added or removed since)."""
    from shop_pipeline.features.tables import cutoff_for

    con.execute(sql.load("staged_fingerprints"), {"as_of": as_of})
    last = con.execute("SELECT as_of, parameters, table_rows FROM features.table_builds WHERE table_name = ?",
                       [table]).fetchone()
    if last is None or last[0] > as_of or json.loads(last[1]) != _plain(parameters) or not table_columns(con, table):
        return None
    if con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] != last[2]:
        return None  # rows added or removed since the build, not by a build: compute them all again
    [(changed_from,)] = con.execute(sql.load("changed_since_build"), {"table": table}).fetchall()
    previous_cutoff = cutoff_for(last[0])
    return previous_cutoff if changed_from is None else min(previous_cutoff, changed_from)


def record_build(con: duckdb.DuckDBPyConnection, table: str, as_of: dt.date, parameters: dict) -> None:
    """Remember what `table` now reflects (in the write's transaction, after changed_since)."""
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    con.execute("INSERT OR REPLACE INTO features.table_builds (table_name, as_of, parameters, table_rows) "
                "VALUES (?, ?, ?, ?)", [table, as_of, json.dumps(_plain(parameters), sort_keys=True), rows])
    con.execute("DELETE FROM features.built_partitions WHERE table_name = ?", [table])
    con.execute("INSERT INTO features.built_partitions SELECT ?, * FROM temp.staged_fingerprints", [table])


def _plain(parameters: dict) -> dict:
    return json.loads(json.dumps(parameters, sort_keys=True, default=str))
