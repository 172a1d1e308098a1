"""Propensity training run: plan the windows from the warehouse, evaluate every candidate that
may compete, choose p_purchase and the value model, refit both for scoring (run_propensity ->
PropensityRun; `training_run` -> the TrainingRun every model returns).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.common.promotion import select_serving
from shop_pipeline.ml.common.spec import ModelSettings, TrainingRun
from shop_pipeline.ml.common.threads import threads_for
from shop_pipeline.ml.common.training_data import session_counts
from shop_pipeline.ml.propensity.candidates import (
    CANDIDATE_COLUMNS,
    COMPETED_PARAMETER,
    DEFAULT_THRESHOLD,
    GATE_METRIC,
    HURDLE,
    PROBABILISTIC,
    SERVABLE,
    SUPERVISED,
    VALUE_PARAMETER,
    FittedPropensity,
    candidate_parameters,
    fit_probabilistic,
    fit_value_model,
    make_classifier,
    purchase_probability,
)
from shop_pipeline.ml.propensity.counts import COUNT_COLUMNS
from shop_pipeline.ml.propensity.data import (
    WindowPlan,
    as_date,
    calibration_holdout_plan,
    check_labels,
    feature_matrix,
    join_labels,
    plan_windows,
    shift_days,
    supervised_shortfall,
)
from shop_pipeline.ml.propensity.evaluate import (
    CandidateEvaluation,
    ValueEvaluation,
    best_threshold,
    evaluate_candidates,
    evaluate_value,
    value_row_name,
)


def fit_final(
    features: pd.DataFrame,
    labels: pd.DataFrame | None,
    candidate: str,
    horizon_days: int,
    seed: int = 0,
    window: str = "final",
    value_candidate: str = HURDLE,
    history: pd.DataFrame | None = None,
) -> FittedPropensity:
    """Refit `candidate` and the value model `value_candidate` for scoring.

    Supervised parts learn from `features` at a cut-off and `labels` over the horizon after it
    (CUSTOMER_LABELS); probabilistic parts and the spend per order from `history`, the features
    at the scoring cut-off (the whole history; default `features`)."""
    if candidate not in SERVABLE:
        raise ValueError(f"cannot fit a final model for candidate {candidate!r}")
    history = features if history is None else history
    needs_labels = candidate in SUPERVISED or value_candidate == HURDLE
    frame = join_labels(features, labels) if needs_labels else None
    cols = CANDIDATE_COLUMNS[candidate]
    if candidate in PROBABILISTIC:
        clf = fit_probabilistic(candidate, history, horizon_days)
        p = purchase_probability(clf, feature_matrix(history, cols))
        threshold = DEFAULT_THRESHOLD
    else:
        y = frame["purchased"].to_numpy(np.int8)
        check_labels(y, window)
        clf = make_classifier(candidate, seed, len(y), horizon_days)
        X = feature_matrix(frame, cols)
        with threads_for(len(y)):
            clf.fit(X, y)
        p = purchase_probability(clf, X)
        threshold = best_threshold(y, p)
    q50, q80 = np.quantile(p, [0.5, 0.8])
    value = fit_value_model(
        value_candidate,
        history,
        horizon_days,
        seed,
        labelled=frame,
        probabilistic=clf if value_candidate == candidate else None,
    )
    return FittedPropensity(candidate, clf, tuple(cols), value, (float(q50), float(q80)), int(horizon_days), threshold)


def with_engine_counts(scoring: pd.DataFrame, counts: pd.DataFrame | None) -> pd.DataFrame:
    """The history the count-based parts fit on: the customer features at the cut-off, their purchase
    counts replaced by the engine's (a training session's counts, ml/common/training_data.py; None:
    the features as they are). Both are the same customers by the same rules: a customer missing on
    either side is an error, never a silent refit on other rows."""
    if counts is None:
        return scoring
    by_customer = counts.set_index("customer_id")
    missing = set(scoring["customer_id"]).symmetric_difference(by_customer.index)
    if missing:
        raise ValueError(
            f"the engine's counts and the customer features disagree on {len(missing)} customers "
            f"(e.g. {sorted(missing)[:3]}): they must come from the same events and cut-off"
        )
    history = scoring.copy()
    for column in COUNT_COLUMNS:
        if column != "customer_id":
            history[column] = by_customer.loc[history["customer_id"], column].to_numpy()
    return history


@dataclass
class PropensityRun:
    plan: WindowPlan
    evaluations: dict[str, CandidateEvaluation]
    value_evaluation: ValueEvaluation
    serving_candidate: str  # the p_purchase candidate refit as the final model
    fitted: FittedPropensity
    test_labels: np.ndarray = field(repr=False)
    test_frame: pd.DataFrame = field(repr=False)
    scoring_features: pd.DataFrame = field(repr=False)

    @property
    def value_candidate(self) -> str:
        """The value model refit as the final model's expected orders and spend."""
        return self.value_evaluation.value_candidate

    @property
    def evaluated_candidates(self) -> list[str]:
        """The servable candidates that competed (the gate compares the served one with these)."""
        return [c for c in SERVABLE if c in self.evaluations]


def run_propensity(
    con: Any, as_of: Any, horizon_days: int = 30, seed: int = 0, final_candidate: str | None = None
) -> PropensityRun:
    """Build the windows from the warehouse (`plan_windows`; a training window too thin for the
    supervised candidates turns the plan into calibration / holdout), evaluate every candidate
    that may compete on the held-out window, choose p_purchase on ROC-AUC (the simpler one on a
    tie) unless `final_candidate` is given and the value model on orders RMSE, and refit both for
    scoring. Scoring is left to the caller (score_customers(run.fitted, run.scoring_features,
    as_of, version)) so that the version comes from the registry."""
    from shop_pipeline.features.tables import customer_features_frame, customer_labels_frame, landed_range

    as_of = as_date(as_of)
    scoring = customer_features_frame(con, as_of)  # raises when as_of is before any data
    if len(scoring) == 0:
        raise NotEnoughData(f"customer propensity and value: no customers with events on or before {as_of}")
    history = with_engine_counts(scoring, session_counts(con))
    h = int(horizon_days)
    plan = plan_windows(as_of, h, landed_range(con)[0])

    def labelled(cutoff: dt.date, days: int) -> pd.DataFrame:
        return join_labels(
            customer_features_frame(con, cutoff), customer_labels_frame(con, cutoff, days, known_by=as_of)
        )

    train_frame = None
    eval_frame = labelled(plan.eval_cutoff, plan.eval_horizon_days)
    if plan.supervised:
        train_frame = labelled(plan.train_cutoff, h)
        why = supervised_shortfall(train_frame, eval_frame)
        if why is not None:
            plan = calibration_holdout_plan(as_of, h, plan.data_start, why)
            train_frame = None
            if plan.eval_cutoff != shift_days(as_of, -h):
                eval_frame = labelled(plan.eval_cutoff, plan.eval_horizon_days)
    ev_win = f"{plan.eval_label_window[0]}..{plan.eval_label_window[1]}"
    tr_win = f"{plan.train_label_window[0]}..{plan.train_label_window[1]}" if plan.train_label_window else "none"
    evals = evaluate_candidates(
        train_frame,
        None if train_frame is None else train_frame["purchased"],
        eval_frame,
        eval_frame["purchased"],
        seed,
        train_window=tr_win,
        test_window=ev_win,
        horizon_days=plan.eval_horizon_days,
    )
    if final_candidate is None:
        final_candidate = select_serving(
            {c: e.metrics for c, e in evals.items()},
            [c for c in SERVABLE if c in evals],
            GATE_METRIC,
            higher_is_better=True,
        )
    value_eval = evaluate_value(
        train_frame,
        eval_frame,
        evals[final_candidate].test_scores,
        plan.eval_horizon_days,
        seed,
        probabilistic={c: evals[c].model for c in PROBABILISTIC if c in evals},
    )
    labels_t2 = eval_frame.loc[:, ["customer_id", "purchased", "orders", "spend"]]
    fitted = fit_final(
        eval_frame.drop(columns=["purchased", "orders", "spend"]),
        labels_t2,
        final_candidate,
        h,
        seed,
        window=ev_win,
        value_candidate=value_eval.value_candidate,
        history=history,
    )
    return PropensityRun(
        plan, evals, value_eval, final_candidate, fitted, eval_frame["purchased"].to_numpy(np.int8), eval_frame, scoring
    )


def metrics_rows(run: PropensityRun) -> dict[str, dict[str, float]]:
    """candidate -> metric -> value for ml.model_evaluations and the report: the p_purchase
    candidates' classification metrics; one row per value candidate (`value_<name>`) and the
    historical-rate reference with their count metrics; and on the served candidate's row the
    served value model's orders / spend metrics (what the champion comparison reports too)."""
    rows = {c: dict(e.metrics) for c, e in run.evaluations.items()}
    for name, m in run.value_evaluation.metrics.items():
        rows[value_row_name(name)] = dict(m)
    served = run.value_evaluation.metrics[run.value_candidate]
    rows[run.serving_candidate].update({k: v for k, v in served.items() if k.startswith("orders_")})
    rows[run.serving_candidate]["spend_mae"] = served["spend_mae"]
    return rows


def training_run(con: Any, as_of: dt.date, settings: ModelSettings) -> TrainingRun:
    """run_propensity with the run's horizon and seed, as the version to register."""
    run = run_propensity(con, as_of, horizon_days=settings.propensity_horizon_days, seed=settings.seed)
    plan = run.plan
    return TrainingRun(
        serving_candidate=run.serving_candidate,
        fitted=run.fitted,
        metrics=metrics_rows(run),
        parameters={
            **candidate_parameters(run.serving_candidate, settings.seed, len(run.test_frame)),
            "horizon_days": settings.propensity_horizon_days,
            COMPETED_PARAMETER: run.evaluated_candidates,
            VALUE_PARAMETER: run.value_candidate,
            "window_mode": plan.mode,
        },
        features=list(run.fitted.columns),
        held_out=plan.eval_label_window,
        train_start=plan.data_start,
        train_end=plan.eval_label_window[1],
        notes=plan.note,
        champion_window_start=plan.eval_label_window[0],
        details=run,
    )
