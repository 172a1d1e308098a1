"""Recommender candidates, fitted on an InteractionMatrix (pure numpy / scipy, no Dagster).

Every candidate is one `RecommenderModel`: item popularity, item categories, which items may
be recommended, which categories are bought again as a matter of course, and -- for the
personalised ones -- item-to-item weights, so that a user's scores are (user row) x (weights):

    most_popular         baseline: the same list for everybody, items by popularity
                         (sum of the decayed interaction weights over all customers).
    category_popularity  P(category | user) x P(item | category): the user's share of weight per
                         category, shrunk towards the shop's category mix by `category_prior`
                         pseudo-weight, times the item's share of its category's popularity.
                         The same computation is every candidate's fallback
                         (score.py), so on its own it is "popular in your categories".
    item_knn             baseline: cosine similarity of item columns, computed in blocks of
                         items and pruned to the `neighbours` most similar items per item
                         (sparse CSR item x item, never dense).
    ease                 challenger: EASE (Steck 2019), the closed-form ridge item-item model
                         B = I - P diag(1 / diag(P)), P = (X'X + lambda I)^-1, restricted to the
                         `max_items` most popular items (a dense max_items^2 float32 matrix;
                         3,000 items = 36 MB). Items outside that set get no EASE score and are
                         reached through the fallback.

Input signal of the personalised candidates (`signal`): "binary" (interacted or not),
"weight" (the decayed weight) or "log1p" (log(1 + weight)).

Repeat purchases ("normal" decided from the training data): a category is a repeat category
when at least REPEAT_MIN_PAIRS (customer, product) pairs were ordered in it and at least
REPEAT_RATE_THRESHOLD of them were ordered in two or more distinct orders. Products a customer
already ordered are never recommended to them, except in repeat categories.

Which one serves is measured (train.choose_serving): the best GATE_METRIC on the held-out window
among SERVABLE, simpler first on a tie. The challengers (CHALLENGER_POOL) are expected to win;
on the generated shop the only user-item signal is a category preference, so
category_popularity wins there, while EASE wins where items are bought together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from shop_pipeline.ml.common.threads import configure as configure_threads
from shop_pipeline.ml.recommendation.data import InteractionMatrix

MOST_POPULAR = "most_popular"
CATEGORY_POPULARITY = "category_popularity"
ITEM_KNN = "item_knn"
EASE = "ease"
CANDIDATES = (MOST_POPULAR, CATEGORY_POPULARITY, ITEM_KNN, EASE)

MODEL_NAME = "recommendation"  # in the registry; the assets are recommendation_model, _champion
CHALLENGER_POOL = (CATEGORY_POPULARITY, EASE)
BASELINES = (MOST_POPULAR, ITEM_KNN)
SERVABLE = (MOST_POPULAR, CATEGORY_POPULARITY, ITEM_KNN, EASE)  # simpler first
GATE_METRIC = "ndcg_at_10"
HIGHER_IS_BETTER = True
FALLBACK_CANDIDATE = MOST_POPULAR
ARTIFACT_FORMAT = "recommender-v1"
MEASURED, UNMEASURED = "measured", "unmeasured"
# registry parameters saying how a version was chosen: measured on the held-out window, or the
# unmeasured fallback of a shop too short to measure (train.py), and why
MODE_PARAMETER = "mode"
UNMEASURED_PARAMETER = "unmeasured_reason"

REPEAT_RATE_THRESHOLD = 0.2
REPEAT_MIN_PAIRS = 30
SIGNALS = ("binary", "weight", "log1p")

DEFAULT_PARAMETERS: dict[str, dict[str, Any]] = {
    MOST_POPULAR: {},
    CATEGORY_POPULARITY: {},
    ITEM_KNN: {"neighbours": 100, "signal": "binary"},
    EASE: {"max_items": 3000, "l2": 2000.0, "signal": "binary"},
}
# item x item cells computed per block by the item-kNN fit (bounds its memory)
KNN_BLOCK_CELLS = 8_000_000


@dataclass
class RecommenderModel:
    candidate: str
    item_ids: np.ndarray  # (I,) str: the model's item index
    item_category: np.ndarray  # (I,) int codes into `categories`
    categories: np.ndarray  # (C,) str
    recommendable: np.ndarray  # (I,) bool: in the catalog
    popularity: np.ndarray  # (I,) float64 >= 0
    repeat_categories: np.ndarray  # (C,) bool
    tie_break: np.ndarray  # (I,) float64 in [0, 1): seeded, orders equal scores
    similarity: sparse.csr_matrix | None = None  # (I, I): row i = weights of i's neighbours
    dense_items: np.ndarray | None = None  # (N,) item indices of the dense block
    dense_weights: np.ndarray | None = None  # (N, N) float32
    signal: str = "binary"
    category_fallback: bool = True
    parameters: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    @property
    def personalised(self) -> bool:
        return self.similarity is not None or self.dense_weights is not None

    def to_artifact(self) -> dict[str, Any]:
        """A registry artifact of plain lists, numbers and numpy arrays (no allow-list change needed):
        ids as lists of str, the item-kNN CSR as data / indices / indptr arrays, EASE as a dense array."""
        return {
            "format": ARTIFACT_FORMAT,
            "candidate": self.candidate,
            "item_ids": [str(i) for i in self.item_ids],
            "item_category": np.asarray(self.item_category, dtype=np.int32),
            "categories": [str(c) for c in self.categories],
            "recommendable": np.asarray(self.recommendable, dtype=bool),
            "popularity": np.asarray(self.popularity, dtype=np.float64),
            "repeat_categories": np.asarray(self.repeat_categories, dtype=bool),
            "tie_break": np.asarray(self.tie_break, dtype=np.float64),
            "similarity": _csr(self.similarity),
            "dense_items": None if self.dense_items is None else np.asarray(self.dense_items, dtype=np.int64),
            "dense_weights": None if self.dense_weights is None else np.asarray(self.dense_weights, dtype=np.float32),
            "signal": self.signal,
            "category_fallback": bool(self.category_fallback),
            "parameters": {str(k): v for k, v in self.parameters.items()},
            "seed": int(self.seed),
        }

    @classmethod
    def from_artifact(cls, artifact: dict[str, Any]) -> RecommenderModel:
        if artifact.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"not a recommender artifact of format {ARTIFACT_FORMAT}: {artifact.get('format')!r}")
        return cls(
            candidate=artifact["candidate"],
            item_ids=np.array(artifact["item_ids"], dtype=object),
            item_category=np.asarray(artifact["item_category"], dtype=np.int32),
            categories=np.array(artifact["categories"], dtype=object),
            recommendable=np.asarray(artifact["recommendable"], dtype=bool),
            popularity=np.asarray(artifact["popularity"], dtype=np.float64),
            repeat_categories=np.asarray(artifact["repeat_categories"], dtype=bool),
            tie_break=np.asarray(artifact["tie_break"], dtype=np.float64),
            similarity=_from_csr(artifact["similarity"]),
            dense_items=None
            if artifact["dense_items"] is None
            else np.asarray(artifact["dense_items"], dtype=np.int64),
            dense_weights=None if artifact["dense_weights"] is None else np.asarray(artifact["dense_weights"]),
            signal=artifact["signal"],
            category_fallback=bool(artifact["category_fallback"]),
            parameters=dict(artifact["parameters"]),
            seed=int(artifact["seed"]),
        )


def transform_signal(weights: sparse.csr_matrix, signal: str) -> sparse.csr_matrix:
    """The model input from the weight matrix (same sparsity): binary, weight or log1p."""
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {SIGNALS}, got {signal!r}")
    out = sparse.csr_matrix(weights, dtype=np.float32, copy=True)
    if signal == "binary":
        out.data[:] = 1.0
    elif signal == "log1p":
        out.data = np.log1p(out.data)
    return out


def repeat_categories(
    matrix: InteractionMatrix,
    categories: np.ndarray,
    item_category: np.ndarray,
    threshold: float = REPEAT_RATE_THRESHOLD,
    min_pairs: int = REPEAT_MIN_PAIRS,
) -> np.ndarray:
    """(C,) bool: categories whose ordered pairs were ordered again at least `threshold` of the time."""
    orders = matrix.orders.tocoo()
    cats = item_category[orders.col]
    ordered = np.bincount(cats, minlength=len(categories))
    again = np.bincount(cats, weights=(orders.data >= 2).astype(np.float64), minlength=len(categories))
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(ordered > 0, again / np.maximum(ordered, 1), 0.0)
    return (ordered >= min_pairs) & (rate >= threshold)


def _base(candidate: str, matrix: InteractionMatrix, seed: int, parameters: dict[str, Any]) -> RecommenderModel:
    categories, item_category = np.unique(matrix.item_category.astype(str), return_inverse=True)
    popularity = np.asarray(matrix.weights.sum(axis=0), dtype=np.float64).ravel()
    rng = np.random.default_rng(seed)
    return RecommenderModel(
        candidate=candidate,
        item_ids=np.asarray(matrix.item_ids, dtype=object),
        item_category=item_category.astype(np.int32),
        categories=categories.astype(object),
        recommendable=np.asarray(matrix.item_in_catalog, dtype=bool),
        popularity=popularity,
        repeat_categories=repeat_categories(matrix, categories, item_category),
        tie_break=rng.random(len(popularity)),
        category_fallback=candidate != MOST_POPULAR,
        parameters=dict(parameters),
        seed=int(seed),
    )


def _top_per_row(block: sparse.csr_matrix, keep: int) -> sparse.csr_matrix:
    """Keep the `keep` largest values of each row of a CSR block (ties: lower column first)."""
    block.sort_indices()
    lengths = np.diff(block.indptr)
    if (lengths <= keep).all():
        return block
    data, indices, indptr = [], [], [0]
    for row in range(block.shape[0]):
        lo, hi = block.indptr[row], block.indptr[row + 1]
        values, cols = block.data[lo:hi], block.indices[lo:hi]
        if hi - lo > keep:
            chosen = np.sort(np.argsort(-values, kind="stable")[:keep])
            values, cols = values[chosen], cols[chosen]
        data.append(values)
        indices.append(cols)
        indptr.append(indptr[-1] + len(values))
    return sparse.csr_matrix((np.concatenate(data), np.concatenate(indices), np.array(indptr)), shape=block.shape)


def item_cosine_neighbours(x: sparse.csr_matrix, neighbours: int) -> sparse.csr_matrix:
    """(I, I) CSR: row i holds the cosine similarities of item i's `neighbours` most similar items
    (itself excluded), computed KNN_BLOCK_CELLS item pairs at a time."""
    n_items = x.shape[1]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0).astype(np.float32)
    xn = sparse.csr_matrix(x @ sparse.diags(inv), dtype=np.float32)
    xt = xn.T.tocsr()
    step = max(1, KNN_BLOCK_CELLS // max(n_items, 1))
    blocks = []
    for start in range(0, n_items, step):
        stop = min(start + step, n_items)
        block = sparse.csr_matrix(xt[start:stop] @ xn)
        block.setdiag(0.0, k=start)  # item start + r is row r: it is not its own neighbour
        block.eliminate_zeros()
        blocks.append(_top_per_row(block, neighbours))
    if not blocks:
        return sparse.csr_matrix((0, 0), dtype=np.float32)
    return sparse.vstack(blocks, format="csr").astype(np.float32)


def ease_weights(x: sparse.csr_matrix, items: np.ndarray, l2: float) -> np.ndarray:
    """EASE's (N, N) float32 weights on the columns `items` of the input x (zero diagonal)."""
    configure_threads()  # the inverse runs on BLAS threads
    sub = x[:, items]
    gram = (sub.T @ sub).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += l2
    precision = np.linalg.inv(gram)
    weights = precision / (-np.diag(precision))
    weights[np.diag_indices_from(weights)] = 0.0
    return weights.astype(np.float32)


def fit_candidate(
    candidate: str, matrix: InteractionMatrix, seed: int = 0, parameters: dict[str, Any] | None = None
) -> RecommenderModel:
    """Fit one of CANDIDATES on the training matrix (parameters default to DEFAULT_PARAMETERS).

    An empty matrix gives a model without items: it recommends nothing (see scoring)."""
    if candidate not in CANDIDATES:
        raise ValueError(f"unknown candidate {candidate!r}; one of {CANDIDATES}")
    params = {**DEFAULT_PARAMETERS[candidate], **(parameters or {})}
    model = _base(candidate, matrix, seed, params)
    n_items = matrix.shape[1]
    if candidate in (MOST_POPULAR, CATEGORY_POPULARITY) or n_items == 0:
        return model
    model.signal = params["signal"]
    x = transform_signal(matrix.weights, model.signal)
    if candidate == ITEM_KNN:
        model.similarity = item_cosine_neighbours(x, int(params["neighbours"]))
    else:
        n = min(int(params["max_items"]), n_items)
        # the most popular items, ties by the seeded tie-break; kept in item order
        order = np.lexsort((model.tie_break, -model.popularity))
        model.dense_items = np.sort(order[:n]).astype(np.int64)
        model.dense_weights = ease_weights(x, model.dense_items, float(params["l2"]))
    return model


def _csr(matrix: sparse.csr_matrix | None) -> dict[str, Any] | None:
    if matrix is None:
        return None
    m = sparse.csr_matrix(matrix)
    return {
        "data": np.asarray(m.data, dtype=np.float32),
        "indices": np.asarray(m.indices, dtype=np.int32),
        "indptr": np.asarray(m.indptr, dtype=np.int64),
        "shape": [int(m.shape[0]), int(m.shape[1])],
    }


def _from_csr(value: dict[str, Any] | None) -> sparse.csr_matrix | None:
    if value is None:
        return None
    return sparse.csr_matrix(
        (np.asarray(value["data"]), np.asarray(value["indices"]), np.asarray(value["indptr"])),
        shape=tuple(int(v) for v in value["shape"]),
    )
