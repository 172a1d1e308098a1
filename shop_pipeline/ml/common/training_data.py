"""The rows a training reads: every row, or a deterministic, bounded sample of customers (no Dagster).

A model's training (`spec.train(con, as_of, settings)`) reads its input tables through one DuckDB
connection. Without a sample that is the warehouse itself. With a sample (`TrainingSample`: at most
N customers and / or about a fraction of them), it is a **training session**: an in-memory DuckDB
session holding, for each table the training reads (`spec.training_inputs`), only the rows of the
sampled customers, so `spec.train` runs unchanged on it. Spark mode builds the same session from the
lake, the rows filtered by Spark (spark_mode/training.py); DuckDB mode builds it from the warehouse
(`warehouse_session`). Both choose the customers with `ml/common/sampling.py`'s stable md5 hash:

- the threshold is found over the distinct `user_id`s of `staging.events` (`SAMPLE_IDS`), every
  customer who ever had an event, so both engines find the same number;
- a table with a customer column (`CUSTOMER_COLUMNS`) keeps the rows whose customer hashes below it;
- `raw.order_labels` keeps the labels of the sampled customers' orders (`features.order_features`);
- every other table (the catalog, marketing, the product-day grid) is copied whole: its size
  follows products and days, not customers or events.

Which models sample customers is their spec's `sampled_by_customer`: propensity, recommendation and
order risk. The demand forecast learns from every customer's purchases per product and day, so
it is never sampled.

The count-based models of propensity (BG/NBD, Gamma-Gamma) fit on per-customer counts aggregated
by the engine (ml/propensity/counts.py): a session also holds them as the table `COUNTS_TABLE`
(Spark: `spark_counts`; DuckDB: `duckdb_counts`), and propensity's training fits them on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from shop_pipeline.ml.common import sampling
from shop_pipeline.sql import ddl
from shop_pipeline.sql.session import prepare_session

SAMPLE_IDS = ("staging.events", "user_id")  # where the threshold is found: every customer with an event
CUSTOMER_COLUMNS = {
    "staging.events": "user_id",
    "features.customer_features": "customer_id",
    "features.interactions": "customer_id",
    "features.order_features": "customer_id",
}
ORDER_LABELS = "raw.order_labels"
ORDERS = "features.order_features"  # the orders whose labels a sample keeps
COUNTS_TABLE = "main.customer_counts"  # in a training session: the engine's counts at the cut-off


@dataclass(frozen=True)
class TrainingSample:
    """At most `customers` customers and / or about `fraction` of them; neither: every customer."""

    customers: int | None = None
    fraction: float | None = None

    def __post_init__(self) -> None:
        self.sample()  # the checks of sampling.Sample: a wrong setting fails here, naming the value

    def sample(self) -> sampling.Sample:
        return sampling.Sample(SAMPLE_IDS[1], max_ids=self.customers, fraction=self.fraction)

    @property
    def bounded(self) -> bool:
        return self.sample().bounded

    def settings(self) -> dict[str, Any]:
        """What the training key records of the sample (another sample trains another version)."""
        return {"sample_customers": self.customers, "sample_fraction": self.fraction} if self.bounded else {}

    def describe(self) -> str:
        return self.sample().describe().replace(" ids", " customers")


EVERY_CUSTOMER = TrainingSample()


def sampled_tables(spec: Any) -> tuple[str, ...]:
    """The tables `spec`'s training reads, in a stable order."""
    return tuple(sorted(spec.training_inputs))


def duckdb_filter(table: str, threshold: int, tables: tuple[str, ...]) -> str:
    """The WHERE clause (DuckDB) keeping `table`'s rows of the sample of `threshold` ("" keeps every row)."""
    key = CUSTOMER_COLUMNS.get(table)
    if key is not None:
        return sampling.duckdb_condition(key, threshold)
    if table == ORDER_LABELS and ORDERS in tables:
        condition = sampling.duckdb_condition("customer_id", threshold)
        return f"order_id IN (SELECT order_id FROM {ORDERS} WHERE {condition})"
    return ""


def empty_session(tables: tuple[str, ...]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session (UTC, as the warehouse's) with `tables` created empty from their DDL."""
    con = duckdb.connect()
    prepare_session(con)
    ddl.create(con, *tables)
    return con


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: Any) -> int:
    """Insert `rows` (a pyarrow Table or pandas frame) into `table` by column name; returns the count."""
    con.register("training_rows", rows)
    try:
        columns = ", ".join(f'"{c}"' for c in ddl.column_names(table))
        con.execute(f"INSERT INTO {table} BY NAME SELECT {columns} FROM training_rows")
    finally:
        con.unregister("training_rows")
    return len(rows)


def add_counts(con: duckdb.DuckDBPyConnection, counts: Any) -> None:
    """Keep the engine's per-customer counts (counts.COUNT_COLUMNS) in the session as COUNTS_TABLE."""
    con.register("engine_counts", counts)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {COUNTS_TABLE} AS SELECT * FROM engine_counts ORDER BY customer_id")
    finally:
        con.unregister("engine_counts")


def session_counts(con: Any):
    """The engine's counts of a training session (a pandas frame by customer_id), None elsewhere."""
    [(found,)] = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ? AND NOT temporary",
        [COUNTS_TABLE.split(".")[1]],
    ).fetchall()
    if not found:
        return None
    return con.execute(f"SELECT * FROM {COUNTS_TABLE} ORDER BY customer_id").df()


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, name]
    ).fetchall()
    return found[0][0] > 0


def warehouse_session(
    warehouse: duckdb.DuckDBPyConnection,
    tables: tuple[str, ...],
    sample: TrainingSample,
) -> tuple[duckdb.DuckDBPyConnection, int]:
    """The training session of `sample` from the warehouse (module docstring); returns it and the threshold."""
    source = SAMPLE_IDS[0]
    threshold = sampling.duckdb_threshold(warehouse, source, sample.sample())
    con = empty_session(tables)
    try:
        for table in tables:
            if not _exists(warehouse, table):  # not built yet: empty, as a lake table without files
                continue
            if table == ORDER_LABELS and ORDERS in tables and not _exists(warehouse, ORDERS):
                continue  # no sampled order to label
            where = duckdb_filter(table, threshold, tables)
            with warehouse.cursor() as reader:  # a result left open on `warehouse` does not block it
                rows = reader.sql(f"SELECT * FROM {table}{' WHERE ' + where if where else ''}").to_arrow_table()
            insert_rows(con, table, rows)
    except BaseException:
        con.close()
        raise
    return con, threshold
