"""Batch scoring on a Spark cluster: the registered artifact, checked by its SHA-256 on every
executor, scores a DataFrame of feature rows with `mapInPandas`, and the scores go to the lake (no Dagster).

How a model scores here:

1. the driver finds the artifact the registry recorded (`ArtifactRef`: its file on storage every
   worker reads, its SHA-256 and the version) and, by default, checks it once before any task starts
   (a tampered file fails fast, on the driver, with `registry.ArtifactIntegrityError`);
2. each task (one per partition of the feature rows) reads the file's bytes itself, and
   `registry.load_artifact(path, sha256)` refuses them unless they hash to the registry's SHA-256
   (and skops builds only the allow-listed types): a file replaced after the driver's check fails
   the job, with the integrity error in the task's failure (`score_to_lake` raises it as
   `ArtifactIntegrityError` on the driver). The fitted model is `spec.artifact.from_artifact(...)`,
   built once per task;
3. the task hands each Arrow batch of feature rows, as the frame DuckDB's `.df()` gives (dates and
   timestamps as datetime64[us]: scorers that fingerprint their inputs see the same bytes), to the
   model's chunk scorer `spec.score_rows(fitted, features, as_of, model_version)`, the function the
   DuckDB path scores with; its rows are the score table's, typed by the table's DDL
   (sql/tables/scoring.<table>.sql, `spark_schema`);
4. `score_to_lake` writes the result to `<lake>/scoring/<table>/` through engine/lake.py (an
   unpartitioned table: the whole table is swapped, after an audit that the staged rows are one per
   feature row).

Which models score here: those whose rows are independent (`spec.score_rows` is set): propensity
(`score_customers`: p_purchase, expected orders and spend, the segment from thresholds stored with
the model) and order risk (`score_orders` without `previous`: every order is scored afresh; the
DuckDB path lends an earlier score only when it equals what scoring anew gives).

Models whose rows depend on other rows of the same key (`spec.score_on_spark` is set) plan their own
job: the demand forecast scores blocks of products (each product's days, with the panel's day range
and the shop's weekday index computed once on the driver: ml/demand_forecast/spark_score.py), the
recommendations score customers co-partitioned with their own interactions
(ml/recommendation/spark_score.py). Every task still loads the artifact with `load_fitted` (SHA-256
checked), and `grouped_to_lake` writes and audits the scores as `score_to_lake` does.

Artifacts on shared storage: `ArtifactRef.uri` is a local path (a mount every worker has: NFS, a
shared volume) or a URI `pyarrow.fs` opens (s3://, gs://, hdfs://); a task copies a remote file to a
local temporary file and checks and loads those bytes.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from shop_pipeline.engine import lake
from shop_pipeline.engine.spark_catalog import spark_type
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.spec import ModelSpec
from shop_pipeline.sql import ddl


def spark_schema(table: str) -> Any:
    """The Spark StructType of `table`'s DDL (its columns in order, nullability kept)."""
    from pyspark.sql import types as T

    return T.StructType(
        [T.StructField(c.name, T._parse_datatype_string(spark_type(c.type)), c.nullable) for c in ddl.columns(table)]
    )


@dataclass(frozen=True)
class ArtifactRef:
    """A registered artifact as every executor finds it: file (path or URI), SHA-256, version."""

    uri: str
    sha256: str
    version: str


def artifact_ref(row: registry.RegistryRow, models_dir: str | os.PathLike) -> ArtifactRef:
    """The artifact of registered version `row` in `models_dir`: a folder every worker reads (a
    shared mount), or a URI of one (s3://bucket/home/models)."""
    models = str(models_dir)
    if "://" in models and not models.startswith("file:"):
        relative = registry.artifact_file("/models", row.artifact_path).relative_to("/models")
        uri = f"{models.rstrip('/')}/{relative.as_posix()}"
    else:
        local = urllib.parse.unquote(urllib.parse.urlparse(models).path) if models.startswith("file:") else models
        uri = str(registry.artifact_file(local, row.artifact_path))
    return ArtifactRef(uri, row.sha256, row.version)


def load_fitted(artifact: type, ref: ArtifactRef) -> Any:
    """The fitted model (`artifact`: the spec's Artifact class) of `ref`, its bytes checked against the
    registry's SHA-256 where this runs."""
    if "://" not in ref.uri or ref.uri.startswith("file:"):
        path = urllib.parse.unquote(urllib.parse.urlparse(ref.uri).path) if ref.uri.startswith("file:") else ref.uri
        return artifact.from_artifact(registry.load_artifact(path, ref.sha256))
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(ref.uri)
    with tempfile.TemporaryDirectory(prefix="artifact-") as folder:
        local = Path(folder) / "model.skops"
        with fs.open_input_stream(path) as source, open(local, "wb") as target:
            target.write(source.read())
        return artifact.from_artifact(registry.load_artifact(local, ref.sha256))


def _feature_columns(table: str) -> dict[str, str]:
    return {c.name: c.type.upper() for c in ddl.columns(table)}


def as_duckdb_frame(batch: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """A batch of feature rows as DuckDB's `.df()` gives the table: DATE and TIMESTAMP columns as
    datetime64[us] (a scorer that hashes its inputs, order risk's features_hash, sees the same bytes)."""
    batch = batch.copy()
    for name, kind in types.items():
        if name in batch.columns and kind in ("DATE", "TIMESTAMP"):
            batch[name] = pd.to_datetime(batch[name]).astype("datetime64[us]")
    return batch


def as_score_rows(scores: pd.DataFrame, table: str) -> pd.DataFrame:
    """A chunk scorer's rows in the Spark schema's form: DDL columns in order, UBIGINT as Decimal,
    DATE as datetime.date, TIMESTAMP as naive datetime64."""
    out = {}
    for column in ddl.columns(table):
        values = scores[column.name]
        kind = column.type.upper()
        if kind == "UBIGINT":
            values = pd.Series([None if pd.isna(v) else decimal.Decimal(int(v)) for v in values], dtype=object)
        elif kind == "DATE":
            values = pd.Series([None if pd.isna(v) else pd.Timestamp(v).date() for v in values], dtype=object)
        elif kind == "TIMESTAMP":
            values = pd.to_datetime(values)
        out[column.name] = values.reset_index(drop=True) if isinstance(values, pd.Series) else values
    return pd.DataFrame(out)


def scorable(spec: ModelSpec) -> bool:
    """Whether `spec`'s rows are scored independently (score_frame), not by a plan of its own."""
    return spec.score_rows is not None


def distributed(spec: ModelSpec) -> bool:
    """Whether `spec` scores on the executors (row by row, or by its own plan: spec.score_on_spark)."""
    return scorable(spec) or spec.score_on_spark is not None


def read_lake_table(spark: Any, lake_uri: str, table: str) -> Any:
    """The Spark DataFrame of a lake table's rows (its DDL's columns; a monthly table's `event_month` left out)."""
    located = lake.lake_table(lake_uri, table)
    frame = spark.read.parquet(lake.spark_uri(located.location))
    return frame.drop("event_month") if located.partitioned else frame


@dataclass(frozen=True)
class ScoringJob:
    """What a model's own cluster plan (spec.score_on_spark) is given."""

    spark: Any
    lake: str
    ref: ArtifactRef  # the registered artifact every task loads (load_fitted)
    row: registry.RegistryRow  # the version scored (its parameters: the serving candidate)
    as_of: dt.date
    settings: Any  # the run's model settings (spec.ModelSettings)


@dataclass(frozen=True)
class PlannedScores:
    """A model's plan: the lazy score rows (the score table's Spark schema) and what the audit checks."""

    scores: Any
    keys: tuple[str, ...]  # the table's key: one staged row per key
    expected_rows: int | None = None  # None: as many as the plan gives (the key still unique)


def features_table(spec: ModelSpec) -> str:
    """The feature table `spec` scores (the first of its scoring inputs)."""
    return next(iter(spec.scoring_inputs))


def score_frame(
    spec: ModelSpec, features: Any, ref: ArtifactRef, as_of: dt.date, *, check_on_driver: bool = True
) -> Any:
    """A lazy Spark DataFrame of `spec.score_table`'s rows: `features` (rows of the model's feature
    table) scored by `ref`'s artifact in every task (module docstring)."""
    if spec.score_rows is None:
        raise ValueError(f"{spec.name} has no row-independent chunk scorer (score_rows): it scores on the driver")
    if check_on_driver:
        load_fitted(spec.artifact, ref)  # fail fast: a changed file never reaches the executors
    # what the tasks need, and only that, goes with them (not the whole spec)
    artifact, score_rows, table, version = spec.artifact, spec.score_rows, spec.score_table, ref.version
    input_types = _feature_columns(features_table(spec))

    def score_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        fitted = None
        for batch in batches:
            if len(batch) == 0:
                continue
            if fitted is None:  # checked and built once per task, only when it has rows
                fitted = load_fitted(artifact, ref)
            scores = score_rows(fitted, as_duckdb_frame(batch, input_types), as_of, version)
            yield as_score_rows(scores, table)

    return spread(features).mapInPandas(score_partition, spark_schema(table))


def spread(features: Any) -> Any:
    """`features` dealt round-robin into the session's shuffle partitions
    (`spark.sql.shuffle.partitions`, $SHOP_PIPELINE_SPARK_SHUFFLE_PARTITIONS): read as they lie, a
    table of a few files of unequal size is scored by as many tasks, and the largest file's task
    keeps one executor busy while the others wait; evenly dealt rows keep every executor busy to
    the end (docs/benchmarks.md, "Scaling"). Rows score independently, so their order is free."""
    partitions = int(features.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    return features.repartition(partitions)


@dataclass(frozen=True)
class LakeScores:
    table: str
    rows: int
    write: lake.WriteResult


def score_to_lake(
    spec: ModelSpec,
    features: Any,
    ref: ArtifactRef,
    as_of: dt.date,
    lake_uri: str,
    *,
    check_on_driver: bool = True,
    files: int | None = None,
) -> LakeScores:
    """Score `features` (score_frame) and replace `<lake>/scoring/<table>/` with the scores, after an
    audit that the staged rows are one per feature row. `files` repartitions the scores into that
    many files (the scoring itself stays spread over the feature partitions). A task that refused
    the artifact fails the write: raised as registry.ArtifactIntegrityError."""
    expected = features.count()
    scores = score_frame(spec, features, ref, as_of, check_on_driver=check_on_driver)
    return _publish(spec, PlannedScores(scores, (), expected), ref, lake_uri, files, unit="feature rows")


def grouped_to_lake(
    spec: ModelSpec, job: ScoringJob, *, check_on_driver: bool = True, files: int | None = None
) -> LakeScores:
    """Score with the model's own plan (`spec.score_on_spark(job)`) and replace `<lake>/scoring/<table>/`,
    after an audit that the staged rows have one row per key (and as many rows as the plan expects, when
    it says). A task that refused the artifact fails the write: raised as registry.ArtifactIntegrityError."""
    if spec.score_on_spark is None:
        raise ValueError(f"{spec.name} has no cluster plan (score_on_spark)")
    if check_on_driver:
        load_fitted(spec.artifact, job.ref)  # fail fast: a changed file never reaches the executors
    return _publish(spec, spec.score_on_spark(job), job.ref, job.lake, files, unit="planned rows")


def _publish(
    spec: ModelSpec, planned: PlannedScores, ref: ArtifactRef, lake_uri: str, files: int | None, unit: str
) -> LakeScores:
    scores = planned.scores if files is None else planned.scores.repartition(int(files))
    spark = scores.sparkSession
    staged_rows: list[int] = []

    def audit(staged: lake.StagedWrite) -> None:
        rows = staged.spark_frame(spark)
        got = rows.count()
        staged_rows.append(got)
        if planned.expected_rows is not None and got != planned.expected_rows:
            raise lake.AuditFailed(f"{spec.score_table}: {got} scores staged for {planned.expected_rows} {unit}")
        if planned.keys and rows.select(*planned.keys).distinct().count() != got:
            raise lake.AuditFailed(f"{spec.score_table}: staged rows repeat a key ({', '.join(planned.keys)})")

    try:
        result = lake.write_partitions(scores, lake.lake_table(lake_uri, spec.score_table), audit=audit)
    except Exception as error:
        if "ArtifactIntegrityError" in str(error):
            raise registry.ArtifactIntegrityError(
                f"{spec.name} {ref.version}: an executor refused the artifact {ref.uri}: its bytes do not hash to "
                f"the registry's SHA-256 {ref.sha256} (the file was changed or replaced after registration)"
            ) from error
        raise
    return LakeScores(spec.score_table, staged_rows[-1] if staged_rows else 0, result)
