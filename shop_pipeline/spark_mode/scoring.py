"""The score tables in Spark mode (docs/cluster_models.md; no Dagster).

- Models with a row-independent chunk scorer (`spec.score_rows`: propensity, order risk) score on the
  executors: `spark_scoring.score_to_lake` over the lake's feature table, the registered skops artifact
  checked by its SHA-256 in every task.
- Models with a cluster plan of their own (`spec.score_on_spark`: the demand forecast by blocks of
  products, the recommendations by blocks of customers with their own history) score on the executors
  too: `spark_scoring.grouped_to_lake`, the artifact checked in every task as well.
- Any other model (none of the shipped ones) scores on the driver: `spec.score` on an in-memory DuckDB
  session whose tables are views over the lake (engine/lake_views.py), the scores written to the lake
  with `lake.write_partitions` (a whole-table swap).
The registry row (the champion) is the caller's: in Spark mode it comes from the lake's registry
(spark_mode/lake_registry.py), and `models_dir` is the models URI every executor reads.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import duckdb

from shop_pipeline.engine import lake as lakes
from shop_pipeline.engine.lake_views import attach_lake
from shop_pipeline.ml.common import registry, spark_scoring
from shop_pipeline.ml.common.spec import ModelSpec


@dataclass(frozen=True)
class LakeScoreWrite:
    table: str
    rows: int
    distributed: bool  # scored on the executors (mapInPandas), else on the driver
    write: lakes.WriteResult


def score_on_lake(
    spark, lake: str, spec: ModelSpec, row: registry.RegistryRow, as_of: dt.date, models_dir: os.PathLike, modeling
):
    """Score champion `row` of `spec` as of `as_of` from the lake's features and replace the lake's score
    table; returns (LakeScoreWrite, the scores as a pandas frame for the asset's description)."""
    if spark_scoring.distributed(spec):
        ref = spark_scoring.artifact_ref(row, models_dir)
        if spark_scoring.scorable(spec):
            features = spark_scoring.read_lake_table(spark, lake, spark_scoring.features_table(spec))
            written = spark_scoring.score_to_lake(spec, features, ref, as_of, lake)
        else:
            job = spark_scoring.ScoringJob(spark, lake, ref, row, as_of, modeling)
            written = spark_scoring.grouped_to_lake(spec, job)
        scores = spark_scoring.read_lake_table(spark, lake, spec.score_table).toPandas()
        return LakeScoreWrite(spec.score_table, written.rows, True, written.write), scores
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        attach_lake(con, lake)
        fitted = spec.artifact.from_artifact(
            registry.load_artifact(registry.artifact_location(models_dir, row.artifact_path), row.sha256)
        )
        scores = spec.score(con, fitted, row, as_of, modeling)
    result = lakes.write_partitions(scores, lakes.lake_table(lake, spec.score_table))
    return LakeScoreWrite(spec.score_table, len(scores), False, result), scores
