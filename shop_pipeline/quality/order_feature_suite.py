"""Expectation suite of features.order_features (Great Expectations 1.x).

Validated on the leakage audit of feature_suites.py (order_time is the latest event behind a
row). Bump SUITE_VERSION when an expectation changes.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from shop_pipeline.features.order_features import ORDER_FEATURES, ORDER_FEATURES_NULLABLE, ORDER_FEATURES_TABLE
from shop_pipeline.quality.feature_suites import (
    DEFAULT_MAX_ROWS,
    LEAKAGE_RULES,
    leakage_audited_suite,
    validate_leakage_written,
)
from shop_pipeline.quality.validator import SuiteOutcome

SUITE_VERSION = "1"
NON_NEGATIVE = (
    "amount",
    "items",
    "units",
    "distinct_products",
    "distinct_categories",
    "max_item_price",
    "expensive_item_share",
    "prev_orders",
    "orders_last_1h",
    "orders_last_24h",
    "amount_last_24h",
    "account_age_days",
    "customer_events_before",
    "categories_before",
    "session_views",
    "session_carts",
    "session_seconds",
)
SHARES = ("expensive_item_share", "new_category_share", "hour_order_share")
KEY_COLUMNS = ("customer_id", "order_id")
# what a new cut-off can break on a row nothing was written to
AGING_RULES = LEAKAGE_RULES


def order_features_suite(as_of: dt.date):
    def rules(suite, gxe):
        for column in NON_NEGATIVE:
            suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
        for column in SHARES:
            suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1))
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="order_hour", min_value=0, max_value=23))
        suite.add_expectation(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="orders_last_24h", column_B="orders_last_1h", or_equal=True
            )
        )

    return leakage_audited_suite(
        f"order_features.v{SUITE_VERSION}", as_of, ORDER_FEATURES, ORDER_FEATURES_NULLABLE, KEY_COLUMNS, rules
    )


def validate_order_features(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    table: str = ORDER_FEATURES_TABLE,
    max_rows: int = DEFAULT_MAX_ROWS,
    written_keys: str | None = None,
) -> SuiteOutcome:
    """Run order_features_suite(as_of) on `table` (features.order_features); with `written_keys` (a TableWrite's)
    only the rows written and any row breaking a rule the new cut-off can break (feature_suites.validate_written)."""
    return validate_leakage_written(
        con, table, "order_time", KEY_COLUMNS, order_features_suite(as_of), as_of, max_rows, written_keys, AGING_RULES
    )
