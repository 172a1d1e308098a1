"""Product recommendations: evaluate candidates on a temporal split, fit, score, save (no Dagster).

Pieces (each in its own module):
    features/interactions.py   features.interactions (weighted implicit signal per pair)
    ml/recommend_data.py       interaction matrices, temporal split, customers seen before a cut-off
    ml/recommend_models.py     candidates: most_popular, item_knn, category_popularity, ease
    ml/recommend_scoring.py    blocked top-k scoring, fallback, exclusions, output rows
    ml/ranking_metrics.py      NDCG / recall / precision / hit rate / coverage @ K
    ml/recommend_plots.py      recall@K curve PNG

This module ties them together for the pipeline:
    history = recommend_data.load_interactions(con)   # features.interactions as of as_of
    run = train(con, as_of, history, seed=seed)       # TrainingRun: measured, or the unmeasured fallback
    # measured: parameters = tune_parameters(con, as_of, seed)   chosen on the window BEFORE the test window
    #           split = held_out_split(con, as_of, TEST_DAYS)
    #           evaluation = evaluate_candidates(split, seed=seed, parameters=parameters)
    #           metrics = registry_metrics(evaluation)            {candidate: {metric: value}}
    #           chosen = choose_serving(metrics)                  best of SERVABLE on the window
    #           model = fit_final(history, chosen, seed=seed, parameters=parameters.get(chosen))
    artifact = to_artifact(run.model)                 # plain dicts / lists / numpy arrays
    frame = recommendations_frame(run.model, history, as_of, version, recency_days=None)

Served model: like every model of the pipeline (ml/common/lifecycle.py), the candidate with the best
GATE_METRIC (ndcg_at_10) on the held-out window among SERVABLE (simpler first; a tie serves the
simpler one); every candidate is recorded under its own name. The challengers
(CHALLENGER_POOL) are expected to win; BASELINES (most_popular, item_knn) serve only when
they measure best, and the report says so. Why this pool: on the generated shop the only user-item signal is a per-user category
preference over Zipf item popularity, so category_popularity wins there; EASE wins where
items are bought together (real shop logs). Measuring both each run picks the right one.

Data too short or too thin to measure a model (`held_out_split` raises NotEnoughData): the
TEST_DAYS-day held-out window leaves no history before it (a shop younger than TEST_DAYS + 1
days), or fewer than MIN_EVALUATED_CUSTOMERS customers with earlier history had a target event
in it (NDCG over a handful of customers is noise; an empty window has none). Then `train`
serves the FALLBACK_CANDIDATE (most-popular, which needs no measuring: it is what a shop shows
anyway) fitted on all the history, mode UNMEASURED with the one-line reason: the pipeline
registers it, the gate cannot promote it (its check warns instead of blocking) and scoring
writes its lists saying "unvalidated" and why, so a new shop still gets lists. A shop with no
interaction at all before the cut-off raises NotEnoughData: there is nothing to recommend from.

Who gets recommendations (`customers_to_score`): every customer with any view, cart or
purchase before the cut-off of as_of, however long ago (recency_days=None, the default: lapsed
customers are who win-back mail is for); with recency_days=N only those whose last interaction
is in the N days before the cut-off (ModelingWindow.recommendation_recency_days). A customer the
model knows nothing about (e.g. only products newer than the champion) gets the fallback lists
(recommend_scoring: popular in their categories, then overall; `reason` says which). An empty
history or no such customer gives an empty frame.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from shop_pipeline.features.tables import cutoff_for
from shop_pipeline.ml import ranking_metrics as RM
from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.common.promotion import select_serving
from shop_pipeline.ml.recommend_data import (
    InteractionMatrix,
    TemporalSplit,
    customers_seen,
    temporal_split,
)
from shop_pipeline.ml.recommend_models import (
    CANDIDATES,
    CATEGORY_POPULARITY,
    EASE,
    ITEM_KNN,
    MOST_POPULAR,
    RecommenderModel,
    fit_candidate,
)
from shop_pipeline.ml.recommend_scoring import (
    OUTPUT_COLUMNS,
    TopK,
    iter_top_k,
    to_frame,
    top_k,
)

MODEL_NAME = "product_recommendations"
CHALLENGER_POOL = (CATEGORY_POPULARITY, EASE)
BASELINES = (MOST_POPULAR, ITEM_KNN)
SERVABLE = (MOST_POPULAR, CATEGORY_POPULARITY, ITEM_KNN, EASE)   # simpler first
GATE_METRIC = "ndcg_at_10"
HIGHER_IS_BETTER = True
TOP_K = 20
KS = (10, 20)
TEST_DAYS = 14
RECENCY_DAYS: int | None = None   # who gets lists: None = every customer with an interaction before the cut-off
MIN_EVALUATED_CUSTOMERS = 10      # fewer customers to measure on: the unmeasured fallback serves
FALLBACK_CANDIDATE = MOST_POPULAR
MEASURED, UNMEASURED = "measured", "unmeasured"
ARTIFACT_FORMAT = "recommender-v1"


# ------------------------------------------------------------------------------ evaluation

@dataclass
class CandidateResult:
    metrics: dict[str, float]          # ranking_metrics at KS, plus users / fit_seconds / score_seconds
    recall_curve: np.ndarray           # recall@1 .. recall@TOP_K
    model: RecommenderModel


@dataclass
class Evaluation:
    split: TemporalSplit
    results: dict[str, CandidateResult] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        s = self.split
        return {"as_of": s.as_of.isoformat(), "split_day": s.split_day.isoformat(), "test_days": s.test_days,
                "target_event": s.target_event, "evaluated_users": len(s.test_users),
                "unknown_users": s.unknown_users, "unknown_item_pairs": s.unknown_item_pairs,
                "train_users": int(s.train.shape[0]), "train_items": int(s.train.shape[1]),
                "train_pairs": int(s.train.weights.nnz)}


def evaluate_model(model: RecommenderModel, split: TemporalSplit, k: int = TOP_K,
                   ks: tuple[int, ...] = KS) -> tuple[dict[str, float], np.ndarray, TopK]:
    """Metrics of a fitted model on the split's evaluated users (history = the training matrix).

    Catalog coverage is over the model's recommendable items. No evaluated user: NaN metrics.
    """
    top = top_k(model, split.train, split.test_users, k)
    # the model's items are the training matrix's items (fit_candidate keeps its index), but a
    # model loaded from elsewhere may differ: compare by product id
    relevant = split.relevant
    if not np.array_equal(model.item_ids, split.train.item_ids):
        pos = pd.Index(model.item_ids).get_indexer(split.train.item_ids)
        coo = relevant.tocoo()
        keep = pos[coo.col] >= 0
        relevant = sparse.csr_matrix((coo.data[keep], (coo.row[keep], pos[coo.col[keep]])),
                                     shape=(relevant.shape[0], len(model.item_ids)), dtype=bool)
    hits = RM.hits_matrix(top.items, relevant)
    metrics = RM.ranking_metrics(top.items, hits, split.n_relevant, int(model.recommendable.sum()), ks)
    curve = RM.recall_curve(hits, split.n_relevant, k)
    return metrics, curve, top


def evaluate_candidates(split: TemporalSplit, candidates: tuple[str, ...] = CANDIDATES, seed: int = 0,
                        parameters: dict[str, dict[str, Any]] | None = None, k: int = TOP_K) -> Evaluation:
    """Fit every candidate on split.train and measure it on the held-out window."""
    evaluation = Evaluation(split)
    for name in candidates:
        started = time.perf_counter()
        model = fit_candidate(name, split.train, seed, (parameters or {}).get(name))
        fitted = time.perf_counter()
        metrics, curve, _ = evaluate_model(model, split, k)
        metrics["fit_seconds"] = fitted - started
        metrics["score_seconds"] = time.perf_counter() - fitted
        evaluation.results[name] = CandidateResult(metrics, curve, model)
    return evaluation


# Hyper-parameter grids, searched on a validation window that ends where the test window starts,
# so the held-out numbers stay honest: EASE's ridge penalty (strong structure between items wants
# a small one, popularity-like data a large one) and item-kNN's input signal.
TUNING_GRID: dict[str, list[dict[str, Any]]] = {
    EASE: [{"l2": l2} for l2 in (10.0, 50.0, 250.0, 2000.0)],
    ITEM_KNN: [{"signal": signal} for signal in ("binary", "log1p")],
}


def tune_parameters(con: Any, as_of: dt.date, seed: int = 0, test_days: int = TEST_DAYS,
                    grid: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, dict[str, Any]]:
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


def registry_metrics(evaluation: Evaluation) -> dict[str, dict[str, float]]:
    """{candidate: {metric: value}} for lifecycle.register_trained, every candidate under its own
    name. Timings are left out (not quality)."""
    return {name: {m: float(v) for m, v in r.metrics.items() if not m.endswith("_seconds")}
            for name, r in evaluation.results.items()}


def choose_serving(metrics: dict[str, dict[str, float]]) -> str:
    """The servable candidate with the best GATE_METRIC (ties and NaN: the simpler one; every
    NaN, e.g. an empty test window: the simplest, most_popular, which the gate then refuses)."""
    try:
        return select_serving(metrics, list(SERVABLE), GATE_METRIC, HIGHER_IS_BETTER)
    except ValueError:
        return SERVABLE[0]


def recall_curves(evaluation: Evaluation) -> dict[str, np.ndarray]:
    """recall@1..TOP_K per candidate."""
    return {name: r.recall_curve for name, r in evaluation.results.items()}


def metrics_table_markdown(metrics: dict[str, dict[str, float]], ks: tuple[int, ...] = KS,
                           reference: str = MOST_POPULAR) -> str:
    """Markdown: one row per candidate, NDCG / recall / precision / hit rate / coverage at each k,
    and NDCG@10 relative to `reference`."""
    names = [f"{m}_at_{k}" for k in ks for m in RM.METRIC_NAMES]
    header = ["candidate", *names, f"{GATE_METRIC} vs {reference}"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    base = metrics.get(reference, {}).get(GATE_METRIC)

    def fmt(v: Any) -> str:
        return "-" if v is None or math.isnan(v) else f"{v:.4f}"

    for name, values in metrics.items():
        gain = values.get(GATE_METRIC)
        rel = "-" if not base or gain is None or math.isnan(gain) else f"{gain / base:.2f}x"
        lines.append("| " + " | ".join([name, *(fmt(values.get(n)) for n in names), rel]) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------ final fit, scoring

def fit_final(matrix: InteractionMatrix, candidate: str, seed: int = 0,
              parameters: dict[str, Any] | None = None) -> RecommenderModel:
    """The candidate fitted on every interaction up to as_of (the model that is saved and scores)."""
    return fit_candidate(candidate, matrix, seed, parameters)


def customers_to_score(history: InteractionMatrix, as_of: dt.date, recency_days: int | None = RECENCY_DAYS,
                       ) -> np.ndarray:
    """Row indices of the customers who get lists: any interaction before the cut-off of as_of,
    the last one within `recency_days` days of it when set (None: however long ago).

    Raises ValueError when `history` was built as of a later day than as_of (its rows would
    hold interactions after the cut-off)."""
    if history.shape[0] == 0:
        return np.array([], dtype=np.int64)
    if history.as_of is not None and history.as_of > as_of:
        raise ValueError(f"the interactions are as of {history.as_of}, after the scoring cut-off {as_of}: "
                         "rebuild features.interactions for this as_of")
    return customers_seen(history, cutoff_for(as_of), recency_days)


def recommendations_frame(model: RecommenderModel, history: InteractionMatrix, as_of: dt.date, model_version: str,
                          k: int = TOP_K, recency_days: int | None = RECENCY_DAYS, users: np.ndarray | None = None,
                          ) -> pd.DataFrame:
    """scoring.recommendations rows (OUTPUT_COLUMNS): top-k for every customer of
    customers_to_score (or `users`), rank 1 = best, computed in blocks (recommend_scoring).
    Deterministic for the model's seed."""
    rows = customers_to_score(history, as_of, recency_days) if users is None else np.asarray(users, dtype=np.int64)
    parts = [to_frame(model, history, part, model_version, as_of) for part in iter_top_k(model, history, rows, k)]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            OUTPUT_COLUMNS, ("object", "int32", "object", "float64", "object", "object", "object"))})
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------ training: measured or fallback

def held_out_split(con: Any, as_of: dt.date, test_days: int = TEST_DAYS,
                   min_evaluated: int = MIN_EVALUATED_CUSTOMERS) -> TemporalSplit:
    """temporal_split, refused with NotEnoughData (one line) when it cannot measure a model:
    no history before the held-out window, or fewer than `min_evaluated` customers to evaluate."""
    split = temporal_split(con, as_of, test_days)
    evaluated = len(split.test_users)
    if evaluated >= min_evaluated:
        return split
    window = f"{split.split_day + dt.timedelta(days=1)}..{as_of}"
    if split.target_event is None:
        raise NotEnoughData(f"recommendations: no view, cart or purchase in the {test_days}-day held-out window "
                            f"{window}: nothing to measure a model on")
    raise NotEnoughData(
        f"recommendations: {evaluated} customer(s) with history before the {test_days}-day held-out window {window} "
        f"had a {split.target_event} in it ({split.unknown_users} more were new); a model is measured on at least "
        f"{min_evaluated}")


@dataclass
class TrainingRun:
    """What `train` decided: the served candidate fitted on all the history, and how it was chosen."""

    serving: str
    model: RecommenderModel
    metrics: dict[str, dict[str, float]]   # registry_metrics; unmeasured: the fallback with a NaN gate metric
    evaluation: Evaluation | None = None    # None when unmeasured
    unmeasured_reason: str | None = None    # the NotEnoughData line when nothing could be measured

    @property
    def mode(self) -> str:
        return UNMEASURED if self.evaluation is None else MEASURED


def train(con: Any, as_of: dt.date, history: InteractionMatrix, seed: int = 0, test_days: int = TEST_DAYS,
          min_evaluated: int = MIN_EVALUATED_CUSTOMERS) -> TrainingRun:
    """Tune, measure every candidate on the held-out window, refit the best on `history` (the
    interactions as of as_of); when held_out_split refuses, the unmeasured FALLBACK_CANDIDATE
    (module docstring). Raises NotEnoughData when `history` holds no interaction."""
    if history.weights.nnz == 0:
        raise NotEnoughData(f"recommendations: no view, cart or purchase before the cut-off of {as_of}: "
                            "nothing to recommend from")
    try:
        split = held_out_split(con, as_of, test_days, min_evaluated)
    except NotEnoughData as short:
        model = fit_final(history, FALLBACK_CANDIDATE, seed=seed)
        unmeasured = {GATE_METRIC: float("nan"), "users": 0.0}
        return TrainingRun(FALLBACK_CANDIDATE, model, {FALLBACK_CANDIDATE: unmeasured}, unmeasured_reason=str(short))
    tuned = tune_parameters(con, as_of, seed, test_days)  # on the window before the held-out one
    evaluation = evaluate_candidates(split, seed=seed, parameters=tuned)
    metrics = registry_metrics(evaluation)
    serving = choose_serving(metrics)
    model = fit_final(history, serving, seed=seed, parameters=tuned.get(serving))
    return TrainingRun(serving, model, metrics, evaluation)


# ----------------------------------------------------------------------------- artifacts

def _csr(matrix: sparse.csr_matrix | None) -> dict[str, Any] | None:
    if matrix is None:
        return None
    m = sparse.csr_matrix(matrix)
    return {"data": np.asarray(m.data, dtype=np.float32), "indices": np.asarray(m.indices, dtype=np.int32),
            "indptr": np.asarray(m.indptr, dtype=np.int64), "shape": [int(m.shape[0]), int(m.shape[1])]}


def _from_csr(value: dict[str, Any] | None) -> sparse.csr_matrix | None:
    if value is None:
        return None
    return sparse.csr_matrix((np.asarray(value["data"]), np.asarray(value["indices"]), np.asarray(value["indptr"])),
                             shape=tuple(int(v) for v in value["shape"]))


def to_artifact(model: RecommenderModel) -> dict[str, Any]:
    """A registry artifact of plain lists, numbers and numpy arrays (no allow-list change needed):
    ids as lists of str, the item-kNN CSR as data / indices / indptr arrays, EASE as a dense array."""
    return {
        "format": ARTIFACT_FORMAT,
        "candidate": model.candidate,
        "item_ids": [str(i) for i in model.item_ids],
        "item_category": np.asarray(model.item_category, dtype=np.int32),
        "categories": [str(c) for c in model.categories],
        "recommendable": np.asarray(model.recommendable, dtype=bool),
        "popularity": np.asarray(model.popularity, dtype=np.float64),
        "repeat_categories": np.asarray(model.repeat_categories, dtype=bool),
        "tie_break": np.asarray(model.tie_break, dtype=np.float64),
        "similarity": _csr(model.similarity),
        "dense_items": None if model.dense_items is None else np.asarray(model.dense_items, dtype=np.int64),
        "dense_weights": None if model.dense_weights is None else np.asarray(model.dense_weights, dtype=np.float32),
        "signal": model.signal,
        "category_fallback": bool(model.category_fallback),
        "parameters": {str(k): v for k, v in model.parameters.items()},
        "seed": int(model.seed),
    }


def from_artifact(artifact: dict[str, Any]) -> RecommenderModel:
    if artifact.get("format") != ARTIFACT_FORMAT:
        raise ValueError(f"not a recommender artifact of format {ARTIFACT_FORMAT}: {artifact.get('format')!r}")
    return RecommenderModel(
        candidate=artifact["candidate"],
        item_ids=np.array(artifact["item_ids"], dtype=object),
        item_category=np.asarray(artifact["item_category"], dtype=np.int32),
        categories=np.array(artifact["categories"], dtype=object),
        recommendable=np.asarray(artifact["recommendable"], dtype=bool),
        popularity=np.asarray(artifact["popularity"], dtype=np.float64),
        repeat_categories=np.asarray(artifact["repeat_categories"], dtype=bool),
        tie_break=np.asarray(artifact["tie_break"], dtype=np.float64),
        similarity=_from_csr(artifact["similarity"]),
        dense_items=None if artifact["dense_items"] is None else np.asarray(artifact["dense_items"], dtype=np.int64),
        dense_weights=None if artifact["dense_weights"] is None else np.asarray(artifact["dense_weights"]),
        signal=artifact["signal"],
        category_fallback=bool(artifact["category_fallback"]),
        parameters=dict(artifact["parameters"]),
        seed=int(artifact["seed"]),
    )
