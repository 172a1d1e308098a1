"""Top-k recommendations of a fitted RecommenderModel, computed in blocks of users (no Dagster).

For each block of users (at most MAX_BLOCK_USERS, and at most BLOCK_CELLS cells in any dense
array of the block, so memory is bounded by the block, never by users x items; nothing is
ever dense over all items):

1. the users' history rows (from the `history` InteractionMatrix, usually the interactions
   as of the scoring day) are mapped onto the model's items; products the model has never
   seen are ignored for scoring (they still count for the category preference);
2. model scores: (transformed history) x (item-item weights): a sparse product for item-kNN
   (top-k per row by a sort of its non-zeros), dense block x max_items for EASE (argpartition).
   An item has a model score when that product is non-zero;
3. allowed items: in the catalog, and not already ordered by the user unless its category is
   a repeat category (candidates.repeat_categories);
4. the ranked list: allowed items with a model score first (by score), then the fallback fills
   the list: P(category | user) x P(item | category) over each category's FALLBACK_PER_CATEGORY
   most popular items ("popular_in_category"), then overall popularity ("popular") over the
   k + (most items any user of the block may not get) most popular items, so that the list is
   always filled. A user with no history (cold start) gets the overall popularity list;
   most_popular uses only that list. Equal scores are ordered by the model's seeded
   tie-break, so a seed gives one answer.

A list is shorter than k only when fewer than k items are allowed (tiny catalog).
Reasons: REASON_MODEL (the candidate's own score), REASON_CATEGORY, REASON_POPULAR.

Who gets lists (customers_to_score): every customer with a view, cart or purchase before the
cut-off (recency_days=None: lapsed customers are who win-back mail is for), or only those active
in the last recency_days days. Unknown customers get the fallback lists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from scipy import sparse

from shop_pipeline.features.columns import cutoff_for
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.html_report import markdown_table
from shop_pipeline.ml.common.lifecycle import SERVING_PARAMETER
from shop_pipeline.ml.common.spec import ModelSettings, Shown
from shop_pipeline.ml.common.threads import configure as configure_threads
from shop_pipeline.ml.recommendation.candidates import (
    FALLBACK_CANDIDATE,
    UNMEASURED_PARAMETER,
    RecommenderModel,
    transform_signal,
)
from shop_pipeline.ml.recommendation.data import InteractionMatrix, customers_seen, load_interactions
from shop_pipeline.sql import ddl

TOP_K = 20
RECENCY_DAYS: int | None = None  # who gets lists: None = every customer with an interaction before the cut-off

BLOCK_CELLS = 4_000_000  # cells of a block's dense arrays (float64: 32 MB each)
MAX_BLOCK_USERS = 2_000
FALLBACK_PER_CATEGORY = 50
CATEGORY_PRIOR = 20.0  # pseudo-weight of the shop's category mix in a user's preference
POPULAR_WEIGHT = 1e-3  # overall popularity ranks below any category-preference score
REASON_MODEL, REASON_CATEGORY, REASON_POPULAR = 0, 1, 2
REASONS = ("similar_items", "popular_in_category", "popular")
OUTPUT_COLUMNS = ddl.column_names("scoring.recommendations")


@dataclass
class TopK:
    """Top-k lists of `users` (row indices of the history matrix), in the model's item index."""

    users: np.ndarray  # (U,)
    items: np.ndarray  # (U, k) int64, -1 pads
    scores: np.ndarray  # (U, k) float64 (NaN on padding)
    reasons: np.ndarray  # (U, k) int8 (-1 on padding)


def _column_map(history: InteractionMatrix, model: RecommenderModel) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """(I_hist, I_model) 0/1 item mapping and (I_hist, C_model) category one-hot of history items."""
    pos = pd.Index(model.item_ids).get_indexer(history.item_ids)
    known = np.flatnonzero(pos >= 0)
    n_hist = len(history.item_ids)
    items = sparse.csr_matrix(
        (np.ones(len(known), np.float32), (known, pos[known])), shape=(n_hist, len(model.item_ids))
    )
    cat = pd.Index(model.categories).get_indexer(history.item_category.astype(str))
    has = np.flatnonzero(cat >= 0)
    cats = sparse.csr_matrix((np.ones(len(has), np.float32), (has, cat[has])), shape=(n_hist, len(model.categories)))
    return items, cats


@dataclass
class _Fallback:
    """What the fallback needs, computed once per scoring run."""

    popular: np.ndarray  # allowed items by overall popularity, best first
    share: np.ndarray  # (I,) overall popularity share (0 when not recommendable)
    by_category: sparse.csr_matrix  # (C, I) P(item | category) over each category's top items
    category_items: np.ndarray  # the items of by_category, sorted
    category_share: np.ndarray  # (C,) the shop's category mix
    prior: float


def _fallback(model: RecommenderModel) -> _Fallback:
    pop = np.where(model.recommendable, model.popularity, 0.0)
    share = pop / pop.sum() if pop.sum() > 0 else pop
    positive = np.flatnonzero(pop > 0)
    popular = positive[np.lexsort((-model.tie_break[positive], -pop[positive]))]
    rows, cols, vals = [], [], []
    if model.category_fallback:
        for c in range(len(model.categories)):
            members = positive[model.item_category[positive] == c]
            if len(members) == 0:
                continue
            top = members[np.lexsort((-model.tie_break[members], -pop[members]))[:FALLBACK_PER_CATEGORY]]
            rows.append(np.full(len(top), c))
            cols.append(top)
            vals.append(pop[top] / pop[members].sum())
    n_cat, n_items = len(model.categories), len(model.item_ids)
    if rows:
        by_category = sparse.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_cat, n_items)
        )
    else:
        by_category = sparse.csr_matrix((n_cat, n_items), dtype=np.float64)
    category_share = np.bincount(model.item_category, weights=pop, minlength=n_cat)
    category_share = category_share / category_share.sum() if category_share.sum() > 0 else category_share
    return _Fallback(
        popular,
        share,
        by_category,
        np.unique(by_category.indices),
        category_share,
        float(model.parameters.get("category_prior", CATEGORY_PRIOR)),
    )


def _ranked(
    rows: np.ndarray, items: np.ndarray, values: np.ndarray, tie_break: np.ndarray, b: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(b, k) items and values: per row the k largest of its (item, value) entries, equal values
    ordered by tie_break (-1 / NaN pad)."""
    order = np.lexsort((-tie_break[items], -values, rows))
    rows, items, values = rows[order], items[order], values[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, np.arange(b))[rows]
    keep = rank < k
    top_items = np.full((b, k), -1, dtype=np.int64)
    top_values = np.full((b, k), np.nan)
    top_items[rows[keep], rank[keep]] = items[keep]
    top_values[rows[keep], rank[keep]] = values[keep]
    return top_items, top_values


def _sparse_top(scores: sparse.csr_matrix, tie_break: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, k) items and scores of the k largest stored values per row (-1 / NaN pad), ties by tie_break.

    Only the entries at or above their row's k-th largest value are sorted (every entry equal
    to it stays a candidate, so the tie-break decides as if all were sorted): item-kNN rows hold
    thousands of scores, and sorting them all was most of its scoring time."""
    scores = sparse.csr_matrix(scores)
    b = scores.shape[0]
    lengths = np.diff(scores.indptr)
    threshold = np.full(b, -np.inf)
    for row in np.flatnonzero(lengths > k):
        lo, hi = scores.indptr[row], scores.indptr[row + 1]
        threshold[row] = np.partition(scores.data[lo:hi], hi - lo - k)[hi - lo - k]
    rows = np.repeat(np.arange(b), lengths)
    keep = scores.data >= threshold[rows]
    return _ranked(rows[keep], scores.indices[keep], scores.data[keep], tie_break, b, k)


def _dense_top(key: np.ndarray, columns: np.ndarray, tie_break: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, k) items (columns[j]) and keys of the k largest finite keys per row of a dense block,
    equal keys ordered by tie_break, also at the k-th place: a row whose next key equals its k-th
    takes every key equal to it as a candidate (argpartition alone picks among them arbitrarily)."""
    b, n = key.shape
    width = min(k, n)
    if width == 0:
        return np.full((b, k), -1, dtype=np.int64), np.full((b, k), np.nan)
    if width < n:
        part = np.argpartition(-key, width, axis=1)[:, : width + 1]  # the top width, then the next one
        after = np.take_along_axis(key, part[:, width:], axis=1)[:, 0]
        part = part[:, :width]
    else:
        part, after = np.tile(np.arange(n), (b, 1)), np.full(b, -np.inf)
    values = np.take_along_axis(key, part, axis=1)
    order = np.lexsort((-tie_break[columns[part]], -values), axis=1)
    part = np.take_along_axis(part, order, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    items = np.where(np.isfinite(values), columns[part], -1)
    values = np.where(np.isfinite(values), values, np.nan)
    if width < k:
        items = np.hstack([items, np.full((b, k - width), -1, dtype=np.int64)])
        values = np.hstack([values, np.full((b, k - width), np.nan)])
    kth = values[:, width - 1]
    tied = np.flatnonzero(np.isfinite(kth) & (after == kth))
    if len(tied):
        rows, cols = np.nonzero(key[tied] >= kth[tied, None])
        items[tied], values[tied] = _ranked(rows, columns[cols], key[tied][rows, cols], tie_break, len(tied), k)
    return items, values


def _blocked(model: RecommenderModel, hist_bought: sparse.csr_matrix) -> sparse.csr_matrix:
    """(b, I) 1 where the user may not get the item: bought outside a repeat category."""
    coo = hist_bought.tocoo()
    keep = ~model.repeat_categories[model.item_category[coo.col]]
    return sparse.csr_matrix(
        (np.ones(int(keep.sum()), np.float32), (coo.row[keep], coo.col[keep])), shape=hist_bought.shape
    )


def _model_top(
    model: RecommenderModel, x: sparse.csr_matrix, blocked: sparse.csr_matrix, k: int
) -> tuple[np.ndarray, np.ndarray]:
    b = x.shape[0]
    if model.similarity is not None:
        scores = sparse.csr_matrix(x @ model.similarity)
        scores = scores - scores.multiply(blocked)  # drop what the user may not get
        scores = sparse.csr_matrix(scores @ sparse.diags(model.recommendable.astype(np.float32)))
        scores.data[scores.data <= 0] = 0.0  # cosine scores are > 0 where defined
        scores.eliminate_zeros()
        return _sparse_top(scores, model.tie_break, k)
    if model.dense_weights is not None and len(model.dense_items):
        columns = model.dense_items
        sub = x[:, columns]
        key = np.asarray(sub @ model.dense_weights, dtype=np.float64)
        ok = (np.diff(sub.indptr) > 0)[:, None] & model.recommendable[columns][None, :]
        key[~ok] = -np.inf
        bl = blocked[:, columns].tocoo()
        key[bl.row, bl.col] = -np.inf
        return _dense_top(key, columns, model.tie_break, k)
    return np.full((b, k), -1, dtype=np.int64), np.full((b, k), np.nan)


def _fallback_top(
    model: RecommenderModel,
    fb: _Fallback,
    hist_cat: sparse.csr_matrix,
    blocked: sparse.csr_matrix,
    taken: np.ndarray,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(b, k) fallback items, scores and reasons, over the category items and the popular head."""
    b = hist_cat.shape[0]
    # a row's candidates: the category items and the first k + (what the row may not get) popular items,
    # enough to fill its list. The columns are the block's union; the mask below keeps each row to its own
    # head, so a list depends only on the customer and the model, never on who else is in the block (a
    # cluster scores other blocks than the driver: ml/recommendation/spark_score.py)
    row_head = k + np.diff(blocked.indptr) + (taken >= 0).sum(axis=1)
    head = int(row_head.max(initial=k))
    columns = np.union1d(fb.category_items, fb.popular[:head]).astype(np.int64)
    if len(columns) == 0:
        return (np.full((b, k), -1, dtype=np.int64), np.full((b, k), np.nan), np.full((b, k), -1, dtype=np.int8))
    if model.category_fallback and fb.by_category.nnz:
        affinity = hist_cat.toarray().astype(np.float64)
        total = affinity.sum(axis=1, keepdims=True)
        # shrunk towards the shop's category mix by `prior` pseudo-weight: a user seen in few
        # sessions is not assumed to never want the other categories; no history: no score
        affinity = np.where(total > 0, (affinity + fb.prior * fb.category_share[None, :]) / (total + fb.prior), 0.0)
        by_category = np.asarray(fb.by_category[:, columns].T @ affinity.T).T
    else:
        by_category = np.zeros((b, len(columns)))
    score = by_category + POPULAR_WEIGHT * fb.share[columns][None, :]
    key = np.where(score > 0, score, -np.inf)
    popular_rank = np.full(len(model.item_ids), len(model.item_ids), dtype=np.int64)
    popular_rank[fb.popular] = np.arange(len(fb.popular))
    beyond = ~np.isin(columns, fb.category_items)[None, :] & (popular_rank[columns][None, :] >= row_head[:, None])
    key[beyond] = -np.inf
    position = np.full(len(model.item_ids), -1, dtype=np.int64)
    position[columns] = np.arange(len(columns))
    bl = blocked.tocoo()
    inside = position[bl.col] >= 0
    key[bl.row[inside], position[bl.col[inside]]] = -np.inf
    rows = np.repeat(np.arange(b), taken.shape[1]).reshape(taken.shape)
    has = taken >= 0
    inside = has & (position[np.maximum(taken, 0)] >= 0)
    key[rows[inside], position[taken[inside]]] = -np.inf
    items, values = _dense_top(key, columns, model.tie_break, k)
    category_part = np.zeros(items.shape)
    ok = items >= 0
    category_part[ok] = by_category[np.nonzero(ok)[0], position[items[ok]]]
    reasons = np.where(ok, np.where(category_part > 0, REASON_CATEGORY, REASON_POPULAR), -1).astype(np.int8)
    return items, values, reasons


def _score_block(
    model: RecommenderModel,
    fb: _Fallback,
    hist_w: sparse.csr_matrix,
    hist_bought: sparse.csr_matrix,
    hist_cat: sparse.csr_matrix,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    blocked = _blocked(model, hist_bought)
    if model.personalised:
        m_items, m_scores = _model_top(model, transform_signal(hist_w, model.signal), blocked, k)
    else:
        m_items, m_scores = np.full((hist_w.shape[0], k), -1, dtype=np.int64), np.full((hist_w.shape[0], k), np.nan)
    b = hist_w.shape[0]
    f_items, f_scores = np.full((b, k), -1, dtype=np.int64), np.full((b, k), np.nan)
    f_reasons = np.full((b, k), -1, dtype=np.int8)
    # only lists the model left short need the fallback (a row's fallback depends on that row alone)
    short = np.flatnonzero((m_items >= 0).sum(axis=1) < k)
    if len(short):
        f_items[short], f_scores[short], f_reasons[short] = _fallback_top(
            model, fb, hist_cat[short], blocked[short], m_items[short], k
        )
    items = np.concatenate([m_items, f_items], axis=1)
    values = np.concatenate([m_scores, f_scores], axis=1)
    reasons = np.concatenate([np.where(m_items >= 0, REASON_MODEL, -1).astype(np.int8), f_reasons], axis=1)
    first = np.argsort(items < 0, axis=1, kind="stable")[:, :k]  # valid entries first, order kept
    items = np.take_along_axis(items, first, axis=1)
    return (
        items,
        np.where(items >= 0, np.take_along_axis(values, first, axis=1), np.nan),
        np.where(items >= 0, np.take_along_axis(reasons, first, axis=1), -1).astype(np.int8),
    )


def block_size(model: RecommenderModel) -> int:
    """Users per block: MAX_BLOCK_USERS, fewer when a dense block row is wide."""
    width = max(
        len(model.dense_items) if model.dense_items is not None else 0, len(model.categories) * FALLBACK_PER_CATEGORY, 1
    )
    return int(max(1, min(MAX_BLOCK_USERS, BLOCK_CELLS // width)))


def iter_top_k(
    model: RecommenderModel, history: InteractionMatrix, users: np.ndarray, k: int = 20, block_users: int | None = None
) -> Iterator[TopK]:
    """Top-k lists of `users` (row indices into `history`), one TopK per block of users."""
    users = np.asarray(users, dtype=np.int64)
    n_items = len(model.item_ids)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    if n_items == 0 or len(users) == 0:
        yield TopK(
            users,
            np.full((len(users), k), -1, np.int64),
            np.full((len(users), k), np.nan),
            np.full((len(users), k), -1, np.int8),
        )
        return
    configure_threads()  # dense blocks multiply on BLAS threads
    item_map, cat_map = _column_map(history, model)
    fb = _fallback(model)
    weights = history.weights
    bought = history.bought().astype(np.float32)
    step = block_users or block_size(model)
    for start in range(0, len(users), step):
        rows = users[start : start + step]
        hist_w = sparse.csr_matrix(weights[rows] @ item_map)
        hist_bought = sparse.csr_matrix(bought[rows] @ item_map)
        hist_cat = sparse.csr_matrix(weights[rows] @ cat_map)
        items, scores, reasons = _score_block(model, fb, hist_w, hist_bought, hist_cat, k)
        yield TopK(rows, items, scores, reasons)


def top_k(
    model: RecommenderModel, history: InteractionMatrix, users: np.ndarray, k: int = 20, block_users: int | None = None
) -> TopK:
    """All blocks of iter_top_k concatenated."""
    parts = list(iter_top_k(model, history, users, k, block_users))
    return TopK(
        np.concatenate([p.users for p in parts]),
        np.vstack([p.items for p in parts]),
        np.vstack([p.scores for p in parts]),
        np.vstack([p.reasons for p in parts]),
    )


def to_frame(
    model: RecommenderModel, history: InteractionMatrix, top: TopK, model_version: str, as_of: dt.date
) -> pd.DataFrame:
    """The scoring.recommendations rows of `top` (OUTPUT_COLUMNS); padding rows dropped."""
    ok = top.items >= 0
    user_rows = np.repeat(top.users, top.items.shape[1]).reshape(top.items.shape)[ok]
    ranks = np.tile(np.arange(1, top.items.shape[1] + 1), (len(top.users), 1))[ok]
    reason_names = np.array(REASONS, dtype=object)
    return pd.DataFrame(
        {
            "customer_id": history.user_ids[user_rows],
            "rank": ranks.astype(np.int32),
            "product_id": model.item_ids[top.items[ok]],
            "score": top.scores[ok].astype(np.float64),
            "reason": reason_names[top.reasons[ok]],
            "model_version": model_version,
            "as_of": as_of,
        },
        columns=list(OUTPUT_COLUMNS),
    )


def customers_to_score(
    history: InteractionMatrix,
    as_of: dt.date,
    recency_days: int | None = RECENCY_DAYS,
) -> np.ndarray:
    """Row indices of the customers who get lists: any interaction before the cut-off of as_of,
    the last one within `recency_days` days of it when set (None: however long ago).

    Raises ValueError when `history` was built as of a later day than as_of (its rows would
    hold interactions after the cut-off)."""
    if history.shape[0] == 0:
        return np.array([], dtype=np.int64)
    if history.as_of is not None and history.as_of > as_of:
        raise ValueError(
            f"the interactions are as of {history.as_of}, after the scoring cut-off {as_of}: "
            "rebuild features.interactions for this as_of"
        )
    return customers_seen(history, cutoff_for(as_of), recency_days)


def recommendations_frame(
    model: RecommenderModel,
    history: InteractionMatrix,
    as_of: dt.date,
    model_version: str,
    k: int = TOP_K,
    recency_days: int | None = RECENCY_DAYS,
    users: np.ndarray | None = None,
) -> pd.DataFrame:
    """scoring.recommendations rows (OUTPUT_COLUMNS): top-k for every customer of
    customers_to_score (or `users`), rank 1 = best, computed in blocks (iter_top_k).
    Deterministic for the model's seed."""
    rows = customers_to_score(history, as_of, recency_days) if users is None else np.asarray(users, dtype=np.int64)
    parts = [to_frame(model, history, part, model_version, as_of) for part in iter_top_k(model, history, rows, k)]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=t)
                for c, t in zip(OUTPUT_COLUMNS, ("object", "int32", "object", "float64", "object", "object", "object"))
            }
        )
    return pd.concat(parts, ignore_index=True)


def score_table(
    con: duckdb.DuckDBPyConnection,
    model: RecommenderModel,
    row: registry.RegistryRow,
    as_of: dt.date,
    settings: ModelSettings,
) -> pd.DataFrame:
    """The rows of scoring.recommendations: the top TOP_K of every customer seen before the cut-off (within
    the run's recommendation_recency_days when set)."""
    return recommendations_frame(
        model, load_interactions(con), as_of, row.version, recency_days=settings.recommendation_recency_days
    )


def _recency_label(recency_days: int | None) -> str:
    if recency_days is None:
        return "every customer with an interaction before the cut-off"
    return f"customers with an interaction in the {recency_days} days before the cut-off"


def describe_scores(frame: pd.DataFrame, row: registry.RegistryRow, validated: bool, settings: ModelSettings) -> Shown:
    reasons = frame.groupby("reason").size().rename("rows").reset_index()
    unmeasured = row.parameters.get(UNMEASURED_PARAMETER) or "nothing could be measured"
    return Shown(
        values={
            "validated": validated,
            "validation": "champion passed the gate"
            if validated
            else f"UNVALIDATED: {unmeasured}; serving {row.parameters.get(SERVING_PARAMETER, FALLBACK_CANDIDATE)} "
            "until a measured model becomes champion",
            "who": _recency_label(settings.recommendation_recency_days),
            "customers": int(frame["customer_id"].nunique()),
            "distinct_products": int(frame["product_id"].nunique()),
        },
        markdown={"reasons": markdown_table(reasons)},
    )
