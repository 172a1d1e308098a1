"""Order-risk training run: windows and labels, every candidate evaluated, the served one chosen
by measurement (select_serving over SERVABLE on GATE_METRIC) and refit for scoring.

Normally the challenger serves; the isolation forest when the challenger could not be trained.
When no candidate has a pr_auc (no labels, an empty or single-class evaluation window) the run
serves the isolation forest in mode "unsupervised", unvalidated: the gate then refuses it.

flagged = risk_score >= the threshold chosen at the final fit: the (1 - alert_budget) quantile
of the model's scores on the orders it learnt no label from (the recent unlabelled ones when
there are MIN_THRESHOLD_ORDERS of them, else every order). So a flagged share far from the
budget on a new day is a sign of drift, not a moving threshold.

No orders at all: NotEnoughData (the run skips order risk and writes everything else).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shop_pipeline.features.order_features import read_order_features
from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.common.promotion import select_serving
from shop_pipeline.ml.common.spec import ModelSettings, TrainingRun
from shop_pipeline.ml.order_risk.candidates import (
    GATE_METRIC,
    HIGHER_IS_BETTER,
    ISOLATION_FOREST,
    LABEL_TRAINED,
    SERVABLE,
    SUPERVISED,
    UNSUPERVISED,
    FittedOrderRisk,
    candidate_parameters,
    class_problem,
    fit_model,
    model_scores,
)
from shop_pipeline.ml.order_risk.data import (
    DEFAULT_EVAL_DAYS,
    DEFAULT_MATURITY_DAYS,
    FEATURE_COLUMNS,
    RiskWindows,
    feature_frame,
    label_orders,
    order_days,
    plan_windows,
    window_masks,
)
from shop_pipeline.ml.order_risk.evaluate import CandidateEvaluation, evaluate_candidates
from shop_pipeline.ml.order_risk.metrics import DEFAULT_ALERT_BUDGET
from shop_pipeline.warehouse.order_labels import known_labels_frame

MIN_THRESHOLD_ORDERS = 100


def fit_final(
    features: pd.DataFrame,
    y: np.ndarray,
    candidate: str,
    windows: RiskWindows,
    alert_budget: float = DEFAULT_ALERT_BUDGET,
    seed: int = 0,
) -> FittedOrderRisk:
    """Refit `candidate` for scoring: the forest on every order, the classifier on every labelled
    order (NotEnoughData when their classes are too few); the threshold as in the module docstring."""
    if candidate not in SERVABLE:
        raise ValueError(f"cannot fit a final order-risk model for {candidate!r}; expected one of {SERVABLE}")
    if len(features) == 0:
        raise NotEnoughData("order risk: no orders to fit a model on")
    X = feature_frame(features)
    labelled = ~np.isnan(y)
    on_labels = candidate in LABEL_TRAINED
    rows = labelled if on_labels else np.ones(len(X), dtype=bool)
    if on_labels:
        problem = class_problem(y[labelled])
        if problem:
            raise NotEnoughData(f"order risk: cannot train {candidate}: {problem}")
    model = fit_model(candidate, X.loc[rows], y[rows] if on_labels else None, seed)
    unseen = order_days(features) > np.datetime64(windows.label_cutoff, "D")  # never labelled
    population = X.loc[unseen] if unseen.sum() >= MIN_THRESHOLD_ORDERS else X
    threshold = float(np.quantile(model_scores(candidate, model, population), 1.0 - alert_budget))
    days = order_days(features)[rows]
    medians = X.loc[rows].median(skipna=True).to_numpy(np.float64)
    return FittedOrderRisk(
        candidate,
        model,
        FEATURE_COLUMNS,
        np.nan_to_num(medians, nan=0.0),
        threshold,
        float(alert_budget),
        int(rows.sum()),
        (pd.Timestamp(days.min()).date(), pd.Timestamp(days.max()).date()),
    )


@dataclass
class RiskRun:
    windows: RiskWindows
    mode: str  # SUPERVISED | UNSUPERVISED
    note: str
    evaluations: dict[str, CandidateEvaluation]
    serving_candidate: str  # the served candidate, refit as `fitted`
    fitted: FittedOrderRisk
    alert_budget: float
    labelled_orders: int
    eval_labels: np.ndarray = field(repr=False)
    eval_frame: pd.DataFrame = field(repr=False)
    scoring_features: pd.DataFrame = field(repr=False)


def run_order_risk_frames(
    features: pd.DataFrame,
    known_labels: pd.DataFrame,
    as_of: Any,
    *,
    maturity_days: int = DEFAULT_MATURITY_DAYS,
    eval_days: int = DEFAULT_EVAL_DAYS,
    alert_budget: float = DEFAULT_ALERT_BUDGET,
    seed: int = 0,
) -> RiskRun:
    """The whole model step on frames: order features as of `as_of` (ORDER_FEATURES columns) and
    the labels known by then (order_id, is_fraud). Scoring is left to the caller
    (score_orders(run.fitted, run.scoring_features, as_of, version)) so the version comes from
    the registry. NotEnoughData when there is no order."""
    if len(features) == 0:
        raise NotEnoughData(f"order risk: no orders before the cut-off {as_of}: nothing to train or score")
    if not 0 < alert_budget < 1:
        raise ValueError(f"alert_budget must be in (0, 1), got {alert_budget}")
    features = features.reset_index(drop=True)
    windows = plan_windows(as_of, maturity_days, eval_days)
    y = label_orders(features, known_labels, windows)
    train, evaluate = window_masks(features, y, windows)
    evals = evaluate_candidates(features, y, train, evaluate, alert_budget, seed)
    measured = {c: e.metrics for c, e in evals.items()}
    counts = (
        f"{int((~np.isnan(y)).sum())} labelled orders ({int(np.nansum(y))} fraudulent), "
        f"{int(train.sum())} in training, {int(evaluate.sum())} in evaluation"
    )
    notes = [windows.describe(), counts]
    notes += [f"{c}: {e.note}" for c, e in evals.items() if e.note]
    try:
        serving_candidate = select_serving(measured, list(SERVABLE), GATE_METRIC, HIGHER_IS_BETTER)
    except ValueError:
        serving_candidate = ISOLATION_FOREST
        notes.append(
            "NOTHING MEASURED: no candidate has a pr_auc (no labels known by the cut-off, an empty "
            "evaluation window, or a single class in it); serving the unsupervised isolation forest, "
            "unvalidated: the gate refuses it"
        )
    fitted = fit_final(features, y, serving_candidate, windows, alert_budget, seed)
    mode = SUPERVISED if serving_candidate in LABEL_TRAINED else UNSUPERVISED
    return RiskRun(
        windows,
        mode,
        "; ".join(notes),
        evals,
        serving_candidate,
        fitted,
        float(alert_budget),
        int((~np.isnan(y)).sum()),
        y[evaluate],
        features.loc[evaluate].reset_index(drop=True),
        features,
    )


def metrics_rows(run: RiskRun) -> dict[str, dict[str, float]]:
    """candidate -> metric -> value (every candidate, NaN where unmeasured), for register_trained."""
    return {c: dict(e.metrics) for c, e in run.evaluations.items()}


def training_run(con: Any, as_of: Any, settings: ModelSettings) -> TrainingRun:
    """run_order_risk_frames on features.order_features and the labels of raw.order_labels known by
    as_of, with the run's alert budget, label maturity and seed, as the version to register."""
    run = run_order_risk_frames(
        read_order_features(con),
        known_labels_frame(con, as_of),
        as_of,
        seed=settings.seed,
        alert_budget=settings.order_risk_alert_budget,
        maturity_days=settings.order_risk_label_maturity_days,
    )
    return TrainingRun(
        serving_candidate=run.serving_candidate,
        fitted=run.fitted,
        metrics=metrics_rows(run),
        parameters={
            **candidate_parameters(run.serving_candidate, settings.seed),
            "alert_budget": run.alert_budget,
            "mode": run.mode,
        },
        features=list(run.fitted.columns),
        held_out=run.windows.eval_window,
        train_start=None,
        train_end=run.windows.label_cutoff,
        notes=run.note,
        champion_window_start=run.windows.eval_start,
        mode=run.mode,
        details=run,
    )
