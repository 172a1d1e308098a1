"""A toy model, all in one module: the value of a customer's next order. It exists to show that a fifth
model is one package and one line in MODELS (shop_pipeline_tests/ml/test_fifth_model.py).

Candidates: overall_mean (baseline: every customer gets the shop's mean order value) and customer_mean
(their own average order value, else the shop's). Measured on the customers who had ordered HELD_OUT_DAYS
before the cut-off: their average order value then against the one at the cut-off (MAE, lower is better).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from shop_pipeline.features.tables import customer_features_frame, landed_range
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.common.promotion import select_serving
from shop_pipeline.ml.common.spec import ModelSettings, Report, Shown, TrainedVersion, TrainingRun

MODEL_NAME = "toy_basket_value"
OVERALL_MEAN, CUSTOMER_MEAN = "overall_mean", "customer_mean"
CANDIDATES = (OVERALL_MEAN, CUSTOMER_MEAN)
GATE_METRIC = "mae"
HELD_OUT_DAYS = 14
MIN_CUSTOMERS = 5


@dataclass
class BasketValueModel:
    candidate: str
    overall_mean: float

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        own = features["avg_order_value"].to_numpy(np.float64)
        if self.candidate == OVERALL_MEAN:
            return np.full(len(features), self.overall_mean)
        return np.where(features["frequency"].to_numpy() > 0, own, self.overall_mean)

    def to_artifact(self) -> dict[str, Any]:
        return {"candidate": self.candidate, "overall_mean": float(self.overall_mean)}

    @classmethod
    def from_artifact(cls, artifact: dict[str, Any]) -> BasketValueModel:
        return cls(artifact["candidate"], float(artifact["overall_mean"]))


def _buyers(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["frequency"] > 0]


def _mae(model: BasketValueModel, before: pd.DataFrame, after: pd.DataFrame) -> float:
    joined = before.merge(after[["customer_id", "avg_order_value"]], on="customer_id", suffixes=("", "_after"))
    return float(np.mean(np.abs(model.predict(joined) - joined["avg_order_value_after"].to_numpy(np.float64))))


def training_run(con: duckdb.DuckDBPyConnection, as_of: dt.date, settings: ModelSettings) -> TrainingRun:
    cutoff = as_of - dt.timedelta(days=HELD_OUT_DAYS)
    first_day = landed_range(con)[0]
    if first_day is None or cutoff < first_day:
        raise NotEnoughData(f"toy basket value: no day {HELD_OUT_DAYS} days before the cut-off {as_of} has landed")
    before, after = _buyers(customer_features_frame(con, cutoff)), _buyers(customer_features_frame(con, as_of))
    held_out = before[before["customer_id"].isin(after["customer_id"])]
    if len(held_out) < MIN_CUSTOMERS:
        raise NotEnoughData(
            f"toy basket value: {len(held_out)} customers ordered before {cutoff} and again; it needs {MIN_CUSTOMERS}"
        )
    mean = float(before["avg_order_value"].mean())
    metrics = {c: {GATE_METRIC: _mae(BasketValueModel(c, mean), held_out, after)} for c in CANDIDATES}
    serving = select_serving(metrics, list(CANDIDATES), GATE_METRIC, higher_is_better=False)
    fitted = BasketValueModel(serving, float(after["avg_order_value"].mean()))
    return TrainingRun(
        serving,
        fitted,
        metrics,
        {"held_out_days": HELD_OUT_DAYS},
        ["avg_order_value", "frequency"],
        held_out=(cutoff, as_of),
        train_start=None,
        train_end=as_of,
        notes=f"{len(held_out)} customers held out",
        champion_window_start=cutoff,
        details=(held_out, after),
    )


def evaluate_saved(run: TrainingRun, fitted: BasketValueModel, row: registry.RegistryRow) -> dict[str, float]:
    held_out, after = run.details
    return {GATE_METRIC: _mae(fitted, held_out, after)}


def report(run: TrainingRun, trained: TrainedVersion, as_of: dt.date, settings: ModelSettings) -> Report:
    text = f"serves {run.serving_candidate}: MAE {run.metrics[run.serving_candidate][GATE_METRIC]:.2f}"
    return Report(
        f"Toy basket value {trained.version} (as of {as_of})",
        [("Held out", text, None)],
        Shown(values={"held_out_days": HELD_OUT_DAYS}),
    )


def score(
    con: duckdb.DuckDBPyConnection,
    fitted: BasketValueModel,
    row: registry.RegistryRow,
    as_of: dt.date,
    settings: ModelSettings,
) -> pd.DataFrame:
    features = con.execute("SELECT * FROM features.customer_features").df()
    return pd.DataFrame(
        {
            "customer_id": features["customer_id"],
            "expected_order_value": fitted.predict(features),
            "model_version": row.version,
            "as_of": as_of,
        }
    )


def describe_scores(scores: pd.DataFrame, row: registry.RegistryRow, validated: bool, settings: ModelSettings) -> Shown:
    return Shown(values={"mean_expected_order_value": float(scores["expected_order_value"].mean())})
