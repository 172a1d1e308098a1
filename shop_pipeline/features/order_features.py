"""features.order_features: one row per order before the cut-off, measured at the order (no Dagster).

The SQL is shop_pipeline/sql/order_features.sql (window functions over staging.events). The
cut-off convention is the one of features/tables.py: `as_of` is the last day whose events may
be used, the cut-off instant is cutoff_for(as_of) (the next midnight, UTC), and only events
with partition_date <= as_of are read. On top of that every feature of an order uses only
events up to the order's own time, so an order's row never changes when later events land.

Columns (ORDER_FEATURES, from sql/tables/features.order_features.sql; NULL where the DDL allows it,
with the meaning given here):
    order_id, customer_id, order_time, order_day, as_of, session_id
    amount                  sum(price x quantity) of the order's purchase lines
    items / units           purchase lines / sum of quantities
    distinct_products, distinct_categories
    max_item_price, mean_unit_price (amount / units)
    expensive_item_share    share of the amount in lines whose unit price is at least
                            EXPENSIVE_RATIO x the category's reference price (the mean unit price
                            of the category's events on the days before the order's day); 0 when
                            the category has no earlier day or the amount is 0
    max_price_vs_category   max over lines of price / reference price; NULL without a reference
    prev_orders             the customer's earlier orders (0 for a first order)
    is_first_order          prev_orders = 0
    prev_mean_amount        NULL for a first order
    prev_std_amount         NULL with fewer than two earlier orders
    amount_vs_customer_mean amount / prev_mean_amount; NULL for a first order or a mean of 0
    amount_zscore           (amount - prev_mean_amount) / prev_std_amount; NULL with fewer than
                            two earlier orders or when they all had the same amount (std 0)
    days_since_prev_order   NULL for a first order
    orders_last_1h / _24h   the customer's other orders in [order_time - 1 hour / 1 day, order_time]
    amount_last_24h         their amount
    account_age_days        order_time minus the customer's first event (any type); a brand-new
                            account buying in its first session has an age of minutes
    customer_events_before  the customer's events before the order's session began
    categories_before       distinct categories the customer touched before the session began
    new_category_share      share of the order's categories the customer first touched in this
                            session (or never before); NULL when no line has a category
    is_new_category         new_category_share > 0
    session_views / session_carts   views and carts of the order's session up to the order
                            (since the session's previous order, if any); 0 without a session
    cart_to_purchase_seconds  order_time minus the session's first cart counted above; NULL when
                            the order had no cart event before it (bought directly)
    session_seconds         order_time minus the session's first event (0 without a session)
    order_hour              UTC hour of day 0..23
    hour_order_share        share of the shop's orders of the earlier days placed in this hour of
                            day (how usual the hour is); NULL on the shop's first day of orders

Bad input (documented behaviour, tested):
- a customer's first order: the history columns above are NULL / 0 as stated; is_first_order.
- a missing price cannot reach this table: staging.events.price is NOT NULL and staging
  quarantines a purchase without a price (reason missing_price), so such an order keeps only its
  priced lines; an order whose every line was quarantined does not exist here. A price of 0 is
  an ordinary value (amount 0, ratios with a zero denominator NULL, expensive_item_share 0).
- as_of before the first landed day, or no events at all: ValueError (as in features/tables.py).
- no purchase before the cut-off: an empty table (zero rows), not an error.
- an order_id shared by several customers (corrupt input): one row per (customer_id, order_id).
"""

from __future__ import annotations

import contextlib
import datetime as dt

import duckdb
import pandas as pd

from shop_pipeline import sql
from shop_pipeline.features.changes import Scope, TableWrite, write_changes
from shop_pipeline.features.columns import cutoff_for
from shop_pipeline.features.staged_changes import changed_since, query_fingerprint, record_build
from shop_pipeline.features.tables import check_as_of
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import table_columns, transaction

ORDER_FEATURES_TABLE = "features.order_features"
EXPENSIVE_RATIO = 1.5

ORDER_FEATURES = ddl.column_names(ORDER_FEATURES_TABLE)  # sql/tables/features.order_features.sql
# identifiers and times: not model inputs
ORDER_KEY_COLUMNS = ("order_id", "customer_id", "order_time", "order_day", "as_of", "session_id")
ORDER_FEATURES_NULLABLE = ddl.nullable_columns(ORDER_FEATURES_TABLE)


def _params(as_of: dt.date, expensive_ratio: float, since: dt.datetime | None = None) -> dict:
    return {"as_of": as_of, "cutoff": cutoff_for(as_of), "expensive_ratio": float(expensive_ratio), "since": since}


def order_features_frame(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, expensive_ratio: float = EXPENSIVE_RATIO
) -> pd.DataFrame:
    """The rows of features.order_features as of `as_of`, as a frame (columns ORDER_FEATURES).

    Ordered by (order_time, order_id). Nullable numeric columns are float64 with NaN; booleans
    are bool. Raises ValueError when as_of is before any landed data (see the module docstring).
    """
    check_as_of(con, as_of)
    frame = con.execute(sql.load("order_features"), _params(as_of, expensive_ratio)).df()
    return frame.loc[:, list(ORDER_FEATURES)]


def write_order_features(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    own_transaction: bool = True,
    expensive_ratio: float = EXPENSIVE_RATIO,
) -> TableWrite:
    """Make features.order_features the orders as of `as_of` (changes.write_changes: a row is
    fixed once its order is placed, but for its as_of stamp, so new orders are what is written).

    An order's row reads only events up to the order (and shop-wide figures of the days
    before), so only orders from the earliest staged event that changed since the last build
    (staged_changes.changed_since) are computed, from their customers' histories; the others
    keep their rows with the new as_of. The table ends as a whole build leaves it.
    own_transaction=False leaves the transaction to the caller for write-audit-publish."""
    check_as_of(con, as_of)
    query = sql.load("order_features")
    build = {"expensive_ratio": float(expensive_ratio), "query": query_fingerprint(query)}
    with transaction(con) if own_transaction else contextlib.nullcontext():
        since = changed_since(con, ORDER_FEATURES_TABLE, ORDER_FEATURES, as_of, build)
        params = _params(as_of, expensive_ratio, since)
        scope = (
            None
            if since is None
            else Scope("order_time >= $since", {"since": since, "as_of": as_of}, {"as_of": "CAST($as_of AS DATE)"})
        )
        written = write_changes(
            con,
            ORDER_FEATURES_TABLE,
            ddl.replace_script(ORDER_FEATURES_TABLE),
            query,
            params,
            ("customer_id", "order_id"),
            ORDER_FEATURES,
            aging_columns=("as_of",),
            scope=scope,
        )
        record_build(con, ORDER_FEATURES_TABLE, as_of, build, written.rows)
        return written


def build_order_features(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    own_transaction: bool = True,
    expensive_ratio: float = EXPENSIVE_RATIO,
) -> int:
    """write_order_features, returning the table's row count."""
    return write_order_features(con, as_of, own_transaction, expensive_ratio).rows


def read_order_features(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The published features.order_features table as a frame (the same columns and order as
    order_features_frame); ValueError when it was never built."""
    if not table_columns(con, ORDER_FEATURES_TABLE):
        raise ValueError(f"{ORDER_FEATURES_TABLE} does not exist: build it first (build_order_features)")
    frame = con.execute(f"SELECT * FROM {ORDER_FEATURES_TABLE} ORDER BY order_time, order_id, customer_id").df()
    return frame.loc[:, list(ORDER_FEATURES)]
