"""Order risk (fraud): score each order, flag the riskiest within an alert budget (no Dagster).

Candidates (all score "higher = riskier"):
    amount_zscore     the rule of thumb, a reference that every servable model must beat: the
                      order's amount z-score against the customer's earlier orders
                      (features.amount_zscore); where that is undefined (fewer than two earlier
                      orders, or all of the same amount) the z-score of the amount against all
                      orders of the training window.
    isolation_forest  unsupervised detector, needs no labels: a Pipeline of a ColumnTransformer
                      (median imputation + missing-value indicators over FEATURE_COLUMNS) and an
                      IsolationForest; the score is -score_samples (about 0.3 for ordinary
                      orders, towards 1 for isolated ones).
    hgb_classifier    the challenger, supervised on chargeback labels: a Pipeline of a
                      ColumnTransformer (FEATURE_COLUMNS passed through, NULLs handled natively)
                      and a HistGradientBoostingClassifier; the score is P(fraud).

Which candidate is served is measured (lifecycle.select_serving over SERVABLE on GATE_METRIC):
normally the challenger; the isolation forest when the challenger could not be trained.
The gate: the served candidate must beat REFERENCES (amount_zscore) and the champion on
pr_auc (higher is better). See order_risk_data for the label and window rules.

flagged = risk_score >= the model's threshold, chosen when the final model is fitted: the
(1 - alert_budget) quantile of its scores on the orders it did not learn labels from (the
unlabelled recent orders, when there are at least MIN_THRESHOLD_ORDERS of them; otherwise on
every order). So about alert_budget of orders like the recent ones are flagged, and a flagged
share far from the budget on a new day is a sign of drift, not a moving threshold.

top_features explains a score: for each feature, how much the order's risk score drops when that
one feature is set to its typical value (the training median), all else unchanged; the three
largest positive drops, as "feature=value (+drop)" joined by "; ". A cheap, model-agnostic
one-feature-at-a-time contribution (not additive like SHAP values). By default only flagged
orders are explained (others NULL); `explain_rows="all"` explains every order.

Bad input (no crash, documented results):
- no labels at all / no mature order / one class in the training window (fewer than
  MIN_CLASS_COUNT frauds or legitimate orders): the challenger is not trained, its metrics are
  NaN; the isolation forest and the z-score are still measured when the evaluation window has
  labels. When no candidate has a pr_auc (no labels, an empty evaluation window, or a single
  class there) the run serves the isolation forest with mode "unsupervised" and the note says
  nothing could be measured: the gate then refuses (a NaN never passes), which is the intended
  behaviour: without a measurement there is nothing to promote.
- an empty evaluation window: every metric NaN, n_orders 0.
- a first order: NaN history features (the booster handles NaN natively, the forest imputes
  the median and sees the missing indicator); NaN or infinite values anywhere never give a NaN
  score.
- no orders at all (a shop of views only, or a cut-off before its first order): NotEnoughData
  from run_order_risk, one line saying so; the run skips order risk and writes everything else.
- the supervised challenger chosen but its labelled orders too few of a class at the final fit:
  NotEnoughData (the data is too thin, not wrong).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shop_pipeline.ml import order_risk_data as D
from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.order_risk_metrics import DEFAULT_ALERT_BUDGET, RISK_METRICS, risk_metrics
from shop_pipeline.ml.order_risk_models import (  # noqa: F401 (the public names, re-exported)
    AMOUNT_ZSCORE, CANDIDATES, CHALLENGER, GATE_METRIC, HIGHER_IS_BETTER, ISOLATION_FOREST, MIN_CLASS_COUNT,
    MODEL_NAME, REFERENCES, SERVABLE, AmountZScore, FittedOrderRisk, candidate_parameters, class_problem,
    fit_model, from_artifact, make_model, model_scores, to_artifact,
)
from shop_pipeline.ml.order_risk_scoring import (  # noqa: F401 (re-exported)
    SCORE_COLUMNS, explain, score_orders,
)
from shop_pipeline.ml.common.promotion import select_serving

MIN_THRESHOLD_ORDERS = 100


# ---------------------------------------------------------------------------- evaluation


@dataclass
class CandidateEvaluation:
    candidate: str
    metrics: dict[str, float]
    fit_seconds: float
    test_scores: np.ndarray = field(repr=False)
    model: Any = field(default=None, repr=False)    # fitted Pipeline / AmountZScore; None when not trained
    note: str = ""


def _nan_metrics(n_eval: int, y_eval: np.ndarray, alert_budget: float) -> dict[str, float]:
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
    X = D.feature_frame(features)
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
            ISOLATION_FOREST, _nan_metrics(len(X_eval), y_eval, alert_budget), 0.0, np.zeros(len(X_eval)),
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
            CHALLENGER, _nan_metrics(len(X_eval), y_eval, alert_budget), 0.0, np.zeros(len(X_eval)),
            note=f"not trained: training window has {problem}")
    else:
        boost = fit_model(CHALLENGER, X_train, y_train, seed)
        s = model_scores(CHALLENGER, boost, X_eval)
        out[CHALLENGER] = CandidateEvaluation(CHALLENGER, risk_metrics(y_eval, s, alert_budget),
                                              time.perf_counter() - started, s, boost)
    return out


def fit_final(features: pd.DataFrame, y: np.ndarray, candidate: str, windows: D.RiskWindows,
              alert_budget: float = DEFAULT_ALERT_BUDGET, seed: int = 0) -> FittedOrderRisk:
    """Refit `candidate` for scoring: the forest on every order, the classifier on every labelled
    order (NotEnoughData when their classes are too few); the threshold as in the module docstring."""
    if candidate not in SERVABLE:
        raise ValueError(f"cannot fit a final order-risk model for {candidate!r}; expected one of {SERVABLE}")
    if len(features) == 0:
        raise NotEnoughData("order risk: no orders to fit a model on")
    X = D.feature_frame(features)
    labelled = ~np.isnan(y)
    rows = labelled if candidate == CHALLENGER else np.ones(len(X), dtype=bool)
    if candidate == CHALLENGER:
        problem = class_problem(y[labelled])
        if problem:
            raise NotEnoughData(f"order risk: cannot train {CHALLENGER}: {problem}")
    model = fit_model(candidate, X.loc[rows], y[rows] if candidate == CHALLENGER else None, seed)
    unseen = D.order_days(features) > np.datetime64(windows.label_cutoff, "D")   # never labelled
    population = X.loc[unseen] if unseen.sum() >= MIN_THRESHOLD_ORDERS else X
    threshold = float(np.quantile(model_scores(candidate, model, population), 1.0 - alert_budget))
    days = D.order_days(features)[rows]
    medians = X.loc[rows].median(skipna=True).to_numpy(np.float64)
    return FittedOrderRisk(candidate, model, D.FEATURE_COLUMNS, np.nan_to_num(medians, nan=0.0), threshold,
                           float(alert_budget), int(rows.sum()),
                           (pd.Timestamp(days.min()).date(), pd.Timestamp(days.max()).date()))


def evaluate_fitted(fitted: FittedOrderRisk, eval_frame: pd.DataFrame, eval_labels: np.ndarray,
                    alert_budget: float | None = None) -> dict[str, float]:
    """Metrics of an already fitted model (e.g. the champion loaded from the registry) on an
    evaluation window, for the gate's like-with-like comparison."""
    scores = fitted.scores(eval_frame) if len(eval_frame) else np.zeros(0)
    return risk_metrics(eval_labels, scores, fitted.alert_budget if alert_budget is None else alert_budget)


# ---------------------------------------------------------------------------- whole run


@dataclass
class RiskRun:
    windows: D.RiskWindows
    mode: str                       # "supervised" | "unsupervised"
    note: str
    evaluations: dict[str, CandidateEvaluation]
    chosen: str                     # the served candidate, refit as `fitted`
    fitted: FittedOrderRisk
    alert_budget: float
    labelled_orders: int
    eval_labels: np.ndarray = field(repr=False)
    eval_frame: pd.DataFrame = field(repr=False)
    scoring_features: pd.DataFrame = field(repr=False)


def run_order_risk_frames(features: pd.DataFrame, known_labels: pd.DataFrame, as_of: Any, *,
                          maturity_days: int = D.DEFAULT_MATURITY_DAYS, eval_days: int = D.DEFAULT_EVAL_DAYS,
                          alert_budget: float = DEFAULT_ALERT_BUDGET, seed: int = 0) -> RiskRun:
    """The whole model step on frames: order features as of `as_of` (ORDER_FEATURES columns) and
    the labels known by then (order_id, is_fraud). Scoring is left to the caller
    (score_orders(run.fitted, run.scoring_features, as_of, version)) so the version comes from
    the registry. NotEnoughData when there is no order."""
    if len(features) == 0:
        raise NotEnoughData(f"order risk: no orders before the cut-off {as_of}: nothing to train or score")
    if not 0 < alert_budget < 1:
        raise ValueError(f"alert_budget must be in (0, 1), got {alert_budget}")
    features = features.reset_index(drop=True)
    windows = D.plan_windows(as_of, maturity_days, eval_days)
    y = D.label_orders(features, known_labels, windows)
    train, evaluate = D.window_masks(features, y, windows)
    evals = evaluate_candidates(features, y, train, evaluate, alert_budget, seed)
    measured = {c: e.metrics for c, e in evals.items()}
    counts = (f"{int((~np.isnan(y)).sum())} labelled orders ({int(np.nansum(y))} fraudulent), "
              f"{int(train.sum())} in training, {int(evaluate.sum())} in evaluation")
    notes = [windows.describe(), counts]
    notes += [f"{c}: {e.note}" for c, e in evals.items() if e.note]
    try:
        chosen = select_serving(measured, list(SERVABLE), GATE_METRIC, HIGHER_IS_BETTER)
    except ValueError:
        chosen = ISOLATION_FOREST
        notes.append("NOTHING MEASURED: no candidate has a pr_auc (no labels known by the cut-off, an empty "
                     "evaluation window, or a single class in it); serving the unsupervised isolation forest, "
                     "unvalidated: the gate refuses it")
    fitted = fit_final(features, y, chosen, windows, alert_budget, seed)
    mode = "supervised" if chosen == CHALLENGER else "unsupervised"
    return RiskRun(windows, mode, "; ".join(notes), evals, chosen, fitted, float(alert_budget),
                   int((~np.isnan(y)).sum()), y[evaluate], features.loc[evaluate].reset_index(drop=True), features)


def run_order_risk(con: Any, as_of: Any, **options: Any) -> RiskRun:
    """run_order_risk_frames on features.order_features rebuilt in memory from staging.events
    (order_features_frame) and the labels of raw.order_labels known by as_of; options as there."""
    from shop_pipeline.features.order_features import order_features_frame
    from shop_pipeline.warehouse.order_labels import known_labels_frame

    as_of = D.as_date(as_of)
    return run_order_risk_frames(order_features_frame(con, as_of), known_labels_frame(con, as_of), as_of, **options)


def metrics_rows(run: RiskRun) -> dict[str, dict[str, float]]:
    """candidate -> metric -> value (every candidate, NaN where unmeasured), for register_trained."""
    return {c: dict(e.metrics) for c, e in run.evaluations.items()}


def metrics_table_markdown(rows: dict[str, dict[str, float]]) -> str:
    names = [*RISK_METRICS, "n_orders", "n_fraud"]
    head = "| candidate | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names) + "\n"
    body = ""
    for cand, m in rows.items():
        cells = []
        for k in names:
            v = m.get(k)
            if v is None or not np.isfinite(v):
                cells.append("-")
            elif k in ("n_orders", "n_fraud"):
                cells.append(f"{v:,.0f}")
            else:
                cells.append(f"{v:.4f}")
        body += f"| {cand} | " + " | ".join(cells) + " |\n"
    return head + body
