"""Point-in-time feature tables: product_daily_sales, customer_features, customer_labels.

Plain Python over DuckDB (no Dagster). The SQL lives in shop_pipeline/sql/ (one readable
statement per table, every value a $parameter); this module picks the parameters, checks the
cut-off, and writes each table in one transaction (the fixed DDL of sql/tables/, so a killed run
leaves the last good table).

Cut-off convention (see features/columns.py): `as_of` is the last day whose events may be
used; the cut-off instant is as_of + 1 day at 00:00 UTC (`cutoff_for`). Features read only
events with event_time < cut-off that had landed by as_of (partition_date <= as_of), so
nothing that happens or lands later changes a feature. Labels read [cut-off, cut-off + horizon).

Fallbacks (the same for every function here):
- as_of before the first landed day, or no events landed at all: ValueError saying so.
- as_of after the last landed day: allowed. The product grid runs on to as_of with zeros on
  the days nothing landed for (they are unknown, not "no sales"); customer features are
  measured up to that later cut-off (recency grows).
- a product with a single day of history: one grid row; its lags, rolling means and
  ref_price_28d are NULL (no earlier day), discount_vs_ref is 0.
- a category without sales or without ad spend: its products get zeros; ad_spend 0.
- empty raw.promotions / raw.ad_spend / raw.products: promo 0 / ad spend 0 / category, brand
  and list price from the events (list price = the highest price seen so far).
- purchases-only data (no views or carts): views, carts, conversion and the rates are 0.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable

import duckdb
import pandas as pd

from shop_pipeline import sql
from shop_pipeline.features.changes import Scope, TableWrite, write_changes
from shop_pipeline.features.columns import (
    CUSTOMER_FEATURES,
    CUSTOMER_FEATURES_TABLE,
    CUSTOMER_LABELS,
    CUSTOMER_LABELS_TABLE,
    NO_EVENT_DAYS,
    PRODUCT_DAILY_SALES,
    PRODUCT_DAILY_SALES_NULLABLE,
    PRODUCT_DAILY_SALES_TABLE,
    cutoff_for,
)
from shop_pipeline.features.staged_changes import changed_since, query_fingerprint, record_build, table_fingerprint
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import transaction


def default_as_of(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The last complete landed day: max(partition_date) of staging.events; None when empty."""
    return con.execute("SELECT max(partition_date) FROM staging.events").fetchall()[0][0]


def landed_range(con: duckdb.DuckDBPyConnection) -> tuple[dt.date | None, dt.date | None]:
    """First and last landed day (partition_date) of staging.events; (None, None) when empty."""
    first, last = con.execute("SELECT min(partition_date), max(partition_date) FROM staging.events").fetchall()[0]
    return first, last


def check_as_of(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> None:
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise TypeError(f"as_of must be a datetime.date, got {as_of!r}")
    first, last = landed_range(con)
    if first is None:
        raise ValueError("no events have landed in staging.events: there is nothing to build features from")
    if as_of < first:
        raise ValueError(
            f"as_of {as_of.isoformat()} is before the first landed day {first.isoformat()} "
            f"(data covers {first.isoformat()} .. {last.isoformat()}): no event is known before that cut-off"
        )


def _check_horizon(horizon_days: int) -> int:
    if isinstance(horizon_days, bool) or int(horizon_days) != horizon_days or horizon_days < 1:
        raise ValueError(f"horizon_days must be a whole number of days >= 1, got {horizon_days!r}")
    return int(horizon_days)


def _frame(
    con: duckdb.DuckDBPyConnection, name: str, params: dict, columns: tuple[str, ...], nullable: tuple[str, ...] = ()
) -> pd.DataFrame:
    return _typed(con.execute(sql.load(name), params).df(), columns, nullable)


def _typed(frame: pd.DataFrame, columns: tuple[str, ...], nullable: tuple[str, ...]) -> pd.DataFrame:
    frame = frame[list(columns)]
    # integer columns that may hold NULL (the lags) are always float64 with NaN, whether or
    # not this frame has a NULL: one dtype per column, and what scikit-learn expects
    for column in nullable:
        if pd.api.types.is_integer_dtype(frame[column].dtype):
            frame[column] = frame[column].astype("float64")
    return frame


def _replace(con: duckdb.DuckDBPyConnection, table: str, name: str, params: dict, own_transaction: bool = True) -> int:
    """Replace `table` with the rows of query `name`, DDL and rows in one transaction.

    own_transaction=False leaves the transaction to the caller, who can then audit the new
    rows before committing (write-audit-publish) or roll back to the last good table.
    """
    with transaction(con) if own_transaction else contextlib.nullcontext():
        ddl.replace(con, table)
        con.execute(f"INSERT INTO {table} BY NAME {sql.load(name)}", params)
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


# -- product_daily_sales -------------------------------------------------------------------


def _product_daily_sales_params(as_of: dt.date, first_day: dt.date | None) -> dict:
    return {"as_of": as_of, "cutoff": cutoff_for(as_of), "first_day": first_day}


def product_daily_sales_frame(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, first_day: dt.date | None = None
) -> pd.DataFrame:
    """features.product_daily_sales as of `as_of`, as a frame (columns: PRODUCT_DAILY_SALES).

    A complete grid: each product from its first day (first event or launch, not before the
    first landed day) to as_of inclusive, zeros on days without events. `first_day` keeps
    only rows from that day on (lags and rolling means still see the earlier days).
    Raises ValueError when as_of is before any landed data (see the module docstring).
    """
    check_as_of(con, as_of)
    return _frame(
        con,
        "product_daily_sales",
        _product_daily_sales_params(as_of, first_day),
        PRODUCT_DAILY_SALES,
        PRODUCT_DAILY_SALES_NULLABLE,
    )


def build_product_daily_sales(con: duckdb.DuckDBPyConnection, as_of: dt.date, own_transaction: bool = True) -> int:
    """write_product_daily_sales, returning the table's row count."""
    return write_product_daily_sales(con, as_of, own_transaction).rows


def write_product_daily_sales(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, own_transaction: bool = True
) -> TableWrite:
    """Make features.product_daily_sales the grid as of `as_of`, writing only the rows that changed.

    The table ends as build_product_daily_sales would leave it; on a daily run that is the new
    day, the days late events touched, and any product whose catalog data changed.

    A product-day reads the events up to its day (its windows reach 28 days back, its running
    prices further, all computed), so only the days from the first staged event that changed
    since the last build (staged_changes.changed_since) are computed and compared. The query's
    text, the catalog, promotions and ad spend are part of the build's parameters: a change
    there computes every day. So does a product whose latest category or brand (which labels
    all its days) moved.
    """
    check_as_of(con, as_of)
    table, query = PRODUCT_DAILY_SALES_TABLE, sql.load("product_daily_sales")
    table_ddl = ddl.replace_script(table)
    keys = ("product_id", "day")
    with transaction(con) if own_transaction else contextlib.nullcontext():
        build = {
            "query": query_fingerprint(query),
            **{name: table_fingerprint(con, name, columns) for name, columns in _PRODUCT_DAILY_SALES_INPUTS.items()},
        }
        since = changed_since(con, table, PRODUCT_DAILY_SALES, as_of, build)
        first_day = None if since is None else since.date()
        scope = None if first_day is None else Scope("day >= $first_day", {"first_day": first_day}, {})
        written = write_changes(
            con,
            table,
            table_ddl,
            query,
            _product_daily_sales_params(as_of, first_day),
            keys,
            PRODUCT_DAILY_SALES,
            scope=scope,
        )
        if scope is not None and _relabelled_products(con):
            written = _then_every_day(con, written, table_ddl, query, _product_daily_sales_params(as_of, None), keys)
        record_build(con, table, as_of, build, written.rows)
        return written


# the inputs besides staging.events, by the columns the grid reads
_PRODUCT_DAILY_SALES_INPUTS = {
    "raw.products": ("product_id", "category", "brand", "base_price", "launched_on"),
    "raw.promotions": ("product_id", "start_date", "end_date", "discount_pct"),
    "raw.ad_spend": ("date", "category", "ad_spend"),
}


def _relabelled_products(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a product's days carry two categories or brands: its latest one moved, and the
    days before the recomputed ones still carry the old one (and the old category's ad spend)."""
    return (
        con.execute(
            f"SELECT count(*) FROM (SELECT product_id FROM {PRODUCT_DAILY_SALES_TABLE} GROUP BY product_id "
            "HAVING count(DISTINCT {'category': category, 'brand': brand}) > 1)"
        ).fetchone()[0]
        > 0
    )


def _then_every_day(
    con: duckdb.DuckDBPyConnection, first: TableWrite, table_ddl: str, query: str, params: dict, keys: tuple[str, ...]
) -> TableWrite:
    """Write every day after a write of some days; the written keys are those of both writes."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE first_written AS SELECT * FROM temp.{first.written_keys}")
    try:
        whole = write_changes(con, PRODUCT_DAILY_SALES_TABLE, table_ddl, query, params, keys, PRODUCT_DAILY_SALES)
        con.execute(
            f"INSERT INTO temp.{whole.written_keys} "
            f"SELECT * FROM temp.first_written EXCEPT SELECT * FROM temp.{whole.written_keys}"
        )
    finally:
        con.execute("DROP TABLE IF EXISTS temp.first_written")
    written = con.execute(f"SELECT count(*) FROM temp.{whole.written_keys}").fetchone()[0]
    return TableWrite(whole.rows, written, first.deleted + whole.deleted, whole.whole_table, whole.written_keys)


def read_product_daily_sales(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    first_day: dt.date,
    columns: tuple[str, ...] = PRODUCT_DAILY_SALES,
) -> pd.DataFrame:
    """The published features.product_daily_sales rows from `first_day` on, as product_daily_sales_frame
    returns them (only `columns`, in that order); ValueError when the table is not the grid as of
    `as_of` (stale or missing) or a column is not one of the table's."""
    unknown = [c for c in columns if c not in PRODUCT_DAILY_SALES]
    if unknown:
        raise ValueError(f"{PRODUCT_DAILY_SALES_TABLE} has no column(s) {unknown}")
    built_to = con.execute(f"SELECT max(day) FROM {PRODUCT_DAILY_SALES_TABLE}").fetchall()[0][0]
    if built_to != as_of:
        raise ValueError(
            f"{PRODUCT_DAILY_SALES_TABLE} runs to {built_to}, not to as_of {as_of.isoformat()}: "
            "materialize product_daily_sales first"
        )
    frame = con.execute(
        f"SELECT {', '.join(columns)} FROM {PRODUCT_DAILY_SALES_TABLE} WHERE day >= $first_day ORDER BY product_id, day",
        {"first_day": first_day},
    ).df()
    return _typed(frame, columns, tuple(c for c in PRODUCT_DAILY_SALES_NULLABLE if c in columns))


# -- customer_features ---------------------------------------------------------------------


def _customer_features_params(as_of: dt.date) -> dict:
    return {"as_of": as_of, "cutoff": cutoff_for(as_of), "no_event_days": NO_EVENT_DAYS}


def customer_features_frame(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame:
    """Customer features as of `as_of` (columns: CUSTOMER_FEATURES).

    `as_of` is an as_of: the last day whose events are used (the cut-off instant is the
    next midnight, cutoff_for(as_of)). Any earlier day works, e.g. for training at
    earlier cut-offs. One row per customer with an event before the cut-off.
    Raises ValueError when as_of is before any landed data.
    """
    check_as_of(con, as_of)
    return _frame(con, "customer_features", _customer_features_params(as_of), CUSTOMER_FEATURES)


def build_customer_features(con: duckdb.DuckDBPyConnection, as_of: dt.date, own_transaction: bool = True) -> int:
    """write_customer_features, returning the table's row count."""
    return write_customer_features(con, as_of, own_transaction).rows


def write_customer_features(con: duckdb.DuckDBPyConnection, as_of: dt.date, own_transaction: bool = True) -> TableWrite:
    """Make features.customer_features the features as of `as_of` (changes.write_changes; every
    row carries the new as_of and recency, so a new cut-off rewrites them all)."""
    check_as_of(con, as_of)
    with transaction(con) if own_transaction else contextlib.nullcontext():
        return write_changes(
            con,
            CUSTOMER_FEATURES_TABLE,
            ddl.replace_script(CUSTOMER_FEATURES_TABLE),
            sql.load("customer_features"),
            _customer_features_params(as_of),
            ("customer_id",),
            CUSTOMER_FEATURES,
        )


# -- customer_labels -----------------------------------------------------------------------


def _customer_labels_params(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    horizon_days: int,
    allow_incomplete: bool,
    known_by: dt.date | None = None,
) -> dict:
    check_as_of(con, as_of)
    horizon_days = _check_horizon(horizon_days)
    _, last = landed_range(con)
    window_last_day = as_of + dt.timedelta(days=horizon_days)
    if not allow_incomplete and window_last_day > last:
        raise ValueError(
            f"the label window of as_of {as_of.isoformat()} + {horizon_days} days runs to "
            f"{window_last_day.isoformat()}, past the last landed day {last.isoformat()}: the labels would "
            f"be incomplete. Use an as_of on or before {(last - dt.timedelta(days=horizon_days)).isoformat()}, "
            "a shorter horizon, or allow_incomplete=True"
        )
    cutoff = cutoff_for(as_of)
    return {
        "as_of": as_of,
        "cutoff": cutoff,
        "horizon_days": horizon_days,
        "window_end": cutoff + dt.timedelta(days=horizon_days),
        "known_by": known_by or dt.date(9999, 12, 31),
    }


def customer_labels_frame(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    horizon_days: int,
    allow_incomplete: bool = False,
    known_by: dt.date | None = None,
) -> pd.DataFrame:
    """Labels over [cutoff_for(as_of), + horizon_days) for every customer of customer_features_frame(as_of).

    Columns CUSTOMER_LABELS: purchased (bool), orders, spend in the window; a customer without
    a purchase there has False, 0, 0. Raises ValueError when the window runs past the last
    landed day (as_of + horizon_days > last partition_date), since those labels would be
    incomplete; allow_incomplete=True computes them anyway from whatever has landed.
    """
    params = _customer_labels_params(con, as_of, horizon_days, allow_incomplete, known_by)
    return _frame(con, "customer_labels", params, CUSTOMER_LABELS)


def build_customer_labels(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, horizon_days: int, allow_incomplete: bool = False
) -> int:
    """Replace features.customer_labels with the labels of `as_of` and `horizon_days`; returns its row count."""
    params = _customer_labels_params(con, as_of, horizon_days, allow_incomplete)
    return _replace(con, CUSTOMER_LABELS_TABLE, "customer_labels", params)


# -- future product days -------------------------------------------------------------------

FUTURE_PRODUCT_DAYS = (
    "product_id",
    "day",
    "category",
    "brand",
    "list_price",
    "promo_discount_pct",
    "is_promo",
    "shown_price",
    "day_of_week",
    "day_of_year",
    "month",
    "is_weekend",
    "ad_spend",
)


def future_product_days_frame(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    horizon_days: int,
    ad_spend_known_through: dt.date | None = None,
) -> pd.DataFrame:
    """Each product of the as_of grid x each of the `horizon_days` days after as_of, known in advance.

    Columns FUTURE_PRODUCT_DAYS. The assumptions (sql/future_product_days.sql says them in full):
    shown_price is the product's last price paid before the cut-off (the median of its last 5 event
    prices, each with its day's promotion discount taken off; the catalog price for a product never
    seen with a price) x (1 - the planned discount of raw.promotions); list_price is the history's list price as of as_of;
    ad_spend is the planned spend of raw.ad_spend for the day and category when present and on or
    before `ad_spend_known_through` (None: every row is a plan), else the category's mean daily
    spend over the 28 days up to as_of (0 for a category without spend). Raises ValueError when
    as_of is before any landed data.
    """
    check_as_of(con, as_of)
    horizon_days = _check_horizon(horizon_days)
    params = {
        "as_of": as_of,
        "cutoff": cutoff_for(as_of),
        "horizon_days": horizon_days,
        "ad_spend_known_through": ad_spend_known_through,
    }
    return _frame(con, "future_product_days", params, FUTURE_PRODUCT_DAYS)


def ad_spend_planned_days(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> int:
    """How many days past as_of raw.ad_spend already holds spend (the shop's planning lead; 0 without plans)."""
    [(last,)] = con.execute("SELECT max(date) FROM raw.ad_spend").fetchall()
    return max(0, (last - as_of).days) if last is not None else 0


def future_frames_as_known_at(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    horizon_days: int,
) -> Callable[[dt.date], pd.DataFrame]:
    """origin -> future_product_days_frame(origin) as a forecast made on that earlier origin would
    have been given it, for the backtest: events, prices and promotions as of the origin, and
    planned ad spend only as far ahead of the origin as raw.ad_spend runs ahead of `as_of` now
    (a shop without plans past its data gets the 28-day mean in the backtest, as in serving; one
    that plans two weeks ahead gets its plan for two weeks)."""
    lead = dt.timedelta(days=ad_spend_planned_days(con, as_of))
    built: dict[dt.date, pd.DataFrame] = {}  # the candidates' backtest and the champion's read the same origins

    def at_origin(origin: dt.date) -> pd.DataFrame:
        if origin not in built:
            built[origin] = future_product_days_frame(con, origin, horizon_days, ad_spend_known_through=origin + lead)
        return built[origin].copy()

    return at_origin
