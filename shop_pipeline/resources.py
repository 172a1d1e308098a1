"""Dagster resources: the configuration a run or a sensor tick uses, shown on the UI's resources
page and set in the launchpad (run config `resources: {<key>: {config: ...}}`).

A field whose environment variable is set gets it as an `EnvVar` (the UI shows the variable's
name; Dagster reads its value when the run or tick uses the resource); an unset variable leaves
the field at its default, since Dagster refuses an unset EnvVar. Dagster's config has no float
from an environment variable, so float fields take the variable's value when the definitions
load. The settings Dagster needs before anything runs stay environment variables (settings.py).
docs/operations.md, "Configuration", lists every setting.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
from dagster import ConfigurableResource, EnvVar

from shop_pipeline.alerts import WEBHOOK_ENV
from shop_pipeline.automation_rules import RetrainPolicy
from shop_pipeline.engine.settings import (
    DUCKDB,
    ENGINE_ENV,
    LAKE_ENV,
    MODELS_URI_ENV,
    SPARK_MASTER_ENV,
    SPARK_REMOTE_ENV,
    EngineSettings,
    default_lake,
    shuffle_partitions,
    spark_ui,
)
from shop_pipeline.ml.common.threads import THREADS_ENV as MODEL_THREADS_ENV
from shop_pipeline.ml.common.threads import use_threads
from shop_pipeline.ml.common.training_data import TrainingSample
from shop_pipeline.ml.order_risk.data import DEFAULT_MATURITY_DAYS
from shop_pipeline.ml.order_risk.metrics import DEFAULT_ALERT_BUDGET
from shop_pipeline.quality.thresholds import THRESHOLDS_ENV, load_thresholds
from shop_pipeline.settings import RETENTION_DAYS_ENV, ShopPaths
from shop_pipeline.sql.session import MEMORY_LIMIT_ENV, THREADS_ENV
from shop_pipeline.warehouse.connection import connect

MIN_NEW_EVENTS_ENV = "SHOP_PIPELINE_RETRAIN_MIN_NEW_EVENTS"
TRAIN_SAMPLE_CUSTOMERS_ENV = "SHOP_PIPELINE_TRAIN_SAMPLE_CUSTOMERS"
TRAIN_SAMPLE_FRACTION_ENV = "SHOP_PIPELINE_TRAIN_SAMPLE_FRACTION"
# Spark mode bounds what a training reads onto the driver even when no sample is set
SPARK_DEFAULT_SAMPLE_CUSTOMERS = 200_000
MAX_PSI_ENV = "SHOP_PIPELINE_RETRAIN_MAX_PSI"
MAX_CHAMPION_AGE_ENV = "SHOP_PIPELINE_CHAMPION_MAX_AGE_DAYS"


def _set(name: str) -> bool:
    return bool(os.environ.get(name, "").strip())


def env_text(name: str) -> EnvVar | None:
    """EnvVar(name) when the variable is set, else None (the field's default)."""
    return EnvVar(name) if _set(name) else None


def env_int(name: str):
    """EnvVar.int(name) when the variable is set, else None (the field's default)."""
    return EnvVar.int(name) if _set(name) else None


def env_float(name: str) -> float | None:
    """The variable's number, read now (Dagster has no float EnvVar), or None when it is unset."""
    if not _set(name):
        return None
    try:
        return float(os.environ[name])
    except ValueError:
        raise ValueError(f"{name}={os.environ[name]!r} is not a number") from None


def _given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


class ShopHome(ConfigurableResource):
    """The shop's state folder ($SHOP_PIPELINE_HOME): landing files, warehouse, models, reports."""

    home: str

    @property
    def paths(self) -> ShopPaths:
        return ShopPaths.at(self.home)


class Quality(ConfigurableResource):
    """Thresholds of the ingestion rules and expectation suites: quality/thresholds.yaml, with the
    keys of the YAML file at `thresholds_path` ($SHOP_PIPELINE_THRESHOLDS) overriding it."""

    thresholds_path: str | None = None

    def thresholds(self) -> dict[str, Any]:
        return load_thresholds(self.thresholds_path)


class Warehouse(ConfigurableResource):
    """The DuckDB warehouse file. DuckDB has one writer per file: writers share the `duckdb`
    pool (limit 1) instead of retrying on the lock; every connection is opened the same way
    (UTC session, tables created) so that one process never holds two configurations.

    memory_limit: DuckDB's memory limit, e.g. "3GB" ($SHOP_PIPELINE_DUCKDB_MEMORY_LIMIT; unset:
    a quarter of the machine's memory, at most 2 GiB); beyond it DuckDB spills to disk.
    threads: DuckDB's threads ($SHOP_PIPELINE_DUCKDB_THREADS; unset: the cores the run may use).
    """

    path: str
    memory_limit: str | None = None
    threads: int | None = None

    @contextlib.contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.path, memory_limit=self.memory_limit, threads=self.threads) as con:
            yield con


class ModelThreads(ConfigurableResource):
    """Threads of the model code's native libraries (OpenMP, BLAS) in a run: `threads`
    ($SHOP_PIPELINE_THREADS; unset: OMP_NUM_THREADS, else the cores the run may use). Fits on
    fewer than 50,000 rows still use one (ml/common/threads.py). Results do not depend on it."""

    threads: int | None = None

    def apply(self) -> int:
        """Use these threads in this process from now on (every model asset calls it first)."""
        return use_threads(self.threads)


class Retraining(ConfigurableResource):
    """When the retrain sensor launches retrain_models (automation_rules.py, retrain_triggers):
    at least `min_new_events` clean events after the newest training attempt's cut-off
    ($SHOP_PIPELINE_RETRAIN_MIN_NEW_EVENTS), a PSI above `max_psi` ($SHOP_PIPELINE_RETRAIN_MAX_PSI),
    or a champion older than `max_champion_age_days` ($SHOP_PIPELINE_CHAMPION_MAX_AGE_DAYS)."""

    min_new_events: int = RetrainPolicy.min_new_events
    max_psi: float = RetrainPolicy.max_psi
    max_champion_age_days: float = RetrainPolicy.max_champion_age_days

    def policy(self) -> RetrainPolicy:
        return RetrainPolicy(self.min_new_events, self.max_psi, self.max_champion_age_days)


def retraining_from_environment() -> Retraining:
    """The thresholds whose variables are set; the defaults for the others."""
    return Retraining(
        **_given(
            min_new_events=env_int(MIN_NEW_EVENTS_ENV),
            max_psi=env_float(MAX_PSI_ENV),
            max_champion_age_days=env_float(MAX_CHAMPION_AGE_ENV),
        )
    )


class Retention(ConfigurableResource):
    """How long events are kept: `retention_days` ($SHOP_PIPELINE_RETENTION_DAYS; unset: forever).
    The retention_schedule then launches purge_expired_events once a day, which removes every
    event before today minus that many days from every layer (retention.py, docs/privacy.md)."""

    retention_days: int | None = None


class Alerting(ConfigurableResource):
    """Where failed runs are announced: a webhook receiving each failure as a JSON POST
    ($SHOP_PIPELINE_ALERT_WEBHOOK; off when unset). Slack and Teams: see defs/automation.py."""

    webhook_url: str | None = None


def alerting_from_environment() -> Alerting:
    """The webhook read from its variable when it is run (the UI shows the variable, never its
    value, which carries a token); an unset variable leaves the webhook off."""
    return Alerting(**_given(webhook_url=env_text(WEBHOOK_ENV)))


class Engine(ConfigurableResource):
    """What computes the tables (docs/cluster.md). `kind`: duckdb (the default: one DuckDB file,
    the `warehouse` resource) or spark ($SHOP_PIPELINE_ENGINE). In Spark mode the tables are
    Parquet under `lake` ($SHOP_PIPELINE_LAKE; default file://<shop home>/lake), and Spark is
    reached through Spark Connect at `spark_remote` ($SPARK_REMOTE, sc://host:15002) when set,
    else the master URL `spark_master` ($SHOP_PIPELINE_SPARK_MASTER: spark://host:7077, yarn,
    k8s://..., local[N]), else local[<cores>]. Asset pools and the run executor follow
    $SHOP_PIPELINE_ENGINE when the definitions load: change the variable, not just this field.

    Models (docs/cluster_models.md): the trainings of propensity, recommendation and order risk read
    a deterministic sample of customers (the md5 hash of the id, the same in both engines): at most
    `train_sample_customers` ($SHOP_PIPELINE_TRAIN_SAMPLE_CUSTOMERS) and / or about
    `train_sample_fraction` ($SHOP_PIPELINE_TRAIN_SAMPLE_FRACTION) of them. Unset: every customer
    with the duckdb engine, at most 200,000 in Spark mode. In Spark mode the registry is on the lake
    (`<lake>/ml/`) and the artifacts under `models_uri` ($SHOP_PIPELINE_MODELS_URI; default
    <lake>/_models), storage every executor reads."""

    kind: str = DUCKDB
    lake: str | None = None
    spark_master: str | None = None
    spark_remote: str | None = None
    train_sample_customers: int | None = None
    train_sample_fraction: float | None = None
    models_uri: str | None = None

    def settings(self) -> EngineSettings:
        """The checked settings (a wrong kind, lake, master or remote fails here, naming it)."""
        return EngineSettings(
            kind=self.kind.strip().lower(),
            lake=self.lake,
            spark_master=self.spark_master or None,
            spark_remote=self.spark_remote or None,
            shuffle_partitions=shuffle_partitions(),
            spark_ui=spark_ui(),
        )

    @property
    def is_spark(self) -> bool:
        return self.settings().kind != DUCKDB

    def spark(self):
        """This process's Spark session for these settings (engine/spark_session.py: opened on first
        use, shared by the steps this process runs, stopped when it exits)."""
        settings = self.settings()
        if settings.kind == DUCKDB:
            raise RuntimeError(f"the engine is duckdb: there is no Spark session (set {ENGINE_ENV}=spark)")
        from shop_pipeline.engine.spark_session import shared_session

        return shared_session(settings)

    def training_sample(self) -> TrainingSample:
        """The customers a sampled training reads (the class docstring)."""
        customers = self.train_sample_customers
        if customers is None and self.train_sample_fraction is None and self.is_spark:
            customers = SPARK_DEFAULT_SAMPLE_CUSTOMERS
        return TrainingSample(customers=customers, fraction=self.train_sample_fraction)

    def models_location(self, paths: ShopPaths) -> Path | str:
        """Where the artifacts are: the shop home's models folder (duckdb), the models URI (spark)."""
        if not self.is_spark:
            return paths.models
        return (self.models_uri or f"{self.settings().lake.rstrip('/')}/_models").rstrip("/")


def engine_from_environment(paths: ShopPaths) -> Engine:
    """The engine's fields from their variables where set; the lake defaults to the shop home's."""
    return Engine(
        lake=env_text(LAKE_ENV) or default_lake(paths),
        **_given(
            kind=env_text(ENGINE_ENV),
            spark_master=env_text(SPARK_MASTER_ENV),
            spark_remote=env_text(SPARK_REMOTE_ENV),
            train_sample_customers=env_int(TRAIN_SAMPLE_CUSTOMERS_ENV),
            train_sample_fraction=env_float(TRAIN_SAMPLE_FRACTION_ENV),
            models_uri=env_text(MODELS_URI_ENV),
        ),
    )


def default_resources(paths: ShopPaths | None = None) -> dict[str, Any]:
    """Every resource of the definitions, its fields from the environment where a variable is set."""
    paths = paths or ShopPaths.from_env()
    return {
        "warehouse": Warehouse(
            path=str(paths.warehouse), **_given(memory_limit=env_text(MEMORY_LIMIT_ENV), threads=env_int(THREADS_ENV))
        ),
        "shop": ShopHome(home=str(paths.home)),
        "quality": Quality(**_given(thresholds_path=env_text(THRESHOLDS_ENV))),
        "modeling": Modeling(),
        "model_threads": ModelThreads(**_given(threads=env_int(MODEL_THREADS_ENV))),
        "retraining": retraining_from_environment(),
        "alerting": alerting_from_environment(),
        "retention": Retention(**_given(retention_days=env_int(RETENTION_DAYS_ENV))),
        "engine": engine_from_environment(paths),
    }


class Modeling(ConfigurableResource):
    """The cut-off, horizons and tuning of a run's models (run configuration; `shop-pipeline run
    --as-of ...`, or the launchpad). A training that depends on a changed value (horizon, seed,
    alert budget, label maturity) trains a new version instead of reusing the registered one.

    as_of: last day whose events features and models may use (YYYY-MM-DD); empty means the
    last complete day landed. Nothing after it influences a feature, a model or a score.
    """

    as_of: str | None = None
    forecast_horizon_days: int = 14
    propensity_horizon_days: int = 30
    seed: int = 42
    # Who gets recommendations: customers with an interaction in this many days before the
    # cut-off; None (the default) scores every customer with any interaction before it, so
    # lapsed customers get lists too (win-back mail).
    recommendation_recency_days: int | None = None
    # A challenger must beat every baseline and the champion by this relative margin.
    min_improvement: float = 0.01
    # Order risk flags this share of orders (the fraud team's review budget): the threshold is
    # the (1 - budget) quantile of the model's scores.
    order_risk_alert_budget: float = DEFAULT_ALERT_BUDGET
    # Order risk learns from orders at least this many days before the cut-off: how long a
    # chargeback takes to arrive, so younger orders are not taken as legitimate.
    order_risk_label_maturity_days: int = DEFAULT_MATURITY_DAYS

    def resolve_as_of(self, con: duckdb.DuckDBPyConnection):
        import datetime as dt

        from shop_pipeline.features.tables import default_as_of

        if self.as_of:
            return dt.date.fromisoformat(self.as_of)
        as_of = default_as_of(con)
        if as_of is None:
            raise ValueError("no clean events have landed yet: materialize clean_events first")
        return as_of
