"""One description per model: the `ModelSpec` that training, the gate, scoring, drift, the serving
snapshot and the run summary all read (no Dagster).

Each model package defines its spec in its `__init__.py`; `ml/models.py` lists them (`MODELS`).
Everything that iterates models reads the spec, so adding a model is one package and one line:

    training     spec.train(con, as_of, settings) -> TrainingRun: every candidate measured on the
                 held-out window, the served one (best gate_metric among `servable`) refit;
                 `training_inputs` and `training_settings` make its key (an unchanged key reuses
                 the registered version)
    champion     a saved version (`artifact.from_artifact`, the bytes checked by SHA-256) measured
                 on this run's held-out window by `evaluate_saved`; the gate compares
                 `gate_metric` (`higher_is_better`) with the other `servable` candidates, the
                 `references` and the champion
    report       spec.report(run, trained, as_of, settings) -> Report: the HTML report's sections
                 and what the training asset shows
    scoring      spec.score(con, fitted, row, as_of, settings) -> the rows of `score_table` (its
                 columns are the DDL's, sql/tables/<score_table>.sql); `describe_scores` says
                 what the score asset shows; `score_rows(fitted, features, as_of, version)`, when
                 a model's rows score independently, scores any chunk of its feature table's rows
                 (the first of `scoring_inputs`) as `score` would: what a Spark task runs
                 (ml/common/spark_scoring.py); `score_on_spark(job)`, when rows depend on other
                 rows of one key (a product's days, a customer's history), plans that job
                 instead; neither: the model scores on the driver
    drift        spec.drift(con, load, window_days, bins, notes) -> DriftPart: PSI of
                 `drift_features` (and its score) against the champion's training window
    serving      spec.snapshot_export(con, folder, models_dir) -> the manifest entry of what the
                 online API needs, and `online(folder, entry)`, the predictor it answers with

The fitted model of every spec has the same two methods: `to_artifact()` (a plain dict of
scikit-learn objects, numbers, strings and arrays, what skops saves) and the class method
`from_artifact(artifact)`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

import duckdb
import pandas as pd

from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.psi import FeatureDrift
from shop_pipeline.sql import ddl


class Artifact(Protocol):
    """A fitted model as the registry saves it (the same two methods for every model)."""

    def to_artifact(self) -> dict[str, Any]: ...

    @classmethod
    def from_artifact(cls, artifact: dict[str, Any]) -> Self: ...


class ModelSettings(Protocol):
    """The run's model settings (the `modeling` resource, resources.Modeling) a model reads."""

    seed: int
    forecast_horizon_days: int
    propensity_horizon_days: int
    recommendation_recency_days: int | None
    order_risk_alert_budget: float
    order_risk_label_maturity_days: int


@dataclass
class TrainingRun:
    """What every model's training returns: the version to register and how it was measured."""

    serving_candidate: str  # the servable candidate that measured best, refit as `fitted`
    fitted: Artifact
    metrics: dict[str, dict[str, float]]  # candidate -> metric -> value on the held-out window
    parameters: dict[str, Any]  # the version's registry parameters (serving_candidate is added)
    features: list[str]
    held_out: tuple[dt.date, dt.date]  # the evaluations' window (part of the version's hash)
    train_start: dt.date | None
    train_end: dt.date | None
    notes: str = ""
    # the first day the held-out window measures: a champion trained before it is measured on this
    # run's window (evaluate_saved), a later one by its own recorded metrics; None: nothing was
    # measured, no comparison
    champion_window_start: dt.date | None = None
    mode: str | None = None  # how the version was chosen, when a model has modes
    warning: str | None = None  # one line for the run's log
    details: Any = field(default=None, repr=False)  # the model's own run (for its report and evaluate_saved)


@dataclass(frozen=True)
class TrainedVersion:
    """A registered version: its artifact and every recorded comparison (the champion's included)."""

    model_name: str
    version: str
    artifact_path: str
    sha256: str
    metrics: dict[str, dict[str, float]]  # candidate -> metric -> value
    champion_version: str | None  # the champion it was compared with, if any


@dataclass
class Shown:
    """What an asset shows in the UI, without Dagster: plain values, Markdown, JSON and file paths."""

    values: dict[str, Any] = field(default_factory=dict)
    markdown: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    """A training run's HTML report (title, sections of Markdown and an optional PNG) and what the
    training asset shows."""

    title: str
    sections: list[tuple[str, str, bytes | None]]
    shown: Shown


@dataclass(frozen=True)
class DriftPart:
    """One model's share of a drift measurement: a row per feature or score, and the windows compared."""

    rows: list[FeatureDrift]
    reference_window: str = ""
    current_window: str = ""


Loader = Callable[[registry.RegistryRow], Artifact]


def _no_settings(settings: ModelSettings) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class ModelSpec:
    """Everything the pipeline needs to know about one model (module docstring)."""

    name: str  # the registry name: the package, and the prefix of the assets
    title: str  # for reports, e.g. "Demand forecast"
    gate_metric: str
    higher_is_better: bool
    candidates: tuple[str, ...]
    servable: tuple[str, ...]  # simpler first: a tie serves the simpler one
    references: tuple[str, ...]  # not servable, but the served candidate must beat them
    default_candidate: str  # what a version registered before the choice was recorded serves
    reported_metrics: tuple[str, ...]  # the served candidate's metrics the training asset shows (charted)
    artifact: type  # the fitted model's class (Artifact)
    training_inputs: Mapping[str, str]  # table -> row filter ("" all rows): the training key's tables
    train: Callable[[duckdb.DuckDBPyConnection, dt.date, ModelSettings], TrainingRun]
    evaluate_saved: Callable[[TrainingRun, Any, registry.RegistryRow], dict[str, float]]
    report: Callable[[TrainingRun, TrainedVersion, dt.date, ModelSettings], Report]
    score_table: str
    scoring_inputs: Mapping[str, str]
    score: Callable[[duckdb.DuckDBPyConnection, Any, registry.RegistryRow, dt.date, ModelSettings], pd.DataFrame]
    describe_scores: Callable[[pd.DataFrame, registry.RegistryRow, bool, ModelSettings], Shown]
    # the rows of score_table for a chunk of feature rows (row-independent scoring, distributed in
    # Spark mode: ml/common/spark_scoring.py); None: the model scores on the driver
    score_rows: Callable[[Any, pd.DataFrame, dt.date, str], pd.DataFrame] | None = None
    # a model whose rows depend on other rows of one key plans its own cluster job instead:
    # score_on_spark(spark_scoring.ScoringJob) -> spark_scoring.PlannedScores (every task loads the
    # artifact SHA-256 checked); None with score_rows None: the model scores on the driver
    score_on_spark: Callable[[Any], Any] | None = None
    training_settings: Callable[[ModelSettings], dict[str, Any]] = _no_settings
    scoring_settings: Callable[[ModelSettings], dict[str, Any]] = _no_settings
    kept_columns: tuple[str, ...] | None = None  # read back when the scores are kept (None: every column)
    # a version whose training recorded this mode could not be measured: the gate refuses it with a
    # warning, not a block, and scoring serves it marked unvalidated until a champion exists
    unmeasured_mode: str | None = None
    # the servable candidates that competed in a version (None: every servable one)
    competing: Callable[[registry.RegistryRow | None], list[str]] | None = None
    reused_shown: Callable[[registry.RegistryRow], dict[str, Any]] | None = None
    drift_features: tuple[str, ...] = ()
    drift: Callable[[duckdb.DuckDBPyConnection, Loader, int, int, list[str]], DriftPart] | None = None
    snapshot_export: Callable[[duckdb.DuckDBPyConnection, os.PathLike, os.PathLike], dict | None] | None = None
    online: type | None = None  # online predictor: online(snapshot folder, its manifest entry)
    # the wiring: upstream assets by name, the assets' kinds and descriptions
    training_upstream: tuple[str, ...] = ()
    scoring_upstream: str = ""
    drift_upstream: tuple[str, ...] = ()  # assets whose update re-measures drift (besides the champion)
    kind: str = "sklearn"
    training_description: str = ""
    gate_description: str = ""
    scoring_description: str = ""
    # training on a cluster reads a deterministic sample of customers (ml/common/training_data.py); False:
    # the training needs every customer (the demand forecast sums every customer's purchases)
    sampled_by_customer: bool = False
    # the training fits count-based models on the engine's per-customer counts (training_data.COUNTS_TABLE)
    fits_counts: bool = False
    # the score table's DDL file when it is not in sql/tables/ (a model outside this package: a test's toy)
    score_ddl: Path | None = None

    def __post_init__(self) -> None:
        if self.score_ddl is not None and ddl.include(self.score_ddl) != self.score_table:
            raise ValueError(f"{self.name}: score_ddl {self.score_ddl} is not the DDL of {self.score_table}")

    @property
    def training_asset(self) -> str:
        return f"{self.name}_model"

    @property
    def champion_asset(self) -> str:
        return f"{self.name}_champion"

    @property
    def score_asset(self) -> str:
        return self.score_table.split(".", 1)[1]

    def load(self, con: duckdb.DuckDBPyConnection, row: registry.RegistryRow, models_dir: os.PathLike) -> Any:
        """The fitted model of registered version `row`, its bytes checked against the registry."""
        return self.artifact.from_artifact(registry.load_model(con, self.name, row.version, models_dir=models_dir))
