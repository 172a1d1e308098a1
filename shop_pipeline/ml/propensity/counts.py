"""The per-customer counts the count-based models fit on, aggregated by the engine (no Dagster).

BG/NBD (bgnbd.py, and MBG/NBD) and Gamma-Gamma (gamma_gamma.py) need nothing of a customer but
four numbers of the purchase history at the cut-off. In DuckDB mode they read them from the
customer features (`customer_features_frame(con, as_of)`, sql/customer_features.sql: the
propensity training's `history`, the scoring cut-off's features). On a cluster the events stay
where they are: Spark aggregates `staging.events` to one row per customer (`spark_counts`) and
the driver receives only `COUNT_COLUMNS`, five numbers and the id per customer (on a bounded
sample of customers when one is given: sampling.py):

    frequency        distinct orders (an order is a distinct order_id of the customer's purchase
                     events; a purchase without one is an order of its own)
    recency_days     days from the last order (else the first event) to the cut-off
    tenure_days      days from the first event to the cut-off
    monetary         spend over all orders (sum of price x quantity as DECIMAL(18, 4), exact
                     whatever the order of the rows, then DOUBLE)
    avg_order_value  monetary / frequency (0 without orders)

The same rules as sql/customer_features.sql: events before the cut-off (`as_of` + 1 day 00:00 UTC)
that had landed by `as_of`; anonymous buyers ('guest:...') are not customers; durations are
milliseconds / 86,400,000 in DOUBLE. Equal inputs give equal fits, bit for bit, when the rows come in
the same order: both paths sort by customer_id (`fit_count_models`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from shop_pipeline.features.columns import cutoff_for
from shop_pipeline.ml.common import sampling
from shop_pipeline.ml.propensity.candidates import BGNBD, fit_probabilistic, fit_spend_per_order
from shop_pipeline.ml.propensity.gamma_gamma import GammaGamma

COUNT_COLUMNS = ("customer_id", "frequency", "recency_days", "tenure_days", "monetary", "avg_order_value")
MS_PER_DAY = 86_400_000.0
GUEST_PREFIX = "guest:"


def duckdb_counts(con: Any, as_of: dt.date, sample: sampling.Sample | None = None) -> pd.DataFrame:
    """The counts of the DuckDB path: the customer features at `as_of` (what training reads
    today), only COUNT_COLUMNS, on `sample` (key customer_id) when given, by customer_id."""
    from shop_pipeline.features.tables import customer_features_frame

    features = customer_features_frame(con, as_of).loc[:, list(COUNT_COLUMNS)]
    if sample is not None:
        ids = features["customer_id"].tolist()
        keep = sampling.python_keep(ids, sampling.python_threshold(ids, sample))
        features = features.loc[keep]
    return features.sort_values("customer_id", kind="stable").reset_index(drop=True)


def spark_counts(events: Any, as_of: dt.date, sample: sampling.Sample | None = None) -> Any:
    """A Spark DataFrame of COUNT_COLUMNS, one row per customer, from a DataFrame of
    staging.events rows (the lake table: `spark.read.parquet(<lake>/staging/events)`).
    `sample` (its key is the customer id) keeps a bounded set of customers, the same ones as
    `duckdb_counts` keeps."""
    from pyspark.sql import functions as F

    zone = events.sparkSession.conf.get("spark.sql.session.timeZone")
    if zone not in ("UTC", "Etc/UTC", "+00:00", "Z"):
        raise ValueError(f"the Spark session time zone must be UTC to count days in UTC (is {zone})")
    cutoff = cutoff_for(as_of)
    seen = events.where(
        (F.col("event_time") < F.lit(cutoff.isoformat(sep=" ")).cast("timestamp_ntz"))
        & (F.col("partition_date") <= F.lit(as_of))
        & ~F.col("user_id").startswith(GUEST_PREFIX)
    )
    if sample is not None:
        customers = seen.select(F.col("user_id").alias(sample.key)).distinct()
        threshold = sampling.spark_threshold(customers, sample)
        seen = seen.where(sampling.spark_condition("user_id", threshold))
    # an order: its first purchase event and its amount, as exact decimals
    orders = (
        seen.where(F.col("event_type") == "purchase")
        .withColumn("order_key", F.coalesce("order_id", "event_id"))
        .withColumn("amount", F.col("price").cast("decimal(18,4)") * F.col("quantity"))
        .groupBy("user_id", "order_key")
        .agg(F.min("event_time").alias("order_time"), F.sum("amount").alias("amount"))
        .groupBy("user_id")
        .agg(
            F.count(F.lit(1)).alias("frequency"),
            F.sum("amount").alias("monetary"),
            F.max("order_time").alias("last_order"),
        )
    )
    activity = seen.groupBy("user_id").agg(F.min("event_time").alias("first_seen"))
    joined = activity.join(orders, "user_id", "left")
    cutoff_ms = F.lit(int((cutoff - dt.datetime(1970, 1, 1)).total_seconds() * 1000)).cast("double")

    def days_before_cutoff(column: Any) -> Any:
        # a TIMESTAMP_NTZ in UTC wall time (a UTC session reads it as that instant): its epoch
        # milliseconds, as DuckDB's epoch_ms gives them
        millis = F.unix_millis(column.cast("timestamp")).cast("double")
        return (cutoff_ms - millis) / F.lit(MS_PER_DAY)

    frequency = F.coalesce(F.col("frequency"), F.lit(0)).cast("bigint")
    monetary = F.coalesce(F.col("monetary"), F.lit(0).cast("decimal(38,4)")).cast("double")
    return joined.select(
        F.col("user_id").alias("customer_id"),
        frequency.alias("frequency"),
        days_before_cutoff(F.coalesce("last_order", "first_seen")).alias("recency_days"),
        days_before_cutoff(F.col("first_seen")).alias("tenure_days"),
        monetary.alias("monetary"),
        F.when(frequency > 0, monetary / frequency.cast("double")).otherwise(F.lit(0.0)).alias("avg_order_value"),
    )


def collect_counts(counts: Any) -> pd.DataFrame:
    """The Spark counts on the driver, typed and ordered as `duckdb_counts` returns them."""
    frame = counts.toPandas()
    frame = frame.astype(
        {
            "frequency": "int64",
            "recency_days": "float64",
            "tenure_days": "float64",
            "monetary": "float64",
            "avg_order_value": "float64",
        }
    )
    return frame.loc[:, list(COUNT_COLUMNS)].sort_values("customer_id", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class CountModels:
    """BG/NBD and the spend per order (Gamma-Gamma, None when it cannot be trusted, and the
    history's mean order value) fitted on the counts."""

    bgnbd: Any  # a fitted BetaGeoClassifier
    mean_order_value: float
    gamma_gamma: GammaGamma | None
    customers: int


def fit_count_models(counts: pd.DataFrame, horizon_days: int, candidate: str = BGNBD) -> CountModels:
    """Fit `candidate` (BG/NBD or MBG/NBD) and the spend per order on `counts` (COUNT_COLUMNS), as
    propensity training fits them on the customer features (candidates.fit_probabilistic,
    fit_spend_per_order); rows by customer_id so that both engines' counts give the same fit."""
    ordered = counts.sort_values("customer_id", kind="stable").reset_index(drop=True)
    model = fit_probabilistic(candidate, ordered, horizon_days)
    mean_order_value, gamma_gamma = fit_spend_per_order(ordered)
    return CountModels(model, mean_order_value, gamma_gamma, len(ordered))
