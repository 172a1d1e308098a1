"""Propensity evaluation on the held-out window: the p_purchase candidates' classification
metrics (the F1 threshold chosen on the training rows, never on the test rows) and the value
models' count metrics (metrics.count_metrics), with the value model chosen on them; a saved
model (the champion) on the same window; the drift of the customer features and the score.

A held-out window with a single class (or fewer than MIN_CLASS_COUNT of one) raises
SingleClassLabelsError, a NotEnoughData: the run skips the model with that line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from shop_pipeline.features.tables import customer_features_frame
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.drift_reference import champion_reference
from shop_pipeline.ml.common.metrics import (
    best_f1_threshold,
    brier,
    f1_at_threshold,
    lift_at_top_decile,
    pr_auc,
    roc_auc,
)
from shop_pipeline.ml.common.psi import psi_against
from shop_pipeline.ml.common.spec import DriftPart, Loader, TrainingRun
from shop_pipeline.ml.common.threads import threads_for
from shop_pipeline.ml.propensity.candidates import (
    CANDIDATE_COLUMNS,
    CANDIDATES,
    DEFAULT_THRESHOLD,
    HISTORICAL_RATE,
    HURDLE,
    MODEL_NAME,
    PROBABILISTIC,
    PROBABILISTIC_MODELS,
    RANDOM,
    SUPERVISED,
    VALUE_CANDIDATES,
    VALUE_MIN_IMPROVEMENT,
    VALUE_PROBABILISTIC,
    VALUE_SELECTION_METRIC,
    FittedPropensity,
    ValueModel,
    at_horizon,
    fit_probabilistic,
    fit_spend_per_order,
    fit_value_model,
    historical_rate_orders,
    make_classifier,
    purchase_probability,
    random_scores,
)
from shop_pipeline.ml.propensity.data import check_labels, feature_matrix
from shop_pipeline.ml.propensity.metrics import count_metrics
from shop_pipeline.ml.propensity.score import score_customers


@dataclass
class CandidateEvaluation:
    candidate: str
    metrics: dict[str, float]  # roc_auc, pr_auc, brier, lift_at_top_decile, f1, threshold, ...
    fit_seconds: float
    test_scores: np.ndarray = field(repr=False)  # p on the held-out rows (for plots)
    model: Any = field(default=None, repr=False)  # fitted estimator (None for random)


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    return {
        "roc_auc": float(roc_auc(y, p)),
        "pr_auc": float(pr_auc(y, p)),
        "brier": float(brier(y, p)),
        "lift_at_top_decile": float(lift_at_top_decile(y, p)),
        "f1": float(f1_at_threshold(y, p, threshold)),
        "threshold": float(threshold),
        "base_rate": float(np.mean(y)),
        "n": float(len(y)),
    }


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    best = best_f1_threshold(y, p)
    if isinstance(best, tuple):
        best = best[0]
    return float(best)


def evaluate_candidates(
    train_X: pd.DataFrame | None,
    train_y: np.ndarray | pd.Series | None,
    test_X: pd.DataFrame,
    test_y: np.ndarray | pd.Series,
    seed: int = 0,
    candidates: tuple[str, ...] = CANDIDATES,
    train_window: str = "train",
    test_window: str = "held-out",
    horizon_days: int = 30,
) -> dict[str, CandidateEvaluation]:
    """Fit every candidate and measure it on (test_X, test_y), the held-out window.

    X are customer-feature frames (CUSTOMER_FEATURES columns), y are 0/1 purchase labels over
    `horizon_days` after test_X's cut-off. Supervised candidates are fitted on (train_X,
    train_y) and skipped when train_X is None; probabilistic ones are fitted on test_X (the
    history up to the held-out window's cut-off: the calibration period, no label). The F1
    threshold is chosen on the training rows (best F1 there), never on the test rows; without
    training labels it is DEFAULT_THRESHOLD.
    """
    supervised = train_X is not None
    yte = np.asarray(test_y, dtype=np.int8)
    ytr = np.asarray(train_y, dtype=np.int8) if supervised else None
    if len(yte) != len(test_X) or (supervised and len(ytr) != len(train_X)):
        raise ValueError("features and labels have different lengths")
    if supervised:
        check_labels(ytr, train_window)
    check_labels(yte, test_window)
    out: dict[str, CandidateEvaluation] = {}
    for cand in [c for c in candidates if c != RANDOM]:
        if cand in SUPERVISED and not supervised:
            continue
        t0 = time.perf_counter()
        cols = CANDIDATE_COLUMNS[cand]
        if cand in PROBABILISTIC:
            model = fit_probabilistic(cand, test_X, horizon_days)
        else:
            model = make_classifier(cand, seed, len(ytr), horizon_days)
            with threads_for(len(ytr)):
                model.fit(feature_matrix(train_X, cols), ytr)
        p_te = purchase_probability(model, feature_matrix(test_X, cols))
        threshold = (
            best_threshold(ytr, purchase_probability(model, feature_matrix(train_X, cols)))
            if supervised
            else DEFAULT_THRESHOLD
        )
        secs = time.perf_counter() - t0
        out[cand] = CandidateEvaluation(cand, classification_metrics(yte, p_te, threshold), secs, p_te, model)
    if RANDOM in candidates:
        label_free = [out[c].test_scores for c in PROBABILISTIC if c in out]
        prior = float(ytr.mean()) if supervised else float(np.mean(label_free[0])) if label_free else 0.5
        p_tr = random_scores(len(ytr), prior, seed) if supervised else None
        p_te = random_scores(len(yte), prior, seed + 1)
        threshold = best_threshold(ytr, p_tr) if supervised else DEFAULT_THRESHOLD
        out[RANDOM] = CandidateEvaluation(RANDOM, classification_metrics(yte, p_te, threshold), 0.0, p_te, None)
    return {c: out[c] for c in candidates if c in out}


@dataclass
class ValueEvaluation:
    """Count metrics (metrics.count_metrics, orders_* and spend_*) of every value
    candidate and of the historical-rate reference on the held-out window, and the chosen one."""

    metrics: dict[str, dict[str, float]]
    value_candidate: str
    expected_orders: dict[str, np.ndarray] = field(repr=False)

    @property
    def orders_mae(self) -> float:
        return self.metrics[self.value_candidate]["orders_mae"]

    @property
    def spend_mae(self) -> float:
        return self.metrics[self.value_candidate]["spend_mae"]

    @property
    def orders_mae_historical_rate(self) -> float:
        return self.metrics[HISTORICAL_RATE]["orders_mae"]

    @property
    def spend_mae_historical_rate(self) -> float:
        return self.metrics[HISTORICAL_RATE]["spend_mae"]


def select_value(metrics: dict[str, dict[str, float]], min_improvement: float = VALUE_MIN_IMPROVEMENT) -> str:
    """The value candidate to serve: going in VALUE_CANDIDATES order (the preferred first), a
    later one takes over only when its VALUE_SELECTION_METRIC is lower than the current
    choice's by `min_improvement` (relative). Differences below that change sign from one
    window to the next (benchmarks/customer_value.py), so the earlier model keeps them."""
    best, best_value = None, None
    for name in VALUE_CANDIDATES:
        value = metrics.get(name, {}).get(VALUE_SELECTION_METRIC)
        if value is None or value != value:
            continue
        if best_value is None or value < best_value * (1.0 - min_improvement):
            best, best_value = name, value
    if best is None:
        raise ValueError(f"no value candidate among {VALUE_CANDIDATES} has a {VALUE_SELECTION_METRIC} value")
    return best


def evaluate_value(
    train: pd.DataFrame | None,
    test: pd.DataFrame,
    p_test: np.ndarray,
    horizon_days: int,
    seed: int = 0,
    probabilistic: dict[str, Any] | None = None,
) -> ValueEvaluation:
    """Count metrics of expected orders / spend over `horizon_days` on the held-out rows.

    `test` is the held-out frame (`join_labels`): its features are the calibration history of
    the probabilistic models and of the spend per order. The hurdle model competes when the
    labelled training frame `train` is given (with `p_test`, the served classifier's p on the
    held-out rows). `probabilistic`: already fitted models on the same history (refit otherwise).
    """
    probabilistic = probabilistic or {}
    spend = fit_spend_per_order(test)  # one history: the same spend per order for every model
    models: dict[str, ValueModel] = {}
    if train is not None:
        models[HURDLE] = fit_value_model(HURDLE, test, horizon_days, seed, labelled=train, spend=spend)
    for cand in VALUE_PROBABILISTIC:
        models[cand] = fit_value_model(
            cand, test, horizon_days, seed, probabilistic=probabilistic.get(cand), spend=spend
        )
    y_orders = test["orders"].to_numpy(np.float64)
    y_spend = test["spend"].to_numpy(np.float64)
    freq = test["frequency"].to_numpy(np.float64, na_value=np.nan)
    aov = test["avg_order_value"].to_numpy(np.float64, na_value=np.nan)
    per_order = next(iter(models.values())).value_per_order(freq, aov)  # the reference's too
    predictions = {name: vm.expected_orders(test, p_test, horizon_days) for name, vm in models.items()}
    predictions[HISTORICAL_RATE] = historical_rate_orders(test, horizon_days)
    metrics = {
        name: {**count_metrics(y_orders, orders, "orders"), **count_metrics(y_spend, orders * per_order, "spend")}
        for name, orders in predictions.items()
    }
    return ValueEvaluation(metrics, select_value(metrics), predictions)


def evaluate_fitted(
    fitted: FittedPropensity, test_frame: pd.DataFrame, horizon_days: int | None = None
) -> dict[str, float]:
    """Metrics of an already fitted model (e.g. the current champion, loaded from the registry)
    on a held-out frame (`join_labels`) of `horizon_days` (default: the model's horizon), with
    the model's own stored threshold, so that the gate compares champion and challenger on the
    same window. A champion trained on a later window than this one has seen these labels: its
    numbers are then optimistic, which only makes the gate stricter for the challenger."""
    days = fitted.horizon_days if horizon_days is None else int(horizon_days)
    clf = at_horizon(fitted.classifier, days) if fitted.candidate in PROBABILISTIC_MODELS else fitted.classifier
    y = test_frame["purchased"].to_numpy(np.int8)
    p = purchase_probability(clf, feature_matrix(test_frame, fitted.columns))
    out = classification_metrics(y, p, fitted.threshold)
    exp_orders = fitted.value.expected_orders(test_frame, p, days)
    out.update(count_metrics(test_frame["orders"].to_numpy(np.float64), exp_orders, "orders"))
    return out


def value_row_name(candidate: str) -> str:
    """The ml.model_evaluations row of a value candidate ("historical_rate" is the reference's)."""
    return candidate if candidate == HISTORICAL_RATE else f"value_{candidate}"


def evaluate_saved(run: TrainingRun, fitted: FittedPropensity, row: registry.RegistryRow) -> dict[str, float]:
    """A saved version (the champion) on this training run's held-out window."""
    return evaluate_fitted(fitted, run.details.test_frame, run.details.plan.eval_horizon_days)


# ---------------------------------------------------------------------------- drift
#
# Customer features and the propensity score: the champion applied to the customer features as of
# its own as_of (point in time) vs as of today's table. No champion: not measured. The champion's
# reference is binned at its first measurement and kept (ml/common/drift_reference.py).

DRIFT_FEATURES = ("recency_days", "frequency", "monetary", "sessions")


def drift(con: duckdb.DuckDBPyConnection, load: Loader, window_days: int, bins: int, notes: list[str]) -> DriftPart:
    """PSI of DRIFT_FEATURES (as customer.<feature>) and of the champion's p_purchase (score.p_purchase)."""
    champion = registry.champion(con, MODEL_NAME)
    if champion is None or champion.as_of is None:
        notes.append(f"customer features and score: no {MODEL_NAME} champion: not measured")
        return DriftPart([])
    current = con.execute("SELECT * FROM features.customer_features").df()
    if current.empty:
        notes.append("customer features and score: features.customer_features is empty: not measured")
        return DriftPart([])
    fitted = load(champion)

    def scored(features: pd.DataFrame) -> pd.DataFrame:
        score = score_customers(fitted, features, champion.as_of, champion.version)["p_purchase"]
        return features[list(DRIFT_FEATURES)].add_prefix("customer.").assign(**{"score.p_purchase": score.to_numpy()})

    columns = [f"customer.{c}" for c in DRIFT_FEATURES] + ["score.p_purchase"]
    reference = champion_reference(
        con, MODEL_NAME, champion.version, bins, columns, lambda: scored(customer_features_frame(con, champion.as_of))
    )
    return DriftPart(psi_against(reference, scored(current)))
