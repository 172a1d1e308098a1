"""Recommendation evaluation: every candidate fitted on a temporal split's training matrix and
measured on the held-out window's customers (NDCG / recall / precision / hit rate / coverage at
KS, metrics.py), with its recall@1..TOP_K curve for the report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from shop_pipeline.ml.recommendation.candidates import CANDIDATES, RecommenderModel, fit_candidate
from shop_pipeline.ml.recommendation.data import TemporalSplit
from shop_pipeline.ml.recommendation.metrics import hits_matrix, ranking_metrics, recall_curve
from shop_pipeline.ml.recommendation.score import TOP_K, TopK, top_k

KS = (10, 20)


@dataclass
class CandidateResult:
    metrics: dict[str, float]  # ranking_metrics at KS, plus users / fit_seconds / score_seconds
    recall_curve: np.ndarray  # recall@1 .. recall@TOP_K
    model: RecommenderModel


@dataclass
class Evaluation:
    split: TemporalSplit
    results: dict[str, CandidateResult] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        s = self.split
        return {
            "as_of": s.as_of.isoformat(),
            "split_day": s.split_day.isoformat(),
            "test_days": s.test_days,
            "target_event": s.target_event,
            "evaluated_users": len(s.test_users),
            "unknown_users": s.unknown_users,
            "unknown_item_pairs": s.unknown_item_pairs,
            "train_users": int(s.train.shape[0]),
            "train_items": int(s.train.shape[1]),
            "train_pairs": int(s.train.weights.nnz),
        }


def evaluate_model(
    model: RecommenderModel, split: TemporalSplit, k: int = TOP_K, ks: tuple[int, ...] = KS
) -> tuple[dict[str, float], np.ndarray, TopK]:
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
        relevant = sparse.csr_matrix(
            (coo.data[keep], (coo.row[keep], pos[coo.col[keep]])),
            shape=(relevant.shape[0], len(model.item_ids)),
            dtype=bool,
        )
    hits = hits_matrix(top.items, relevant)
    metrics = ranking_metrics(top.items, hits, split.n_relevant, int(model.recommendable.sum()), ks)
    curve = recall_curve(hits, split.n_relevant, k)
    return metrics, curve, top


def evaluate_candidates(
    split: TemporalSplit,
    candidates: tuple[str, ...] = CANDIDATES,
    seed: int = 0,
    parameters: dict[str, dict[str, Any]] | None = None,
    k: int = TOP_K,
) -> Evaluation:
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


def registry_metrics(evaluation: Evaluation) -> dict[str, dict[str, float]]:
    """{candidate: {metric: value}} for lifecycle.register_trained, every candidate under its own
    name. Timings are left out (not quality)."""
    return {
        name: {m: float(v) for m, v in r.metrics.items() if not m.endswith("_seconds")}
        for name, r in evaluation.results.items()
    }


def recall_curves(evaluation: Evaluation) -> dict[str, np.ndarray]:
    """recall@1..TOP_K per candidate."""
    return {name: r.recall_curve for name, r in evaluation.results.items()}


def evaluate_saved(run: Any, fitted: RecommenderModel, row: Any) -> dict[str, float]:
    """A saved version (the champion) on this training run's held-out split."""
    return evaluate_model(fitted, run.details.evaluation.split)[0]
