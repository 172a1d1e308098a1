"""Order-risk evaluation: every candidate fitted on the training window and measured on the
held-out one (risk_metrics: pr_auc, precision at the top, recall at the alert budget).

A candidate that cannot be trained (no order in the training window, too few of a class) keeps
NaN metrics and a note; a NaN never passes the gate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shop_pipeline.ml.order_risk.candidates import (
    AMOUNT_ZSCORE,
    CHALLENGER,
    ISOLATION_FOREST,
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
    model: Any = field(default=None, repr=False)    # fitted Pipeline / AmountZScore; None when not trained
    note: str = ""


def _unmeasured_metrics(n_eval: int, y_eval: np.ndarray, alert_budget: float) -> dict[str, float]:
    out = risk_metrics(y_eval, np.zeros(n_eval), alert_budget)
    for name in RISK_METRICS:
        out[name] = float("nan")
    return out


def evaluate_candidates(features: pd.DataFrame, y: np.ndarray, train: np.ndarray, evaluate: np.ndarray,
                        alert_budget: float = DEFAULT_ALERT_BUDGET, seed: int = 0) -> dict[str, CandidateEvaluation]:
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
    out[AMOUNT_ZSCORE] = CandidateEvaluation(AMOUNT_ZSCORE, risk_metrics(y_eval, s, alert_budget),
                                             time.perf_counter() - started, s, rule)

    started = time.perf_counter()
    if len(X_train) == 0:
        out[ISOLATION_FOREST] = CandidateEvaluation(
            ISOLATION_FOREST, _unmeasured_metrics(len(X_eval), y_eval, alert_budget), 0.0, np.zeros(len(X_eval)),
            note="not trained: no order in the training window")
    else:
        forest = fit_model(ISOLATION_FOREST, X_train, None, seed)
        s = model_scores(ISOLATION_FOREST, forest, X_eval)
        out[ISOLATION_FOREST] = CandidateEvaluation(ISOLATION_FOREST, risk_metrics(y_eval, s, alert_budget),
                                                    time.perf_counter() - started, s, forest)

    started = time.perf_counter()
    problem = class_problem(y_train)
    if problem:
        out[CHALLENGER] = CandidateEvaluation(
            CHALLENGER, _unmeasured_metrics(len(X_eval), y_eval, alert_budget), 0.0, np.zeros(len(X_eval)),
            note=f"not trained: training window has {problem}")
    else:
        boost = fit_model(CHALLENGER, X_train, y_train, seed)
        s = model_scores(CHALLENGER, boost, X_eval)
        out[CHALLENGER] = CandidateEvaluation(CHALLENGER, risk_metrics(y_eval, s, alert_budget),
                                              time.perf_counter() - started, s, boost)
    return out


def evaluate_fitted(fitted: FittedOrderRisk, eval_frame: pd.DataFrame, eval_labels: np.ndarray,
                    alert_budget: float | None = None) -> dict[str, float]:
    """Metrics of an already fitted model (e.g. the champion loaded from the registry) on an
    evaluation window, for the gate's like-with-like comparison."""
    scores = fitted.scores(eval_frame) if len(eval_frame) else np.zeros(0)
    return risk_metrics(eval_labels, scores, fitted.alert_budget if alert_budget is None else alert_budget)
