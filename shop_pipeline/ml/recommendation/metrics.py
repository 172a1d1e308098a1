"""Top-K ranking metrics of recommendations (pure numpy).

Inputs, for U evaluated users:
    recommended  (U, L) int item indices, best first; -1 pads a list shorter than L
    relevant     per user, the set of relevant item indices (or a (U, I) sparse boolean matrix)
    n_relevant   (U,) how many items are relevant for each user; may exceed what `relevant`
                 holds when some relevant items cannot be recommended at all (e.g. products
                 first seen after the training cut-off): they count in the denominators.

`hits_matrix(recommended, relevant)` turns these into a (U, L) boolean matrix, and the
metrics read it (binary relevance, the mean over users):

    precision@k  hits in the first k / k (a list shorter than k is not rewarded)
    recall@k     hits in the first k / n_relevant
    hit_rate@k   share of users with at least one hit in the first k
    ndcg@k       DCG / ideal DCG, DCG = sum of 1 / log2(rank + 1) over hits at ranks 1..k,
                 the ideal has min(k, n_relevant) hits at the top
    coverage@k   distinct items recommended in the first k over all users / catalog size

Degenerate inputs never raise: with no evaluated user (U = 0) every metric is NaN; users
with n_relevant = 0 are an error of the caller (they cannot be scored) and raise ValueError;
coverage with catalog_size 0 is NaN. k larger than L reads the lists as padded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse

NAN = float("nan")
DEFAULT_KS = (10, 20)
METRIC_NAMES = ("ndcg", "recall", "precision", "hit_rate", "coverage")


def as_recommended(lists: Sequence[Sequence[int]], length: int | None = None) -> np.ndarray:
    """(U, L) int array from ragged lists, padded with -1 (L = the longest list or `length`)."""
    width = length if length is not None else max((len(x) for x in lists), default=0)
    out = np.full((len(lists), width), -1, dtype=np.int64)
    for row, items in enumerate(lists):
        items = list(items)[:width]
        out[row, : len(items)] = items
    return out


def hits_matrix(recommended: np.ndarray, relevant: sparse.spmatrix | Sequence[Iterable[int]]) -> np.ndarray:
    """(U, L) bool: recommended[u, j] is one of user u's relevant items (padding never hits)."""
    rec = np.asarray(recommended, dtype=np.int64)
    if rec.ndim != 2:
        raise ValueError(f"recommended must be a (users, length) array, got shape {rec.shape}")
    if sparse.issparse(relevant):
        rel = sparse.csr_matrix(relevant, dtype=bool)
        if rel.shape[0] != rec.shape[0]:
            raise ValueError(f"{rec.shape[0]} recommendation lists for {rel.shape[0]} users")
        valid = rec >= 0
        rows = np.repeat(np.arange(rec.shape[0]), rec.shape[1]).reshape(rec.shape)
        out = np.zeros(rec.shape, dtype=bool)
        if valid.any():
            out[valid] = np.asarray(rel[rows[valid], rec[valid]]).ravel()
        return out
    sets = [{int(i) for i in r} for r in relevant]
    if len(sets) != rec.shape[0]:
        raise ValueError(f"{rec.shape[0]} recommendation lists for {len(sets)} users")
    return np.array([[i >= 0 and int(i) in s for i in row] for row, s in zip(rec, sets)], dtype=bool).reshape(rec.shape)


def _check(hits: np.ndarray, n_relevant: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray | None]:
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a whole number >= 1, got {k!r}")
    hits = np.asarray(hits, dtype=bool)
    if hits.ndim == 1 and hits.size == 0:
        hits = hits.reshape(0, 0)
    if hits.shape[1] < k:  # shorter lists are padded: no hit there
        hits = np.hstack([hits, np.zeros((hits.shape[0], k - hits.shape[1]), dtype=bool)])
    if n_relevant is not None:
        n_relevant = np.asarray(n_relevant, dtype=np.float64)
        if len(n_relevant) != hits.shape[0]:
            raise ValueError(f"{len(n_relevant)} relevant counts for {hits.shape[0]} users")
        if (n_relevant < 1).any():
            raise ValueError("every evaluated user needs at least one relevant item (n_relevant >= 1)")
        if (hits.sum(axis=1) > n_relevant).any():
            raise ValueError("a user has more hits than relevant items")
    return hits[:, :k], n_relevant


def precision_at_k(hits: np.ndarray, k: int) -> float:
    h, _ = _check(hits, None, k)
    return NAN if len(h) == 0 else float(h.sum(axis=1).mean() / k)


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    h, n = _check(hits, n_relevant, k)
    return NAN if len(h) == 0 else float((h.sum(axis=1) / n).mean())


def hit_rate_at_k(hits: np.ndarray, k: int) -> float:
    h, _ = _check(hits, None, k)
    return NAN if len(h) == 0 else float(h.any(axis=1).mean())


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    h, n = _check(hits, n_relevant, k)
    if len(h) == 0:
        return NAN
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (h * discount).sum(axis=1)
    ideal = np.cumsum(discount)[np.minimum(n, k).astype(np.int64) - 1]
    return float((dcg / ideal).mean())


def catalog_coverage(recommended: np.ndarray, k: int, catalog_size: int) -> float:
    """Distinct items in the first k positions of all lists / catalog_size (NaN when either is empty)."""
    rec = np.asarray(recommended, dtype=np.int64)
    if catalog_size <= 0 or rec.shape[0] == 0:
        return NAN
    top = rec[:, :k]
    return float(len(np.unique(top[top >= 0])) / catalog_size)


def recall_curve(hits: np.ndarray, n_relevant: np.ndarray, max_k: int) -> np.ndarray:
    """recall@1 .. recall@max_k as an array (NaN-filled with no user)."""
    h, n = _check(hits, n_relevant, max_k)
    if len(h) == 0:
        return np.full(max_k, NAN)
    return (np.cumsum(h, axis=1) / n[:, None]).mean(axis=0)


def ranking_metrics(
    recommended: np.ndarray, hits: np.ndarray, n_relevant: np.ndarray, catalog_size: int, ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    """{"ndcg_at_10": .., "recall_at_10": .., "precision_at_10": .., "hit_rate_at_10": ..,
    "coverage_at_10": .., (the same at each k), "users": U}."""
    out: dict[str, float] = {}
    for k in ks:
        out[f"ndcg_at_{k}"] = ndcg_at_k(hits, n_relevant, k)
        out[f"recall_at_{k}"] = recall_at_k(hits, n_relevant, k)
        out[f"precision_at_{k}"] = precision_at_k(hits, k)
        out[f"hit_rate_at_{k}"] = hit_rate_at_k(hits, k)
        out[f"coverage_at_{k}"] = catalog_coverage(recommended, k, catalog_size)
    out["users"] = float(len(np.asarray(hits)))
    return out
