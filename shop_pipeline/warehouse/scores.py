"""Batch score tables (schema `scoring`): replaced whole in one transaction.

A write may carry an inputs key (the model version, cut-off and fingerprints of what the
scores were computed from: ml/common/lifecycle.inputs_key); it is recorded in scoring.score_builds
in the same transaction. `unchanged_scores` then tells a later run that the table already
holds the scores of the same key (and the row count it left), so they are not computed and
written again.

CREATE OR REPLACE, not DELETE + INSERT: with a primary key, deleting every row and inserting
them again costs DuckDB's index several times the time of building a new table; inside the
transaction the old table stays until COMMIT.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import table_columns, transaction

SCORE_SCHEMA = "scoring"
SCORE_BUILDS_TABLE = "scoring.score_builds"


def score_tables() -> tuple[str, ...]:
    """The tables of schema `scoring` with a DDL file (sql/tables/scoring.<table>.sql), bookkeeping aside:
    each model's score_table (its spec) is one of them."""
    return tuple(t for t in ddl.tables() if t.startswith(SCORE_SCHEMA + ".") and t != SCORE_BUILDS_TABLE)


def replace_scores(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pd.DataFrame,
    inputs_key: str | None = None,
) -> int:
    """Replace `table` (one of score_tables()) with `frame`, matched by column name; record
    `inputs_key` (or forget the last one) in the same transaction."""
    if table not in score_tables():
        raise KeyError(f"{table} is not a score table ({', '.join(score_tables())})")
    con.register("new_scores", frame)
    try:
        with transaction(con):
            ddl.replace(con, table)
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM new_scores")
            rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            ddl.create(con, SCORE_BUILDS_TABLE)
            con.execute("DELETE FROM scoring.score_builds WHERE table_name = ?", [table])
            if inputs_key is not None:
                con.execute(
                    "INSERT INTO scoring.score_builds VALUES (?, ?, ?, now()::TIMESTAMP)", [table, inputs_key, rows]
                )
    finally:
        con.unregister("new_scores")
    return rows


def unchanged_scores(con: duckdb.DuckDBPyConnection, table: str, inputs_key: str) -> int | None:
    """The row count of `table` when its last write recorded `inputs_key` and left that many
    rows (the scores would come out the same: nothing to compute); None otherwise."""
    if not table_columns(con, "scoring.score_builds"):
        return None
    recorded = con.execute(
        "SELECT table_rows FROM scoring.score_builds WHERE table_name = ? AND inputs_key = ?", [table, inputs_key]
    ).fetchone()
    if recorded is None or not table_columns(con, table):
        return None
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return rows if rows == recorded[0] else None


def read_scores(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
    """The current rows of score table `table` (one of score_tables()) when it exists with
    all of `columns`, else None (never written, or an older layout)."""
    if not set(columns) <= set(table_columns(con, table)):
        return None
    return con.execute(f"SELECT {', '.join(columns)} FROM {table}").df()
