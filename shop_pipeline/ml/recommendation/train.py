"""Recommendation training run: tune, measure every candidate on the held-out window, refit the
best on all the history (`train` -> RecommendationRun; `training_run` -> the TrainingRun every
model returns).

Tuning (TUNING_GRID) uses the validation window that ends where the test window starts, so the
held-out numbers stay honest.

Data too short or too thin to measure (held_out_split raises NotEnoughData: no history before
the TEST_DAYS-day window, or fewer than MIN_EVALUATED_CUSTOMERS customers to evaluate): `train`
serves FALLBACK_CANDIDATE (most-popular, what a shop shows anyway) fitted on all the history,
mode UNMEASURED with the reason; the gate cannot promote it and scoring says "unvalidated", so a
new shop still gets lists. No interaction at all before the cut-off: NotEnoughData.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.common.promotion import select_serving
from shop_pipeline.ml.common.spec import ModelSettings, TrainingRun
from shop_pipeline.ml.recommendation.candidates import (
    CHALLENGER_POOL,
    EASE,
    FALLBACK_CANDIDATE,
    GATE_METRIC,
    HIGHER_IS_BETTER,
    ITEM_KNN,
    MEASURED,
    MODE_PARAMETER,
    SERVABLE,
    UNMEASURED,
    UNMEASURED_PARAMETER,
    RecommenderModel,
    fit_candidate,
)
from shop_pipeline.ml.recommendation.data import InteractionMatrix, TemporalSplit, load_interactions, temporal_split
from shop_pipeline.ml.recommendation.evaluate import (
    Evaluation,
    evaluate_candidates,
    evaluate_model,
    registry_metrics,
)
from shop_pipeline.ml.recommendation.score import TOP_K

TEST_DAYS = 14
MIN_EVALUATED_CUSTOMERS = 10  # fewer customers to measure on: the unmeasured fallback serves
FEATURES = ["customer_id", "product_id", "weight", "category"]


# Hyper-parameter grids, searched on a validation window that ends where the test window starts,
# so the held-out numbers stay honest: EASE's ridge penalty (strong structure between items wants
# a small one, popularity-like data a large one) and item-kNN's input signal.
TUNING_GRID: dict[str, list[dict[str, Any]]] = {
    EASE: [{"l2": l2} for l2 in (10.0, 50.0, 250.0, 2000.0)],
    ITEM_KNN: [{"signal": signal} for signal in ("binary", "log1p")],
}


def tune_parameters(
    con: Any,
    as_of: dt.date,
    seed: int = 0,
    test_days: int = TEST_DAYS,
    grid: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, dict[str, Any]]:
    """{candidate: parameters} with the best GATE_METRIC on the validation split that ends where
    the test window starts (train before as_of - 2 x test_days, validate on the next test_days).
    Too little history for that split, or fewer than MIN_EVALUATED_CUSTOMERS evaluated customers
    in it (a choice made on a handful is noise): the defaults ({})."""
    try:
        validation = temporal_split(con, as_of - dt.timedelta(days=test_days), test_days)
    except ValueError:
        return {}
    if len(validation.test_users) < max(MIN_EVALUATED_CUSTOMERS, 1):
        return {}
    chosen: dict[str, dict[str, Any]] = {}
    for candidate, options in (grid or TUNING_GRID).items():
        scored = []
        for option in options:
            model = fit_candidate(candidate, validation.train, seed, option)
            value = evaluate_model(model, validation)[0].get(GATE_METRIC, float("nan"))
            scored.append((-np.inf if math.isnan(value) else value, -len(scored), option))
        chosen[candidate] = max(scored, key=lambda item: item[:2])[2]
    return chosen


def choose_challenger(evaluation: Evaluation, pool: tuple[str, ...] = CHALLENGER_POOL) -> str:
    """The pool member with the highest GATE_METRIC (NaN counts as lowest; ties: pool order)."""
    evaluated = [name for name in pool if name in evaluation.results]
    if not evaluated:
        raise LookupError(f"none of the challenger pool {pool} was evaluated")

    def value(name: str) -> float:
        v = evaluation.results[name].metrics.get(GATE_METRIC, float("nan"))
        return -np.inf if math.isnan(v) else v

    return max(evaluated, key=lambda name: (value(name), -evaluated.index(name)))


def choose_serving(metrics: dict[str, dict[str, float]]) -> str:
    """The servable candidate with the best GATE_METRIC (ties and NaN: the simpler one; every
    NaN, e.g. an empty test window: the simplest, most_popular, which the gate then refuses)."""
    try:
        return select_serving(metrics, list(SERVABLE), GATE_METRIC, HIGHER_IS_BETTER)
    except ValueError:
        return SERVABLE[0]


def fit_final(
    matrix: InteractionMatrix, candidate: str, seed: int = 0, parameters: dict[str, Any] | None = None
) -> RecommenderModel:
    """The candidate fitted on every interaction up to as_of (the model that is saved and scores)."""
    return fit_candidate(candidate, matrix, seed, parameters)


def held_out_split(
    con: Any, as_of: dt.date, test_days: int = TEST_DAYS, min_evaluated: int = MIN_EVALUATED_CUSTOMERS
) -> TemporalSplit:
    """temporal_split, refused with NotEnoughData (one line) when it cannot measure a model:
    no history before the held-out window, or fewer than `min_evaluated` customers to evaluate."""
    split = temporal_split(con, as_of, test_days)
    evaluated = len(split.test_users)
    if evaluated >= min_evaluated:
        return split
    window = f"{split.split_day + dt.timedelta(days=1)}..{as_of}"
    if split.target_event is None:
        raise NotEnoughData(
            f"recommendations: no view, cart or purchase in the {test_days}-day held-out window "
            f"{window}: nothing to measure a model on"
        )
    raise NotEnoughData(
        f"recommendations: {evaluated} customer(s) with history before the {test_days}-day held-out window {window} "
        f"had a {split.target_event} in it ({split.unknown_users} more were new); a model is measured on at least "
        f"{min_evaluated}"
    )


@dataclass
class RecommendationRun:
    """What `train` decided: the served candidate fitted on all the history, and how it was chosen."""

    serving_candidate: str
    model: RecommenderModel
    metrics: dict[str, dict[str, float]]  # registry_metrics; unmeasured: the fallback with a NaN gate metric
    evaluation: Evaluation | None = None  # None when unmeasured
    unmeasured_reason: str | None = None  # the NotEnoughData line when nothing could be measured

    @property
    def mode(self) -> str:
        return UNMEASURED if self.evaluation is None else MEASURED


def train(
    con: Any,
    as_of: dt.date,
    history: InteractionMatrix,
    seed: int = 0,
    test_days: int = TEST_DAYS,
    min_evaluated: int = MIN_EVALUATED_CUSTOMERS,
) -> RecommendationRun:
    """Tune, measure every candidate on the held-out window, refit the best on `history` (the
    interactions as of as_of); when held_out_split refuses, the unmeasured FALLBACK_CANDIDATE
    (module docstring). Raises NotEnoughData when `history` holds no interaction."""
    if history.weights.nnz == 0:
        raise NotEnoughData(
            f"recommendations: no view, cart or purchase before the cut-off of {as_of}: nothing to recommend from"
        )
    try:
        split = held_out_split(con, as_of, test_days, min_evaluated)
    except NotEnoughData as short:
        model = fit_final(history, FALLBACK_CANDIDATE, seed=seed)
        unmeasured = {GATE_METRIC: float("nan"), "users": 0.0}
        return RecommendationRun(
            FALLBACK_CANDIDATE, model, {FALLBACK_CANDIDATE: unmeasured}, unmeasured_reason=str(short)
        )
    tuned = tune_parameters(con, as_of, seed, test_days)  # on the window before the held-out one
    evaluation = evaluate_candidates(split, seed=seed, parameters=tuned)
    metrics = registry_metrics(evaluation)
    serving = choose_serving(metrics)
    model = fit_final(history, serving, seed=seed, parameters=tuned.get(serving))
    return RecommendationRun(serving, model, metrics, evaluation)


def training_run(con: Any, as_of: dt.date, settings: ModelSettings) -> TrainingRun:
    """`train` on features.interactions, as the version to register (measured, or the unmeasured fallback)."""
    run = train(con, as_of, load_interactions(con), seed=settings.seed)
    parameters = {
        "candidate": run.serving_candidate,
        "seed": settings.seed,
        "test_days": TEST_DAYS,
        "top_k": TOP_K,
        **{str(k): v for k, v in run.model.parameters.items()},
        MODE_PARAMETER: run.mode,
        UNMEASURED_PARAMETER: run.unmeasured_reason or "",
    }
    if run.evaluation is None:
        return TrainingRun(
            run.serving_candidate,
            run.model,
            run.metrics,
            parameters,
            FEATURES,
            held_out=(as_of, as_of),
            train_start=None,
            train_end=as_of,
            notes=f"unmeasured: {run.unmeasured_reason}",
            mode=run.mode,
            warning=f"{run.unmeasured_reason}: serving {run.serving_candidate}, unmeasured",
            details=run,
        )
    split = run.evaluation.split
    return TrainingRun(
        run.serving_candidate,
        run.model,
        run.metrics,
        parameters,
        FEATURES,
        held_out=(split.split_day, as_of),
        train_start=None,
        train_end=as_of,
        notes=f"target {split.target_event}",
        champion_window_start=split.split_day,
        mode=run.mode,
        details=run,
    )


def registered_mode(row: Any) -> dict[str, Any]:
    """What a reused version recorded about how it was chosen (versions before modes: measured)."""
    mode = row.parameters.get(MODE_PARAMETER, MEASURED)
    reason = row.parameters.get(UNMEASURED_PARAMETER) or ""
    return {"mode": mode, **({"unmeasured_reason": reason} if mode == UNMEASURED else {})}
