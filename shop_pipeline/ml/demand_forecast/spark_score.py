"""The demand forecast scored on a Spark cluster: blocks of products, each on an executor (no Dagster).

`plan(job)` is the model's `score_on_spark` (ml/common/spark_scoring.py runs and publishes it):

1. the driver reads what is the whole shop's, once: the history's day range and the shop's units on the
   days of the weekday index (two small Spark aggregates of the lake's features.product_daily_sales:
   `blocks.ShopContext`), and the future frame (`future_product_days_frame`, the DuckDB path's own SQL
   over DuckDB views of the lake, products x horizon rows);
2. the history rows (the SERVING_HISTORY_DAYS up to the cut-off) and the future rows are dealt into
   blocks of products by a hash of the product id and cogrouped: each task gets every row of its
   products, never another block's;
3. each task loads the registered artifact (`spark_scoring.load_fitted`: the bytes checked against the
   registry's SHA-256 there) and forecasts its block with the context (`blocks.forecast_block`).

The rows equal the driver's (score.score_table): a product's forecast reads only its own rows and the
context, whatever else its block holds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pandas as pd

from shop_pipeline.engine.lake_views import attach_lake
from shop_pipeline.features.columns import PRODUCT_DAILY_SALES_TABLE
from shop_pipeline.features.tables import future_product_days_frame
from shop_pipeline.ml.common import spark_scoring
from shop_pipeline.ml.common.lifecycle import serving_candidate
from shop_pipeline.ml.demand_forecast.blocks import ShopContext, forecast_block, season_days, shop_context
from shop_pipeline.ml.demand_forecast.candidates import FittedForecaster
from shop_pipeline.ml.demand_forecast.data import HISTORY_COLUMNS, SERVING_HISTORY_DAYS, DayRange

SCORE_TABLE = "scoring.demand_forecasts"
FUTURE_INPUTS = ("staging.events", "raw.products", "raw.promotions", "raw.ad_spend")
# what the forecast reads of the future frame (data.future_rows), typed for Spark
FUTURE_SCHEMA = {
    "product_id": "string",
    "day": "date",
    "category": "string",
    "shown_price": "double",
    "list_price": "double",
    "promo_discount_pct": "double",
    "is_promo": "boolean",
    "ad_spend": "double",
}
BLOCKS_PER_PARTITION = 4  # blocks of products per shuffle partition: groups stay small, tasks even


def shop_context_on_spark(history: Any, as_of: dt.date, horizon_days: int) -> ShopContext:
    """The ShopContext of `history` (the Spark rows of the served history, which run to as_of) from two
    aggregates."""
    from pyspark.sql import functions as F

    first, last = history.agg(F.min("day"), F.max("day")).first()
    days = DayRange(pd.Timestamp(first), pd.Timestamp(last))
    window = season_days(days, as_of)
    # units as the panel counts them: a NULL as 0 sold, a negative value as 0 (integers: exact sums)
    daily = (
        history.where(F.col("day") >= F.lit(window[0].date()))
        .groupBy("day")
        .agg(F.sum(F.greatest(F.coalesce(F.col("units"), F.lit(0)), F.lit(0))).alias("units"))
        .toPandas()
    )
    return shop_context(
        days, pd.Series(daily["units"].to_numpy(), index=pd.to_datetime(daily["day"])), as_of, horizon_days
    )


def future_frame(lake: str, as_of: dt.date, horizon_days: int) -> pd.DataFrame:
    """The future frame of the DuckDB path, computed by the same SQL over DuckDB views of the lake."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        attach_lake(con, lake, FUTURE_INPUTS)
        return future_product_days_frame(con, as_of, horizon_days)


def plan(job: spark_scoring.ScoringJob) -> spark_scoring.PlannedScores:
    """The forecast rows of every product, scored in blocks on the executors (module docstring)."""
    from pyspark.sql import functions as F

    spark, as_of = job.spark, job.as_of
    horizon = int(job.settings.forecast_horizon_days)
    table = spark_scoring.read_lake_table(spark, job.lake, PRODUCT_DAILY_SALES_TABLE)
    built_to = table.agg(F.max("day")).first()[0]
    if built_to != as_of:  # the DuckDB path's refusal (features.tables.read_product_daily_sales)
        raise ValueError(
            f"{PRODUCT_DAILY_SALES_TABLE} runs to {built_to}, not to as_of {as_of.isoformat()}: "
            "materialize product_daily_sales first"
        )
    first_day = as_of - dt.timedelta(days=SERVING_HISTORY_DAYS)
    history = table.where((F.col("day") >= F.lit(first_day)) & (F.col("day") <= F.lit(as_of))).select(*HISTORY_COLUMNS)
    context = shop_context_on_spark(history, as_of, horizon)
    future_rows = future_frame(job.lake, as_of, horizon)
    future = spark.createDataFrame(
        future_rows.loc[:, list(FUTURE_SCHEMA)].assign(day=pd.to_datetime(future_rows["day"]).dt.date),
        ", ".join(f"{name} {kind}" for name, kind in FUTURE_SCHEMA.items()),
    )

    blocks = int(spark.conf.get("spark.sql.shuffle.partitions")) * BLOCKS_PER_PARTITION
    block = F.pmod(F.xxhash64("product_id"), F.lit(blocks))
    ref, version = job.ref, job.ref.version
    candidate = serving_candidate(job.row, "challenger")
    schema = spark_scoring.spark_schema(SCORE_TABLE)

    def score_block(history_rows: pd.DataFrame, future_block: pd.DataFrame) -> pd.DataFrame:
        if len(future_block) == 0:
            return spark_scoring.as_score_rows(_empty_forecast(), SCORE_TABLE)
        fitted = spark_scoring.load_fitted(FittedForecaster, ref)  # SHA-256 checked in this task
        rows = forecast_block(
            fitted, history_rows.drop(columns="block"), future_block.drop(columns="block"), context, candidate, version
        )
        return spark_scoring.as_score_rows(rows, SCORE_TABLE)

    # both sides dealt by block into the shuffle partitions first: the cogroup keeps that partitioning
    # (an explicit repartition is not coalesced away by adaptive execution, so the blocks stay spread)
    partitions = blocks // BLOCKS_PER_PARTITION
    scores = (
        history.withColumn("block", block)
        .repartition(partitions, "block")
        .groupBy("block")
        .cogroup(future.withColumn("block", block).repartition(partitions, "block").groupBy("block"))
        .applyInPandas(score_block, schema)
    )
    return spark_scoring.PlannedScores(scores, ("product_id", "day"), len(future_rows))


def _empty_forecast() -> pd.DataFrame:
    columns = ("product_id", "day", "p10", "p50", "p90", "expected", "model_version", "as_of")
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
