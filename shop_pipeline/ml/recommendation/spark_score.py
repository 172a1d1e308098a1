"""Recommendations scored on a Spark cluster: blocks of customers, each with its own history (no Dagster).

`plan(job)` is the model's `score_on_spark` (ml/common/spark_scoring.py runs and publishes it):

1. the lake's features.interactions is co-partitioned by customer (`repartition(N, customer_id)`, N the
   shuffle partitions) and sorted by customer within each partition: a task holds every row of its
   customers and no one else's; nothing of the history is broadcast;
2. each task loads the registered artifact (`spark_scoring.load_fitted`: the bytes checked against the
   registry's SHA-256 there; the model's item weights, popularity and seeded tie-break come with it) and
   scores its customers in chunks of whole customers (at most about CHUNK_ROWS interaction rows, a
   customer never split): `data.matrix_from_frame` of the chunk, then `score.recommendations_frame`,
   the DuckDB path's scorer, with the run's recency setting.

A list depends only on the customer's own rows and the model (score._fallback_top keeps each row to its
own candidates), so it equals the driver's list whatever else the block holds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from shop_pipeline.features.interactions import INTERACTIONS_TABLE
from shop_pipeline.ml.common import spark_scoring
from shop_pipeline.ml.recommendation.candidates import RecommenderModel
from shop_pipeline.ml.recommendation.data import matrix_from_frame
from shop_pipeline.ml.recommendation.score import recommendations_frame

SCORE_TABLE = "scoring.recommendations"
# what the matrix reads of features.interactions (data.matrix_from_frame)
HISTORY_COLUMNS = ("customer_id", "product_id", "category", "orders", "weight", "in_catalog", "last_interaction")
CHUNK_ROWS = 200_000  # interaction rows a task gathers before it scores the complete customers among them


def plan(job: spark_scoring.ScoringJob) -> spark_scoring.PlannedScores:
    """Every scored customer's list, on the executors (module docstring)."""
    from pyspark.sql import functions as F

    spark, as_of = job.spark, job.as_of
    interactions = spark_scoring.read_lake_table(spark, job.lake, INTERACTIONS_TABLE)
    built_as_of = interactions.agg(F.max("as_of")).first()[0]
    if built_as_of is not None and built_as_of > as_of:
        raise ValueError(
            f"the interactions are as of {built_as_of}, after the scoring cut-off {as_of}: "
            "rebuild features.interactions for this as_of"
        )
    recency_days = job.settings.recommendation_recency_days
    ref, version = job.ref, job.ref.version
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions"))

    def score_customers(rows: pd.DataFrame) -> pd.DataFrame:
        model = spark_scoring.load_fitted(RecommenderModel, ref)  # SHA-256 checked in this task
        matrix = matrix_from_frame(rows, as_of=built_as_of)
        return recommendations_frame(model, matrix, as_of, version, recency_days=recency_days)

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for chunk in whole_customers(batches, CHUNK_ROWS):
            lists = score_customers(chunk)
            if len(lists):
                yield spark_scoring.as_score_rows(lists, SCORE_TABLE)

    scores = (
        interactions.select(*HISTORY_COLUMNS)
        .repartition(partitions, "customer_id")
        .sortWithinPartitions("customer_id")
        .mapInPandas(score_partition, spark_scoring.spark_schema(SCORE_TABLE))
    )
    return spark_scoring.PlannedScores(scores, ("customer_id", "rank"))


def whole_customers(batches: Iterator[pd.DataFrame], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Frames of whole customers from batches sorted by customer_id: a customer's rows may span batches,
    so the last customer of a gathered chunk waits for the next one (memory: about chunk_rows rows)."""
    pending: list[pd.DataFrame] = []
    gathered = 0
    for batch in batches:
        if len(batch) == 0:
            continue
        pending.append(batch)
        gathered += len(batch)
        if gathered < chunk_rows:
            continue
        frame = pd.concat(pending, ignore_index=True)
        last = frame["customer_id"].iloc[-1]
        tail = frame["customer_id"] == last
        if not tail.all():
            yield frame[~tail].reset_index(drop=True)
            pending, gathered = [frame[tail].reset_index(drop=True)], int(tail.sum())
    if pending:
        yield pd.concat(pending, ignore_index=True)
