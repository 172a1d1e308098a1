"""Distributed batch scoring: mapInPandas tasks load the registered skops artifact (checked by its
SHA-256 in every task) and score feature rows read from the lake exactly as the DuckDB path scores them;
the scores replace the lake's score table; a tampered artifact fails the job. The demand forecast (blocks
of products) and the recommendations (blocks of customers with their own history) score through their own
plans and equal the driver's rows too."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import shutil
from pathlib import Path
from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd
import pytest

from shop_pipeline.engine import lake
from shop_pipeline.engine.lake_views import attach_lake
from shop_pipeline.ml.common import registry, spark_scoring
from shop_pipeline.ml.models import model
from shop_pipeline.spark_mode.scoring import score_on_lake
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.ml.cluster.shop import build_shop, copy_to_lake, register_grouped_models, register_models

KEYS = {
    "propensity": ["customer_id"],
    "order_risk": ["customer_id", "order_id"],
    "demand_forecast": ["product_id", "day"],
    "recommendation": ["customer_id", "rank"],
}
SETTINGS = SimpleNamespace(forecast_horizon_days=14, recommendation_recency_days=None)
# what the forecast's and the recommendations' plans read from the lake
GROUPED_INPUTS = [
    "features.product_daily_sales",
    "features.interactions",
    "staging.events",
    "raw.products",
    "raw.promotions",
    "raw.ad_spend",
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    shop = build_shop(tmp_path_factory.mktemp("scoring-shop"))
    models_dir = shop.home / "models"
    rows = register_models(shop, models_dir)
    lake_uri = (shop.home / "lake").as_uri()
    with connect(shop.warehouse) as con:
        copy_to_lake(con, lake_uri, ["features.customer_features", "features.order_features"])
    return shop, models_dir, rows, lake_uri


def _features(spark, lake_uri: str, table: str):
    """The feature rows in one partition (as one file reads): scoring must spread them itself."""
    location = lake.lake_table(lake_uri, table).location
    frame = spark.read.parquet(lake.spark_uri(location)).coalesce(1)
    assert frame.rdd.getNumPartitions() == 1
    return frame


def _duckdb_scores(shop, name: str) -> pd.DataFrame:
    shop, models_dir, rows, _ = shop
    spec = model(name)
    with connect(shop.warehouse) as con:
        fitted = spec.load(con, rows[name], models_dir)
        return spec.score(con, fitted, rows[name], shop.as_of, None)


def _lake_scores(lake_uri: str, table: str) -> pd.DataFrame:
    """The lake's score table as DuckDB reads it, typed as its DDL (features_hash UBIGINT again)."""
    with duckdb.connect() as con:
        assert attach_lake(con, lake_uri, [table]) == [table]
        return con.execute(f"SELECT * FROM {table}").df()


def assert_same_scores(got: pd.DataFrame, expected: pd.DataFrame, keys: list[str]) -> None:
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected) > 0
    got = got.sort_values(keys).reset_index(drop=True)
    expected = expected.sort_values(keys).reset_index(drop=True)
    for column in expected.columns:
        a, b = got[column], expected[column]
        if pd.api.types.is_float_dtype(b):
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9, atol=0, err_msg=column)
        elif column == "features_hash":  # UBIGINT: DECIMAL(20, 0) on the lake, every bit kept
            assert a.dtype == b.dtype == np.uint64
            assert (a.to_numpy() == b.to_numpy()).all()
        elif column in ("as_of", "order_time"):
            assert (pd.to_datetime(a) == pd.to_datetime(b)).all(), column
        else:
            assert a.where(a.notna(), None).tolist() == b.where(b.notna(), None).tolist(), column


@pytest.mark.parametrize("name", ["propensity", "order_risk"])
def test_distributed_scores_equal_the_duckdb_path(spark, shop, name):
    small, models_dir, rows, lake_uri = shop
    spec = model(name)
    features = _features(spark, lake_uri, spark_scoring.features_table(spec))
    ref = spark_scoring.artifact_ref(rows[name], models_dir)

    written = spark_scoring.score_to_lake(spec, features, ref, small.as_of, lake_uri)

    expected = _duckdb_scores(shop, name)
    assert written.rows == len(expected)
    table = lake.lake_table(lake_uri, spec.score_table)
    parts = [p for p in Path(table.filesystem()[1]).iterdir() if p.name.endswith(".parquet")]
    # one file per scoring task that had rows: the one partition was dealt over every task
    assert len(parts) == int(spark.conf.get("spark.sql.shuffle.partitions")) > 1
    assert_same_scores(_lake_scores(lake_uri, spec.score_table), expected, KEYS[name])
    if name == "order_risk":
        assert expected["flagged"].any() and expected["top_features"].notna().any()


def _tampered(shop, name: str, folder: Path) -> spark_scoring.ArtifactRef:
    _, models_dir, rows, _ = shop
    ref = spark_scoring.artifact_ref(rows[name], models_dir)
    copy = folder / "tampered.skops"
    shutil.copyfile(ref.uri, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    return spark_scoring.ArtifactRef(str(copy), ref.sha256, ref.version)


def _left_aside(folder: Path) -> list[Path]:
    """The files under the table's aside folder. Files only: when a job fails, a task attempt Spark was
    still cancelling on the other executor can recreate its empty _temporary folders under the aside
    folder after the write's cleanup (seen in CI, stop 31): debris without data, never read."""
    return sorted(p for p in (folder / lake.WAP).rglob("*") if p.is_file())


@pytest.mark.parametrize("check_on_driver", [True, False], ids=["driver", "executors"])
def test_a_tampered_artifact_fails_the_job_and_the_published_scores_stay(spark, shop, tmp_path, check_on_driver):
    """On the driver's check, or (a file replaced after it) in every task: the integrity error, no write."""
    small, _, _, lake_uri = shop
    spec = model("propensity")
    features = _features(spark, lake_uri, spark_scoring.features_table(spec))
    table = lake.lake_table(lake_uri, spec.score_table)
    before = _lake_scores(lake_uri, spec.score_table) if Path(table.filesystem()[1]).exists() else None

    with pytest.raises(registry.ArtifactIntegrityError, match="SHA-256") as raised:
        spark_scoring.score_to_lake(
            spec,
            features,
            _tampered(shop, "propensity", tmp_path),
            small.as_of,
            lake_uri,
            check_on_driver=check_on_driver,
        )
    if not check_on_driver:
        assert "an executor refused" in str(raised.value)
        assert "ArtifactIntegrityError" in str(raised.value.__cause__)

    folder = Path(table.filesystem()[1])
    assert _left_aside(folder) == []  # nothing was left aside
    if before is not None:
        pd.testing.assert_frame_equal(_lake_scores(lake_uri, spec.score_table), before)


def test_the_output_schema_is_the_score_tables_ddl():
    schema = spark_scoring.spark_schema("scoring.order_risk_scores")
    kinds = {f.name: f.dataType.simpleString() for f in schema.fields}
    assert kinds == {
        "order_id": "string",
        "customer_id": "string",
        "order_time": "timestamp_ntz",
        "risk_score": "double",
        "flagged": "boolean",
        "top_features": "string",
        "model_version": "string",
        "features_hash": "decimal(20,0)",
        "as_of": "date",
    }
    assert [f.name for f in schema.fields if f.nullable] == ["top_features"]
    rows = spark_scoring.as_score_rows(
        pd.DataFrame(
            {
                "order_id": ["o"],
                "customer_id": ["c"],
                "order_time": pd.to_datetime(["2025-01-01 10:00:00.123456"]),
                "risk_score": [0.5],
                "flagged": [True],
                "top_features": [None],
                "model_version": ["v"],
                "features_hash": np.array([2**64 - 1], dtype=np.uint64),
                "as_of": [pd.Timestamp("2025-01-02").date()],
            }
        ),
        "scoring.order_risk_scores",
    )
    assert rows["features_hash"][0] == decimal.Decimal(2**64 - 1)


def test_models_without_a_chunk_scorer_plan_their_own_job():
    assert spark_scoring.scorable(model("propensity")) and spark_scoring.scorable(model("order_risk"))
    for name in ("demand_forecast", "recommendation"):
        assert not spark_scoring.scorable(model(name)) and spark_scoring.distributed(model(name))
        with pytest.raises(ValueError, match="scores on the driver"):
            spark_scoring.score_frame(model(name), None, None, None)
    with pytest.raises(ValueError, match="no cluster plan"):
        spark_scoring.grouped_to_lake(model("propensity"), None)


def test_artifact_refs_on_shared_storage(shop):
    _, _, rows, _ = shop
    row = rows["propensity"]
    assert spark_scoring.artifact_ref(row, "s3://bucket/home/models").uri == (
        f"s3://bucket/home/models/propensity/{row.version}.skops"
    )
    assert spark_scoring.artifact_ref(row, "file:///mnt/shared%20home/models").uri == (
        f"/mnt/shared home/models/propensity/{row.version}.skops"
    )


# -- models that plan their own job: the demand forecast and the recommendations -------------------


@pytest.fixture(scope="module")
def grouped(shop):
    """The forecast and two recommenders registered on the module's shop, their inputs on its lake."""
    small, models_dir, _, lake_uri = shop
    rows = register_grouped_models(small, models_dir)
    with connect(small.warehouse) as con:
        copy_to_lake(con, lake_uri, GROUPED_INPUTS)
    return rows


def _driver_scores(shop, name: str, row: registry.RegistryRow) -> pd.DataFrame:
    small, models_dir, _, _ = shop
    spec = model(name)
    with connect(small.warehouse) as con:
        return spec.score(con, spec.load(con, row, models_dir), row, small.as_of, SETTINGS)


def _input_partitions(spark, lake_uri: str, table: str) -> int:
    """The partitions the plan's input is read as (a file per month folder here): fewer than the tasks
    that must score it, so the spread is the plan's own."""
    location = lake.lake_table(lake_uri, table).location
    partitions = spark.read.parquet(lake.spark_uri(location)).rdd.getNumPartitions()
    assert partitions < int(spark.conf.get("spark.sql.shuffle.partitions"))
    return partitions


def _score_files(lake_uri: str, table: str) -> list[Path]:
    folder = Path(lake.lake_table(lake_uri, table).filesystem()[1])
    return [p for p in folder.iterdir() if p.name.endswith(".parquet")]


@pytest.mark.parametrize(
    ("name", "candidate"),
    [
        ("demand_forecast", "challenger"),
        ("demand_forecast", "ets_damped"),  # reads the shop's weekday index
        ("recommendation", "item_knn"),
        ("recommendation", "ease"),
        ("recommendation", "category_popularity"),
    ],
)
def test_planned_scores_on_the_cluster_equal_the_driver(spark, shop, grouped, name, candidate):
    small, models_dir, _, lake_uri = shop
    spec = model(name)
    key = "demand_forecast" if name == "demand_forecast" else candidate
    row = dataclasses.replace(grouped[key], parameters={"serving_candidate": candidate})
    read_as = _input_partitions(spark, lake_uri, spark_scoring.features_table(spec))

    written, _ = score_on_lake(spark, lake_uri, spec, row, small.as_of, models_dir, SETTINGS)

    expected = _driver_scores(shop, name, row)
    assert written.distributed and written.rows == len(expected)
    assert len(_score_files(lake_uri, spec.score_table)) > read_as  # more tasks scored than the input had partitions
    assert_same_scores(_lake_scores(lake_uri, spec.score_table), expected, KEYS[name])
    if name == "recommendation":
        assert expected["customer_id"].nunique() > 100
        if candidate == "category_popularity":  # the fallback's lists, each from its own candidates
            assert "popular_in_category" in set(expected["reason"])


@pytest.mark.parametrize("name", ["demand_forecast", "recommendation"])
def test_a_tampered_artifact_fails_every_planned_task_and_nothing_is_published(spark, shop, grouped, tmp_path, name):
    small, models_dir, _, lake_uri = shop
    spec = model(name)
    row = grouped["demand_forecast" if name == "demand_forecast" else "item_knn"]
    ref = spark_scoring.artifact_ref(row, models_dir)
    copy = tmp_path / "tampered.skops"
    data = bytearray(Path(ref.uri).read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    tampered = spark_scoring.ArtifactRef(str(copy), ref.sha256, ref.version)
    table = lake.lake_table(lake_uri, spec.score_table)
    folder = Path(table.filesystem()[1])
    before = _lake_scores(lake_uri, spec.score_table) if folder.exists() else None

    job = spark_scoring.ScoringJob(spark, lake_uri, tampered, row, small.as_of, SETTINGS)
    with pytest.raises(registry.ArtifactIntegrityError, match="an executor refused"):
        spark_scoring.grouped_to_lake(spec, job, check_on_driver=False)
    with pytest.raises(registry.ArtifactIntegrityError):
        spark_scoring.grouped_to_lake(spec, job)  # the driver's own check, before any task

    assert _left_aside(folder) == []
    if before is not None:
        pd.testing.assert_frame_equal(_lake_scores(lake_uri, spec.score_table), before)


def test_plans_refuse_features_built_for_another_cut_off(spark, shop, grouped):
    """As on the driver: a product-day grid that does not run to the cut-off, interactions built after it."""
    small, models_dir, _, lake_uri = shop
    earlier = small.as_of - dt.timedelta(days=1)
    for name, key, message in (
        ("demand_forecast", "demand_forecast", "materialize product_daily_sales first"),
        ("recommendation", "item_knn", "rebuild features.interactions"),
    ):
        row = grouped[key]
        job = spark_scoring.ScoringJob(
            spark, lake_uri, spark_scoring.artifact_ref(row, models_dir), row, earlier, SETTINGS
        )
        with pytest.raises(ValueError, match=message):
            spark_scoring.grouped_to_lake(model(name), job)
