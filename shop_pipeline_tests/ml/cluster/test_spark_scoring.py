"""Distributed batch scoring: mapInPandas tasks load the registered skops artifact (checked by its
SHA-256 in every task) and score feature rows read from the lake exactly as the DuckDB path scores them;
the scores replace the lake's score table; a tampered artifact fails the job."""

from __future__ import annotations

import decimal
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from shop_pipeline.engine import lake
from shop_pipeline.engine.lake_views import attach_lake
from shop_pipeline.ml.common import registry, spark_scoring
from shop_pipeline.ml.models import model
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.ml.cluster.shop import build_shop, copy_to_lake, register_models

KEYS = {"propensity": ["customer_id"], "order_risk": ["customer_id", "order_id"]}


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
    assert not (folder / lake.WAP).exists()  # nothing was left aside
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


def test_models_without_a_chunk_scorer_score_on_the_driver():
    assert spark_scoring.scorable(model("propensity")) and spark_scoring.scorable(model("order_risk"))
    for name in ("demand_forecast", "recommendation"):
        assert not spark_scoring.scorable(model(name))
        with pytest.raises(ValueError, match="scores on the driver"):
            spark_scoring.score_frame(model(name), None, None, None)


def test_artifact_refs_on_shared_storage(shop):
    _, _, rows, _ = shop
    row = rows["propensity"]
    assert spark_scoring.artifact_ref(row, "s3://bucket/home/models").uri == (
        f"s3://bucket/home/models/propensity/{row.version}.skops"
    )
    assert spark_scoring.artifact_ref(row, "file:///mnt/shared%20home/models").uri == (
        f"/mnt/shared home/models/propensity/{row.version}.skops"
    )
