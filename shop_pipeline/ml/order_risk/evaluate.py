"""Order-risk evaluation: every candidate fitted on the training window and measured on the
held-out one (risk_metrics: pr_auc, precision at the top, recall at the alert budget); a saved
model (the champion) on the same window; the drift of the order features and the risk score.

A candidate that cannot be trained (no order in the training window, too few of a class) keeps
NaN metrics and a note; a NaN never passes the gate.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from shop_pipeline.features.order_features import read_order_features
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.drift_reference import champion_reference
from shop_pipeline.ml.common.psi import DEFAULT_BINS, FeatureDrift, psi_against
from shop_pipeline.ml.common.spec import DriftPart, Loader, TrainingRun
from shop_pipeline.ml.order_risk.candidates import (
    AMOUNT_ZSCORE,
    ISOLATION_FOREST,
    LABEL_TRAINED,
    MODEL_NAME,
    AmountZScore,
    FittedOrderRisk,
    class_problem,
    fit_model,
    model_scores,
)
from shop_pipeline.ml.order_risk.data import feature_frame
from shop_pipeline.ml.order_risk.metrics import DEFAULT_ALERT_BUDGET, RISK_METRICS, risk_metrics


@dataclass
class CandidateEvaluation:
    candidate: str
    metrics: dict[str, float]
    fit_seconds: float
    test_scores: np.ndarray = field(repr=False)
    model: Any = field(default=None, repr=False)  # fitted Pipeline / AmountZScore; None when not trained
    note: str = ""


def _unmeasured_metrics(n_eval: int, y_eval: np.ndarray, alert_budget: float) -> dict[str, float]:
    out = risk_metrics(y_eval, np.zeros(n_eval), alert_budget)
    for name in RISK_METRICS:
        out[name] = float("nan")
    return out


def evaluate_candidates(
    features: pd.DataFrame,
    y: np.ndarray,
    train: np.ndarray,
    evaluate: np.ndarray,
    alert_budget: float = DEFAULT_ALERT_BUDGET,
    seed: int = 0,
) -> dict[str, CandidateEvaluation]:
    """Fit every candidate on the training rows and measure it on the evaluation rows.

    `y` is label_orders(...) (1 / 0 / NaN), `train` / `evaluate` boolean masks (window_masks).
    The isolation forest learns from every training row without its label.
    """
    X = feature_frame(features)
    train_frame, eval_frame = features.loc[train], features.loc[evaluate]
    X_train, X_eval = X.loc[train], X.loc[evaluate]
    y_train, y_eval = y[train], y[evaluate]
    out: dict[str, CandidateEvaluation] = {}

    started = time.perf_counter()
    rule = AmountZScore.fit(train_frame)
    s = rule.score(eval_frame)
    out[AMOUNT_ZSCORE] = CandidateEvaluation(
        AMOUNT_ZSCORE, risk_metrics(y_eval, s, alert_budget), time.perf_counter() - started, s, rule
    )

    started = time.perf_counter()
    if len(X_train) == 0:
        out[ISOLATION_FOREST] = CandidateEvaluation(
            ISOLATION_FOREST,
            _unmeasured_metrics(len(X_eval), y_eval, alert_budget),
            0.0,
            np.zeros(len(X_eval)),
            note="not trained: no order in the training window",
        )
    else:
        forest = fit_model(ISOLATION_FOREST, X_train, None, seed)
        s = model_scores(ISOLATION_FOREST, forest, X_eval)
        out[ISOLATION_FOREST] = CandidateEvaluation(
            ISOLATION_FOREST, risk_metrics(y_eval, s, alert_budget), time.perf_counter() - started, s, forest
        )

    problem = class_problem(y_train)
    for candidate in LABEL_TRAINED:
        started = time.perf_counter()
        if problem:
            out[candidate] = CandidateEvaluation(
                candidate,
                _unmeasured_metrics(len(X_eval), y_eval, alert_budget),
                0.0,
                np.zeros(len(X_eval)),
                note=f"not trained: training window has {problem}",
            )
            continue
        model = fit_model(candidate, X_train, y_train, seed)
        s = model_scores(candidate, model, X_eval)
        out[candidate] = CandidateEvaluation(
            candidate, risk_metrics(y_eval, s, alert_budget), time.perf_counter() - started, s, model
        )
    return out


def evaluate_fitted(
    fitted: FittedOrderRisk, eval_frame: pd.DataFrame, eval_labels: np.ndarray, alert_budget: float | None = None
) -> dict[str, float]:
    """Metrics of an already fitted model (e.g. the champion loaded from the registry) on an
    evaluation window, for the gate's like-with-like comparison."""
    scores = fitted.scores(eval_frame) if len(eval_frame) else np.zeros(0)
    return risk_metrics(eval_labels, scores, fitted.alert_budget if alert_budget is None else alert_budget)


def evaluate_saved(run: TrainingRun, fitted: FittedOrderRisk, row: registry.RegistryRow) -> dict[str, float]:
    """A saved version (the champion) on this training run's held-out orders."""
    return evaluate_fitted(fitted, run.details.eval_frame, run.details.eval_labels)


# ---------------------------------------------------------------------------- drift
#
# Order features and the risk score (features.order_features, point in time per order, so old rows
# never change): the orders of the champion's labelled window (up to its train_end) vs the orders
# of the last window_days days, both scored by that champion. No champion: not measured. The
# champion's reference is binned at its first measurement and kept (ml/common/drift_reference.py).

DRIFT_FEATURES = ("amount", "items", "orders_last_24h", "account_age_days", "session_seconds")


def order_drift(
    con: duckdb.DuckDBPyConnection,
    load: Loader,
    window_days: int = 7,
    bins: int = DEFAULT_BINS,
    notes: list[str] | None = None,
) -> list[FeatureDrift]:
    """PSI of DRIFT_FEATURES (as order.<feature>) and of the champion's risk score (score.risk_score)."""
    notes = [] if notes is None else notes
    champion = registry.champion(con, MODEL_NAME)
    if champion is None or champion.train_end is None:
        notes.append(f"order features and risk score: no {MODEL_NAME} champion: not measured")
        return []
    orders = read_order_features(con)
    if orders.empty:
        notes.append("order features and risk score: features.order_features is empty: not measured")
        return []
    day = pd.to_datetime(orders["order_day"]).dt.date
    first_current = day.max() - dt.timedelta(days=window_days - 1)
    fitted = load(champion)

    def scored(frame: pd.DataFrame) -> pd.DataFrame:
        risk = fitted.scores(frame) if len(frame) else []
        return frame[list(DRIFT_FEATURES)].add_prefix("order.").assign(**{"score.risk_score": risk})

    columns = [f"order.{c}" for c in DRIFT_FEATURES] + ["score.risk_score"]
    reference = champion_reference(
        con, MODEL_NAME, champion.version, bins, columns, lambda: scored(orders[day <= champion.train_end])
    )
    return psi_against(reference, scored(orders[day >= first_current]))


def drift(con: duckdb.DuckDBPyConnection, load: Loader, window_days: int, bins: int, notes: list[str]) -> DriftPart:
    return DriftPart(order_drift(con, load, window_days, bins, notes))
