"""features.interactions: the weighted implicit signal of each (customer, product) pair (no Dagster).

Cut-off convention of features/tables.py: as of `as_of`, only events with
event_time < cutoff_for(as_of) that had landed by as_of (partition_date <= as_of) are read.
The SQL is shop_pipeline/sql/interactions.sql; the held-out side of a temporal split is
shop_pipeline/sql/interactions_window.sql.

Signal: each view, cart and purchase is worth its type weight (`InteractionWeights`,
default 1 / 3 / 5), halved every `half_life_days` (default 30) of age before the cut-off,
summed per pair. remove_from_cart events are not read. Counts per type, distinct orders,
first / last interaction and last purchase are kept next to the weight.

Edge cases:
- purchases-only data (no views or carts): views = carts = 0, the weight comes from purchases.
- a product missing from raw.products while the catalog is not empty: its rows stay (real
  history, useful for similarity) with in_catalog = false, so recommenders never suggest it.
  An empty raw.products (a source without a catalog) makes every product in_catalog.
- category: the catalog's when listed, else the product's latest event category (may be NULL).
- as_of before the first landed day, or nothing landed: ValueError (as features/tables.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import asdict, dataclass

import duckdb
import pandas as pd

from shop_pipeline import sql
from shop_pipeline.features.changes import TableWrite, write_changes
from shop_pipeline.features.columns import cutoff_for
from shop_pipeline.features.tables import check_as_of
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import transaction

INTERACTIONS_TABLE = "features.interactions"
INTERACTIONS = ddl.column_names(INTERACTIONS_TABLE)  # sql/tables/features.interactions.sql
INTERACTIONS_NULLABLE = ddl.nullable_columns(INTERACTIONS_TABLE)
INTERACTIONS_AGING = ("weight", "as_of")  # change on every row when the cut-off moves
WINDOW_COLUMNS = ("customer_id", "product_id", "views", "carts", "purchases")


@dataclass(frozen=True)
class InteractionWeights:
    """What one event is worth before decay, and the decay's half-life in days."""

    view: float = 1.0
    cart: float = 3.0
    purchase: float = 5.0
    half_life_days: float = 30.0

    def __post_init__(self) -> None:
        if min(self.view, self.cart, self.purchase) < 0 or max(self.view, self.cart, self.purchase) <= 0:
            raise ValueError(f"event weights must be >= 0 with one > 0, got {self}")
        if not self.half_life_days > 0:
            raise ValueError(f"half_life_days must be > 0, got {self.half_life_days!r}")

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


DEFAULT_WEIGHTS = InteractionWeights()


def interactions_params(as_of: dt.date, weights: InteractionWeights = DEFAULT_WEIGHTS) -> dict:
    return {
        "as_of": as_of,
        "cutoff": cutoff_for(as_of),
        "half_life_days": float(weights.half_life_days),
        "view_weight": float(weights.view),
        "cart_weight": float(weights.cart),
        "purchase_weight": float(weights.purchase),
    }


def interactions_frame(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, weights: InteractionWeights = DEFAULT_WEIGHTS
) -> pd.DataFrame:
    """features.interactions as of `as_of` as a frame (columns INTERACTIONS), sorted by customer, product.

    For small data and tests; the recommenders read the table through
    ml/recommend_data.load_interactions, which never materialises string pairs in pandas.
    """
    check_as_of(con, as_of)
    return con.execute(sql.load("interactions"), interactions_params(as_of, weights)).df()[list(INTERACTIONS)]


def write_interactions(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    weights: InteractionWeights = DEFAULT_WEIGHTS,
    own_transaction: bool = True,
) -> TableWrite:
    """Make features.interactions the pairs as of `as_of` (changes.write_changes: `weight` and
    `as_of` move with the cut-off on every row, so only pairs with new events count as written).

    own_transaction=False leaves the transaction to the caller (write-audit-publish).
    """
    check_as_of(con, as_of)
    with transaction(con) if own_transaction else contextlib.nullcontext():
        return write_changes(
            con,
            INTERACTIONS_TABLE,
            ddl.replace_script(INTERACTIONS_TABLE),
            sql.load("interactions"),
            interactions_params(as_of, weights),
            ("customer_id", "product_id"),
            INTERACTIONS,
            aging_columns=INTERACTIONS_AGING,
        )


def build_interactions(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    weights: InteractionWeights = DEFAULT_WEIGHTS,
    own_transaction: bool = True,
) -> int:
    """write_interactions, returning the table's row count."""
    return write_interactions(con, as_of, weights, own_transaction).rows


def window_params(split_day: dt.date, as_of: dt.date) -> dict:
    """Parameters of interactions_window.sql: events in [cutoff_for(split_day), cutoff_for(as_of))."""
    if split_day >= as_of:
        raise ValueError(f"the split day {split_day} must be before as_of {as_of}")
    return {"window_start": cutoff_for(split_day), "cutoff": cutoff_for(as_of), "as_of": as_of}


def window_frame(con: duckdb.DuckDBPyConnection, split_day: dt.date, as_of: dt.date) -> pd.DataFrame:
    """(customer, product) pairs with their view / cart / purchase counts after `split_day`
    up to the cut-off of `as_of` (columns WINDOW_COLUMNS); empty when nothing happened."""
    return con.execute(sql.load("interactions_window"), window_params(split_day, as_of)).df()[list(WINDOW_COLUMNS)]
