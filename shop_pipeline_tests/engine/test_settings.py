"""The engine settings: each variable parsed, a wrong value refused with its name, the defaults."""

import pytest

from shop_pipeline.engine import settings
from shop_pipeline.engine.settings import (
    DAGSTER_PG_URL_ENV,
    ENGINE_ENV,
    LAKE_ENV,
    SHUFFLE_PARTITIONS_ENV,
    SPARK_MASTER_ENV,
    SPARK_REMOTE_ENV,
    SPARK_UI_ENV,
    EngineSettings,
)
from shop_pipeline.settings import HOME_ENV, ShopPaths

VARIABLES = (ENGINE_ENV, LAKE_ENV, SPARK_MASTER_ENV, SPARK_REMOTE_ENV, DAGSTER_PG_URL_ENV, SHUFFLE_PARTITIONS_ENV)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(SPARK_UI_ENV, "0")
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "shop"))


def test_the_engine_is_duckdb_unless_set_and_nothing_else_is_accepted(monkeypatch):
    assert settings.engine_kind() == "duckdb"
    monkeypatch.setenv(ENGINE_ENV, " Spark ")
    assert settings.engine_kind() == "spark"
    monkeypatch.setenv(ENGINE_ENV, "polars")
    with pytest.raises(ValueError, match=r"SHOP_PIPELINE_ENGINE='polars' is not an engine: use one of duckdb, spark"):
        settings.engine_kind()


def test_the_lake_defaults_to_the_shop_home_and_takes_uris_or_absolute_paths(monkeypatch, tmp_path):
    assert settings.lake_uri() == f"file://{tmp_path}/shop/lake"
    assert settings.lake_uri(paths=ShopPaths.at(tmp_path / "other")) == f"file://{tmp_path}/other/lake"
    monkeypatch.setenv(LAKE_ENV, "s3a://shop-bucket/lake/")
    assert settings.lake_uri() == "s3a://shop-bucket/lake"
    assert settings.lake_uri(str(tmp_path / "here")) == f"file://{tmp_path}/here"
    assert settings.lake_uri("gs://bucket") == "gs://bucket"
    for wrong, reason in [
        ("ftp://host/x", "is not a lake URI"),
        ("lake", "is not a lake URI"),
        ("file://lake", "three slashes"),
        ("s3a:///no-bucket", "names no bucket"),
    ]:
        with pytest.raises(ValueError, match=reason):
            settings.lake_uri(wrong)


def test_master_and_connect_urls_are_checked(monkeypatch):
    assert settings.spark_master() is None and settings.spark_remote() is None
    for good in ("spark://127.0.0.1:7077", "spark://a:7077,b:7077", "local", "local[2]", "local[*]", "yarn"):
        assert settings.spark_master(good) == good
    for wrong in ("spark://host", "local[two]", "mesos://x:5050", "127.0.0.1:7077"):
        with pytest.raises(ValueError, match=r"SHOP_PIPELINE_SPARK_MASTER=.* is not a Spark master URL"):
            settings.spark_master(wrong)
    monkeypatch.setenv(SPARK_REMOTE_ENV, "sc://spark.example.com:15002/;use_ssl=true;token=abc")
    assert settings.spark_remote().startswith("sc://spark.example.com:15002")
    for wrong in ("http://host:15002", "sc://", "spark://host:7077"):
        with pytest.raises(ValueError, match=r"SPARK_REMOTE=.* is not a Spark Connect URL"):
            settings.spark_remote(wrong)


def test_the_postgres_url_needs_a_database_and_its_error_hides_the_password(monkeypatch):
    assert settings.dagster_pg_url() is None
    monkeypatch.setenv(DAGSTER_PG_URL_ENV, "postgresql://dagster:secret@db:5432/dagster")
    assert settings.dagster_pg_url() == "postgresql://dagster:secret@db:5432/dagster"
    for wrong in ("mysql://dagster:secret@db/dagster", "postgresql://dagster:secret@db:5432/"):
        with pytest.raises(ValueError, match="is not a Postgres URL") as error:
            settings.dagster_pg_url(wrong)
        assert "secret" not in str(error.value)


def test_the_settings_together_from_the_environment(monkeypatch, tmp_path):
    assert EngineSettings.from_env() == EngineSettings(lake=f"file://{tmp_path}/shop/lake", spark_ui=False)
    monkeypatch.setenv(ENGINE_ENV, "spark")
    monkeypatch.setenv(SPARK_MASTER_ENV, "spark://10.0.0.5:7077")
    monkeypatch.setenv(SHUFFLE_PARTITIONS_ENV, "64")
    monkeypatch.setenv(SPARK_UI_ENV, "on")
    engine = EngineSettings.from_env()
    assert (engine.kind, engine.spark_master, engine.shuffle_partitions, engine.spark_ui) == (
        "spark",
        "spark://10.0.0.5:7077",
        64,
        True,
    )
    assert engine.describe() == f"engine spark (master spark://10.0.0.5:7077), lake file://{tmp_path}/shop/lake"
    monkeypatch.setenv(SHUFFLE_PARTITIONS_ENV, "0")
    with pytest.raises(ValueError, match="SHOP_PIPELINE_SPARK_SHUFFLE_PARTITIONS='0' must be >= 1"):
        EngineSettings.from_env()
    with pytest.raises(ValueError, match="is not an engine"):
        EngineSettings(kind="pandas")


def test_the_dagster_url_names_the_installed_driver():
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; dagster-postgres installs psycopg2
    assert settings.sqlalchemy_pg_url("postgresql://u:p@h:5432/d") == "postgresql+psycopg2://u:p@h:5432/d"
    assert settings.sqlalchemy_pg_url("postgres://u@h/d") == "postgresql+psycopg2://u@h/d"
    assert settings.sqlalchemy_pg_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"
    assert settings.dagster_pg_url("postgresql+psycopg2://u@h/d") == "postgresql+psycopg2://u@h/d"
