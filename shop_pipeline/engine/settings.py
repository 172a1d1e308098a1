"""The engine's settings: which engine computes the tables, where the lake is, how to reach Spark,
and where the Dagster instance keeps its records (docs/cluster.md, "Settings").

Each setting is an environment variable, parsed and checked here so that a wrong value fails at
once with its name in the message instead of deep inside Spark or Dagster. The `Engine` resource
(resources.py) shows the same variables in the UI; the definitions read the engine when they
load (an asset's pool and the run executor depend on it: defs/common.py, definitions.py).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from shop_pipeline.settings import ShopPaths, env_number

ENGINE_ENV = "SHOP_PIPELINE_ENGINE"
LAKE_ENV = "SHOP_PIPELINE_LAKE"
MODELS_URI_ENV = "SHOP_PIPELINE_MODELS_URI"
SPARK_MASTER_ENV = "SHOP_PIPELINE_SPARK_MASTER"
SPARK_REMOTE_ENV = "SPARK_REMOTE"  # PySpark's own variable for Spark Connect
DAGSTER_PG_URL_ENV = "SHOP_PIPELINE_DAGSTER_PG_URL"
SHUFFLE_PARTITIONS_ENV = "SHOP_PIPELINE_SPARK_SHUFFLE_PARTITIONS"
SPARK_UI_ENV = "SHOP_PIPELINE_SPARK_UI"
PARALLEL_STEPS_ENV = "SHOP_PIPELINE_PARALLEL_STEPS"

DUCKDB = "duckdb"
SPARK = "spark"
ENGINES = (DUCKDB, SPARK)

# Shuffle partitions of a Spark session: Spark's 200 costs a task each, which dominates on a
# shop of a few million events; adaptive execution coalesces small ones anyway, so a small
# default only bounds the overhead. A cluster with many cores sets 2-3 per core.
DEFAULT_SHUFFLE_PARTITIONS = 8

# Lake URI schemes Spark can write with the jars a cluster usually has (docs/cluster.md lists the
# Hadoop settings each needs); `file` is the local folder used on one machine and in the tests.
LAKE_SCHEMES = ("file", "s3a", "s3", "gs", "abfs", "abfss", "wasbs", "hdfs", "dbfs")

_MASTER = re.compile(r"^(local(\[(\d+|\*)(,\d+)?\])?|spark://[^\s/]+:\d+(,[^\s/]+:\d+)*|yarn|k8s://\S+)$")
_REMOTE = re.compile(r"^sc://[^\s/:;]+(:\d+)?(/;\S*)?$")


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def engine_kind(value: str | None = None) -> str:
    """The engine: `value`, else $SHOP_PIPELINE_ENGINE, else duckdb; anything else is an error."""
    raw = value if value is not None else _env(ENGINE_ENV)
    kind = (raw or DUCKDB).strip().lower()
    if kind not in ENGINES:
        raise ValueError(f"{ENGINE_ENV}={raw!r} is not an engine: use one of {', '.join(ENGINES)} (default {DUCKDB})")
    return kind


def default_lake(paths: ShopPaths) -> str:
    """The lake on one machine: `file://<shop home>/lake`."""
    return (paths.home / "lake").as_uri()


def privacy_lake(paths: ShopPaths) -> str | None:
    """The lake `forget` and the retention purge rewrite: the engine's lake in Spark mode, else the
    shop home's `lake` folder when it exists (a shop that ran in Spark mode before); None without one."""
    if engine_kind() == SPARK:
        return lake_uri(paths=paths)
    return default_lake(paths) if (paths.home / "lake").is_dir() else None


def lake_models_uri(lake: str) -> str:
    """Where Spark mode keeps the model artifacts: $SHOP_PIPELINE_MODELS_URI, else `<lake>/_models`
    (the Engine resource's models location)."""
    return (_env(MODELS_URI_ENV) or f"{lake.rstrip('/')}/_models").rstrip("/")


def lake_uri(value: str | None = None, paths: ShopPaths | None = None) -> str:
    """The lake's URI without a trailing slash: `value`, else $SHOP_PIPELINE_LAKE, else the shop
    home's `lake` folder. An absolute local path is taken as its file:// URI."""
    raw = value if value is not None else _env(LAKE_ENV)
    if not raw:
        return default_lake(paths or ShopPaths.from_env())
    raw = raw.strip()
    if raw.startswith("/"):
        return Path(raw).resolve().as_uri()
    parts = urlsplit(raw)
    if parts.scheme not in LAKE_SCHEMES:
        raise ValueError(
            f"{LAKE_ENV}={raw!r} is not a lake URI: use file:///absolute/path or object storage "
            f"({', '.join(scheme + '://' for scheme in LAKE_SCHEMES[1:])})"
        )
    if parts.scheme == "file" and (parts.netloc not in ("", "localhost") or not parts.path.startswith("/")):
        raise ValueError(f"{LAKE_ENV}={raw!r}: a file lake is file:///absolute/path (three slashes)")
    if parts.scheme != "file" and not parts.netloc:
        raise ValueError(f"{LAKE_ENV}={raw!r} names no bucket or host (e.g. s3a://bucket/shop)")
    return raw.rstrip("/")


def spark_master(value: str | None = None) -> str | None:
    """The master URL ($SHOP_PIPELINE_SPARK_MASTER): spark://host:port, local[N], yarn or k8s://...; None when unset."""
    raw = value if value is not None else _env(SPARK_MASTER_ENV)
    if not raw:
        return None
    raw = raw.strip()
    if not _MASTER.match(raw):
        raise ValueError(
            f"{SPARK_MASTER_ENV}={raw!r} is not a Spark master URL: use spark://host:7077, local[N], local[*], "
            "yarn or k8s://https://host:port"
        )
    return raw


def spark_remote(value: str | None = None) -> str | None:
    """The Spark Connect URL ($SPARK_REMOTE): sc://host[:port][/;param=value...]; None when unset."""
    raw = value if value is not None else _env(SPARK_REMOTE_ENV)
    if not raw:
        return None
    raw = raw.strip()
    if not _REMOTE.match(raw):
        raise ValueError(f"{SPARK_REMOTE_ENV}={raw!r} is not a Spark Connect URL: use sc://host:15002")
    return raw


PG_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg")


def dagster_pg_url(value: str | None = None) -> str | None:
    """The Postgres database of the Dagster instance ($SHOP_PIPELINE_DAGSTER_PG_URL):
    postgresql://user:password@host:port/database; None (SQLite, the default) when unset."""
    raw = value if value is not None else _env(DAGSTER_PG_URL_ENV)
    if not raw:
        return None
    raw = raw.strip()
    parts = urlsplit(raw)
    if parts.scheme not in PG_SCHEMES or not parts.path.strip("/"):
        raise ValueError(
            f"{DAGSTER_PG_URL_ENV} is not a Postgres URL with a database: use "
            "postgresql://user:password@host:5432/dagster"  # the value is not shown: it may hold a password
        )
    return raw


def sqlalchemy_pg_url(url: str) -> str:
    """The URL with the driver dagster-postgres installs (psycopg2) named: SQLAlchemy 2.1 reads a
    bare postgresql:// as psycopg 3, which is not installed."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg2://{rest}" if scheme in ("postgresql", "postgres") else url


def shuffle_partitions() -> int:
    """Spark's shuffle partitions ($SHOP_PIPELINE_SPARK_SHUFFLE_PARTITIONS, default 8)."""
    return env_number(SHUFFLE_PARTITIONS_ENV, DEFAULT_SHUFFLE_PARTITIONS, int, minimum=1)


def spark_ui() -> bool:
    """Whether a Spark session started here serves Spark's web UI ($SHOP_PIPELINE_SPARK_UI, default
    on; the tests turn it off)."""
    raw = (_env(SPARK_UI_ENV) or "1").lower()
    if raw not in ("1", "0", "true", "false", "on", "off", "yes", "no"):
        raise ValueError(f"{SPARK_UI_ENV}={raw!r} is not on or off (1/0)")
    return raw in ("1", "true", "on", "yes")


def parallel_steps() -> int | None:
    """Steps of one run at once in Spark mode ($SHOP_PIPELINE_PARALLEL_STEPS; unset: the cores of
    the run's machine). DuckDB mode runs one step at a time whatever it says."""
    if not _env(PARALLEL_STEPS_ENV):
        return None
    return env_number(PARALLEL_STEPS_ENV, 1, int, minimum=1)


@dataclass(frozen=True)
class EngineSettings:
    """Every engine setting, checked. `kind` duckdb ignores the Spark ones."""

    kind: str = DUCKDB
    lake: str | None = None
    spark_master: str | None = None
    spark_remote: str | None = None
    shuffle_partitions: int = DEFAULT_SHUFFLE_PARTITIONS
    spark_ui: bool = True

    @classmethod
    def from_env(cls, paths: ShopPaths | None = None) -> EngineSettings:
        return cls(
            kind=engine_kind(),
            lake=lake_uri(paths=paths),
            spark_master=spark_master(),
            spark_remote=spark_remote(),
            shuffle_partitions=shuffle_partitions(),
            spark_ui=spark_ui(),
        )

    def __post_init__(self) -> None:
        engine_kind(self.kind)
        if self.lake is not None:
            lake_uri(self.lake)
        spark_master(self.spark_master or "")
        spark_remote(self.spark_remote or "")

    @property
    def uses_connect(self) -> bool:
        return self.spark_remote is not None

    def describe(self) -> str:
        """One line for a log: which engine, and how Spark is reached."""
        if self.kind == DUCKDB:
            return "engine duckdb (one DuckDB file)"
        how = (
            f"Spark Connect {self.spark_remote}"
            if self.spark_remote
            else f"master {self.spark_master or 'local[*] (no master set)'}"
        )
        return f"engine spark ({how}), lake {self.lake}"
