"""Interaction matrices and the temporal evaluation split of the recommenders (no Dagster).

`InteractionMatrix` is features.interactions as sparse matrices: users x items weights
(float32 CSR) and distinct orders, with the ids, categories and catalog flags of the items.
It is loaded through DuckDB as integer coordinates (sql/recommend_*.sql over a temp table
`recommend_source`), so no frame of string pairs is ever built in pandas.

Temporal split (`temporal_split`): with split_day = as_of - test_days,
    train  = interactions as of split_day (events before cutoff_for(split_day)),
    test   = what each customer did in [cutoff_for(split_day), cutoff_for(as_of)).
The test target is one event type for the whole window: purchases when the window holds any
purchase, else carts, else views (`target_event`; None when the window is empty). A test pair
is relevant when the customer had at least one target event with the product.

Who is evaluated: customers with a target event in the window AND at least one training
interaction ("known"). Customers first seen after the split are counted (`unknown_users`)
but not evaluated: every candidate would serve them the same popularity fallback. Products
first seen after the split stay in each customer's relevant set (`n_relevant`): no model can
recommend them, and leaving them out would overstate recall; `unknown_item_pairs` counts them.
An empty window gives an empty split (no evaluated user): metrics are then NaN, never an error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from scipy import sparse

from shop_pipeline import sql
from shop_pipeline.features.interactions import (
    DEFAULT_WEIGHTS,
    INTERACTIONS_TABLE,
    InteractionWeights,
    interactions_params,
    window_frame,
)
from shop_pipeline.features.tables import check_as_of, landed_range
from shop_pipeline.ml.common.errors import NotEnoughData

NO_CATEGORY = ""  # category code of products without one
TARGET_EVENTS = ("purchase", "cart", "view")  # first one present in the test window is the target


@dataclass
class InteractionMatrix:
    """Users x items interactions (rows: user_ids order, columns: item_ids order)."""

    user_ids: np.ndarray  # (U,) str, sorted
    item_ids: np.ndarray  # (I,) str, sorted
    item_category: np.ndarray  # (I,) str, NO_CATEGORY when unknown
    item_in_catalog: np.ndarray  # (I,) bool
    weights: sparse.csr_matrix  # (U, I) float32, > 0 on each pair
    orders: sparse.csr_matrix  # (U, I) int32, distinct orders (explicit zeros dropped)
    user_last_interaction: np.ndarray  # (U,) datetime64[us]
    as_of: dt.date | None

    @property
    def shape(self) -> tuple[int, int]:
        return self.weights.shape

    def bought(self) -> sparse.csr_matrix:
        """(U, I) bool: the customer ordered the product at least once."""
        return (self.orders > 0).tocsr()


def _empty_matrix(as_of: dt.date | None) -> InteractionMatrix:
    empty = sparse.csr_matrix((0, 0), dtype=np.float32)
    return InteractionMatrix(
        np.array([], dtype=object),
        np.array([], dtype=object),
        np.array([], dtype=object),
        np.array([], dtype=bool),
        empty,
        sparse.csr_matrix((0, 0), dtype=np.int32),
        np.array([], dtype="datetime64[us]"),
        as_of,
    )


def _from_source(con: duckdb.DuckDBPyConnection, as_of: dt.date | None) -> InteractionMatrix:
    users = con.execute(sql.load("recommend_users")).fetchnumpy()
    items = con.execute(sql.load("recommend_items")).fetchnumpy()
    pairs = con.execute(sql.load("recommend_pairs")).fetchnumpy()
    if len(users["customer_id"]) == 0:
        return _empty_matrix(as_of)
    shape = (len(users["customer_id"]), len(items["product_id"]))
    rows = np.asarray(pairs["user_index"], dtype=np.int32)
    cols = np.asarray(pairs["item_index"], dtype=np.int32)
    weights = sparse.csr_matrix((np.asarray(pairs["weight"], dtype=np.float32), (rows, cols)), shape=shape)
    orders = sparse.csr_matrix((np.asarray(pairs["orders"], dtype=np.int32), (rows, cols)), shape=shape)
    orders.eliminate_zeros()
    category = np.asarray(items["category"], dtype=object)
    category = np.where(pd.isna(category), NO_CATEGORY, category).astype(object)
    return InteractionMatrix(
        user_ids=np.asarray(users["customer_id"], dtype=object),
        item_ids=np.asarray(items["product_id"], dtype=object),
        item_category=category,
        item_in_catalog=np.asarray(items["in_catalog"], dtype=bool),
        weights=weights,
        orders=orders,
        user_last_interaction=np.asarray(users["last_interaction"]).astype("datetime64[us]"),
        as_of=as_of,
    )


def load_interactions(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date | None = None,
    weights: InteractionWeights = DEFAULT_WEIGHTS,
) -> InteractionMatrix:
    """The interaction matrix as of `as_of`, computed from staging.events (sql/interactions.sql);
    as_of=None reads the built features.interactions table instead (its as_of is kept).

    Raises ValueError when as_of is before any landed data (features/tables.py convention).
    """
    if as_of is None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE recommend_source AS SELECT * FROM {INTERACTIONS_TABLE}")
        found = con.execute("SELECT max(as_of) FROM recommend_source").fetchall()[0][0]
    else:
        check_as_of(con, as_of)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE recommend_source AS {sql.load('interactions')}",
            interactions_params(as_of, weights),
        )
        found = as_of
    try:
        return _from_source(con, found)
    finally:
        con.execute("DROP TABLE IF EXISTS recommend_source")


def matrix_from_frame(frame: pd.DataFrame, as_of: dt.date | None = None) -> InteractionMatrix:
    """An InteractionMatrix from a frame with the features.interactions columns (small data, tests).

    Needs customer_id, product_id, weight; orders, category, in_catalog and last_interaction
    default to 0, NO_CATEGORY, True and noon of as_of (the last day before the cut-off).
    """
    if frame.empty:
        return _empty_matrix(as_of)
    f = frame.copy()
    if "orders" not in f:
        f["orders"] = 0
    if "category" not in f:
        f["category"] = NO_CATEGORY
    if "in_catalog" not in f:
        f["in_catalog"] = True
    if "last_interaction" not in f:
        f["last_interaction"] = pd.Timestamp(as_of or dt.date(1970, 1, 1)) + pd.Timedelta(hours=12)
    if not (f["weight"] > 0).all():
        raise ValueError("interaction weights must be > 0")
    user_ids, rows = np.unique(f["customer_id"].astype(str).to_numpy(), return_inverse=True)
    item_ids, cols = np.unique(f["product_id"].astype(str).to_numpy(), return_inverse=True)
    shape = (len(user_ids), len(item_ids))
    weights = sparse.csr_matrix((f["weight"].to_numpy(np.float32), (rows, cols)), shape=shape)
    orders = sparse.csr_matrix((f["orders"].to_numpy(np.int32), (rows, cols)), shape=shape)
    orders.eliminate_zeros()
    items = (
        pd.DataFrame(
            {
                "i": cols,
                "category": f["category"].fillna(NO_CATEGORY).astype(str),
                "in_catalog": f["in_catalog"].astype(bool),
            }
        )
        .groupby("i")
        .agg(category=("category", "min"), in_catalog=("in_catalog", "all"))
    )
    last = pd.Series(pd.to_datetime(f["last_interaction"]).to_numpy()).groupby(rows).max()
    return InteractionMatrix(
        user_ids=user_ids.astype(object),
        item_ids=item_ids.astype(object),
        item_category=items["category"].to_numpy(dtype=object),
        item_in_catalog=items["in_catalog"].to_numpy(bool),
        weights=weights,
        orders=orders,
        user_last_interaction=last.to_numpy().astype("datetime64[us]"),
        as_of=as_of,
    )


def customers_seen(matrix: InteractionMatrix, cutoff: dt.datetime, recency_days: int | None = None) -> np.ndarray:
    """Row indices of the customers with an interaction before `cutoff`, and when `recency_days`
    is set, with their last one in the `recency_days` days before it (None: every customer,
    however long ago they were last seen)."""
    if recency_days is not None and (
        isinstance(recency_days, bool) or int(recency_days) != recency_days or recency_days < 1
    ):
        raise ValueError(f"recency_days must be a whole number of days >= 1 or None (all), got {recency_days!r}")
    before = matrix.user_last_interaction < np.datetime64(cutoff, "us")
    if recency_days is not None:
        before &= matrix.user_last_interaction >= np.datetime64(cutoff - dt.timedelta(days=int(recency_days)), "us")
    return np.flatnonzero(before)


@dataclass
class TemporalSplit:
    as_of: dt.date
    split_day: dt.date
    test_days: int
    train: InteractionMatrix
    target_event: str | None  # "purchase" | "cart" | "view" | None (empty window)
    test_users: np.ndarray  # (T,) row indices into train of the evaluated customers
    relevant: sparse.csr_matrix  # (T, I) bool: target products known at training time
    n_relevant: np.ndarray  # (T,) all target products, new products included
    unknown_users: int  # customers with a target event but no training interaction
    unknown_item_pairs: int  # evaluated (customer, product) targets whose product is new


def choose_target_event(window: pd.DataFrame) -> str | None:
    """The first of TARGET_EVENTS that the window holds; None for an empty window."""
    counts = {"purchase": "purchases", "cart": "carts", "view": "views"}
    for event in TARGET_EVENTS:
        if len(window) and int(window[counts[event]].sum()) > 0:
            return event
    return None


def split_targets(
    train: InteractionMatrix, window: pd.DataFrame
) -> tuple[str | None, np.ndarray, sparse.csr_matrix, np.ndarray, int, int]:
    """(target_event, test_users, relevant, n_relevant, unknown_users, unknown_item_pairs)
    of a held-out window frame (WINDOW_COLUMNS) against the training matrix."""
    target = choose_target_event(window)
    n_items = train.shape[1]
    if target is None:
        return (
            None,
            np.array([], dtype=np.int64),
            sparse.csr_matrix((0, n_items), dtype=bool),
            np.array([], dtype=np.int64),
            0,
            0,
        )
    column = {"purchase": "purchases", "cart": "carts", "view": "views"}[target]
    pairs = window.loc[window[column] > 0, ["customer_id", "product_id"]]
    user_pos = pd.Index(train.user_ids).get_indexer(pairs["customer_id"])
    item_pos = pd.Index(train.item_ids).get_indexer(pairs["product_id"])
    known_user = user_pos >= 0
    unknown_users = int(pairs.loc[~known_user, "customer_id"].nunique())
    user_pos, item_pos = user_pos[known_user], item_pos[known_user]
    test_users, row = np.unique(user_pos, return_inverse=True)
    n_relevant = np.bincount(row, minlength=len(test_users)).astype(np.int64)
    known_item = item_pos >= 0
    relevant = sparse.csr_matrix(
        (np.ones(int(known_item.sum()), dtype=bool), (row[known_item], item_pos[known_item])),
        shape=(len(test_users), n_items),
    )
    return target, test_users, relevant, n_relevant, unknown_users, int((~known_item).sum())


def temporal_split(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    test_days: int = 14,
    weights: InteractionWeights = DEFAULT_WEIGHTS,
) -> TemporalSplit:
    """Train on interactions as of as_of - test_days, test on the window after it (module docstring).

    Raises NotEnoughData (a ValueError) when the split day is before the first landed day (no
    training history).
    """
    if isinstance(test_days, bool) or int(test_days) != test_days or test_days < 1:
        raise ValueError(f"test_days must be a whole number of days >= 1, got {test_days!r}")
    split_day = as_of - dt.timedelta(days=int(test_days))
    first, _ = landed_range(con)
    if first is None or split_day < first:
        raise NotEnoughData(
            f"recommendations: the {test_days}-day held-out window {split_day + dt.timedelta(days=1)}..{as_of} "
            f"leaves no history before it to train on (first landed day: {first})"
        )
    train = load_interactions(con, split_day, weights)
    window = window_frame(con, split_day, as_of)
    target, users, relevant, n_relevant, unknown_users, unknown_items = split_targets(train, window)
    return TemporalSplit(
        as_of, split_day, int(test_days), train, target, users, relevant, n_relevant, unknown_users, unknown_items
    )
