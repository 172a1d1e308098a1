"""Batch score tables (schema `scoring`): replaced whole in one transaction.

A write may carry an inputs key (the model version, cut-off and fingerprints of what the
scores were computed from: ml/common/lifecycle.inputs_key); it is recorded in scoring.score_builds
in the same transaction. `unchanged_scores` then tells a later run that the table already
holds the scores of the same key (and the row count it left), so they are not computed and
written again.

CREATE OR REPLACE, not DELETE + INSERT: with a primary key, deleting every row and inserting
them again costs DuckDB's index about 8x the time of building a new table (1.9 s against
0.2 s for 300k recommendations); inside the transaction the old table stays until COMMIT.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from shop_pipeline.warehouse.connection import table_columns, transaction

SCORE_TABLES = {
    "scoring.customer_scores": """
        CREATE OR REPLACE TABLE scoring.customer_scores (
            customer_id VARCHAR NOT NULL PRIMARY KEY,
            p_purchase DOUBLE NOT NULL,
            churn_risk DOUBLE NOT NULL,
            expected_orders DOUBLE NOT NULL,
            expected_spend DOUBLE NOT NULL,
            segment VARCHAR NOT NULL,
            model_version VARCHAR NOT NULL,
            as_of DATE NOT NULL
        )""",
    "scoring.demand_forecasts": """
        CREATE OR REPLACE TABLE scoring.demand_forecasts (
            product_id VARCHAR NOT NULL,
            day DATE NOT NULL,
            p10 DOUBLE NOT NULL,
            p50 DOUBLE NOT NULL,
            p90 DOUBLE NOT NULL,
            model_version VARCHAR NOT NULL,
            as_of DATE NOT NULL,
            PRIMARY KEY (product_id, day)
        )""",
    "scoring.order_risk_scores": """
        CREATE OR REPLACE TABLE scoring.order_risk_scores (
            order_id VARCHAR NOT NULL,
            customer_id VARCHAR NOT NULL,
            order_time TIMESTAMP NOT NULL,
            risk_score DOUBLE NOT NULL,
            flagged BOOLEAN NOT NULL,
            top_features VARCHAR,
            model_version VARCHAR NOT NULL,
            features_hash UBIGINT NOT NULL,   -- fingerprint of the inputs the score came from
            as_of DATE NOT NULL,
            PRIMARY KEY (customer_id, order_id)
        )""",
    "scoring.recommendations": """
        CREATE OR REPLACE TABLE scoring.recommendations (
            customer_id VARCHAR NOT NULL,
            rank INTEGER NOT NULL,
            product_id VARCHAR NOT NULL,
            score DOUBLE NOT NULL,
            reason VARCHAR NOT NULL,          -- similar_items | popular_in_category | popular
            model_version VARCHAR NOT NULL,
            as_of DATE NOT NULL,
            PRIMARY KEY (customer_id, rank)
        )""",
}


SCORE_BUILDS_DDL = """
    CREATE TABLE IF NOT EXISTS scoring.score_builds (
        table_name VARCHAR NOT NULL PRIMARY KEY,
        inputs_key VARCHAR NOT NULL,      -- what the rows were computed from (ml/common/lifecycle.inputs_key)
        table_rows BIGINT NOT NULL,       -- rows the write left (another count: the table was edited)
        written_at TIMESTAMP NOT NULL     -- UTC
    )"""


def replace_scores(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, inputs_key: str | None = None,
                   ) -> int:
    """Replace `table` (a key of SCORE_TABLES) with `frame`, matched by column name; record
    `inputs_key` (or forget the last one) in the same transaction."""
    ddl = SCORE_TABLES[table]
    con.register("new_scores", frame)
    try:
        with transaction(con):
            con.execute("CREATE SCHEMA IF NOT EXISTS scoring")
            con.execute(ddl)
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM new_scores")
            rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            con.execute(SCORE_BUILDS_DDL)
            con.execute("DELETE FROM scoring.score_builds WHERE table_name = ?", [table])
            if inputs_key is not None:
                con.execute("INSERT INTO scoring.score_builds VALUES (?, ?, ?, now()::TIMESTAMP)",
                            [table, inputs_key, rows])
    finally:
        con.unregister("new_scores")
    return rows


def unchanged_scores(con: duckdb.DuckDBPyConnection, table: str, inputs_key: str) -> int | None:
    """The row count of `table` when its last write recorded `inputs_key` and left that many
    rows (the scores would come out the same: nothing to compute); None otherwise."""
    if not table_columns(con, "scoring.score_builds"):
        return None
    recorded = con.execute("SELECT table_rows FROM scoring.score_builds WHERE table_name = ? AND inputs_key = ?",
                           [table, inputs_key]).fetchone()
    if recorded is None or not table_columns(con, table):
        return None
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return rows if rows == recorded[0] else None


def read_scores(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
    """The current rows of score table `table` (a key of SCORE_TABLES) when it exists with
    all of `columns`, else None (never written, or an older layout)."""
    if not set(columns) <= set(table_columns(con, table)):
        return None
    return con.execute(f"SELECT {', '.join(columns)} FROM {table}").df()
