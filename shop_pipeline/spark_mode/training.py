"""Training data in Spark mode: a deterministic, bounded sample of the lake's tables on the driver (no Dagster).

`lake_training_session(spark, lake, spec, sample, as_of)` builds what `spec.train` reads
(ml/common/training_data.py): an in-memory DuckDB session with the tables of the model's training.

- A model sampled by customer (`spec.sampled_by_customer`): Spark finds the sample's threshold
  over the distinct `user_id`s of the lake's `staging.events` (a top-(N+1) of their md5 hashes:
  sampling.spark_threshold), filters every table by it on the executors (customer columns by the
  hash, order labels by a semi-join with the sampled orders) and only the kept rows travel to the
  driver (`toArrow`). A model that fits count-based models (`spec.fits_counts`) also gets the
  per-customer counts aggregated by Spark from the sampled events (counts.spark_counts): six
  numbers per customer, never an event.
- A model that is not sampled (the demand forecast: product-day totals of every customer) reads
  the lake's tables through DuckDB views (engine/lake_views.py): DuckDB streams the Parquet files
  and reads only what the training's queries ask for.

The training key fingerprints what the training read: the sampled tables by their rows (as in
the warehouse), the lake views by their published files (`fingerprints`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from shop_pipeline.engine.lake_views import attach_lake, lake_fingerprint
from shop_pipeline.ml.common import sampling
from shop_pipeline.ml.common.spark_scoring import read_lake_table
from shop_pipeline.ml.common.training_data import (
    CUSTOMER_COLUMNS,
    ORDER_LABELS,
    ORDERS,
    SAMPLE_IDS,
    TrainingSample,
    add_counts,
    empty_session,
    insert_rows,
    sampled_tables,
)
from shop_pipeline.ml.propensity.counts import collect_counts, spark_counts
from shop_pipeline.sql.session import prepare_session


def _has_rows(lake: str, table: str) -> bool:
    found = lake_fingerprint(lake, table)
    return found != "missing" and not found.startswith("0:")


def sampled_frame(frames: dict[str, Any], table: str, threshold: int) -> Any:
    """`table`'s rows of the sample of `threshold` (training_data.duckdb_filter, on Spark)."""
    frame = frames[table]
    key = CUSTOMER_COLUMNS.get(table)
    if key is not None:
        return frame.where(sampling.spark_condition(key, threshold))
    if table == ORDER_LABELS and ORDERS in frames:
        orders = frames[ORDERS].where(sampling.spark_condition("customer_id", threshold)).select("order_id")
        return frame.join(orders.distinct(), "order_id", "left_semi")
    return frame


def lake_training_session(
    spark, lake: str, spec: Any, sample: TrainingSample, as_of: dt.date
) -> tuple[duckdb.DuckDBPyConnection, dict[str, str] | None]:
    """(the training session of `spec` from the lake, the fingerprints of the tables it reads as views
    or None: fingerprint its tables' rows); module docstring."""
    tables = sampled_tables(spec)
    if not (spec.sampled_by_customer and sample.bounded):
        con = duckdb.connect()
        prepare_session(con)
        attach_lake(con, lake, tables)
        return con, {table: f"lake:{lake_fingerprint(lake, table)}" for table in tables}
    source, key = SAMPLE_IDS
    frames = {table: read_lake_table(spark, lake, table) for table in tables if _has_rows(lake, table)}
    events = frames[source] if source in frames else read_lake_table(spark, lake, source)
    threshold = sampling.spark_threshold(events.select(key), sample.sample())
    sampled = {table: sampled_frame(frames, table, threshold) for table in frames}
    if spec.fits_counts:  # the sampled events are read once: for the driver's rows and for the counts
        sampled[source] = (
            sampled[source] if source in sampled else events.where(sampling.spark_condition(key, threshold))
        ).cache()
    con = empty_session(tables)
    try:
        for table in frames:
            if table == ORDER_LABELS and ORDERS in tables and ORDERS not in frames:
                continue  # no sampled order to label
            insert_rows(con, table, sampled[table].toArrow())
        if spec.fits_counts:
            add_counts(con, collect_counts(spark_counts(sampled[source], as_of)))
    except BaseException:
        con.close()
        raise
    finally:
        if spec.fits_counts:
            sampled[source].unpersist()
    return con, None
