"""Expectation suite of features.order_features (Great Expectations 1.x).

Audit columns computed in DuckDB next to the table's rows (as in feature_suites.py):
`hours_before_cutoff` (cut-off - order_time, must be > 0: the leakage rule, no order at or
after the cut-off) and `as_of_matches`. Bump SUITE_VERSION when an expectation changes.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from shop_pipeline.features.order_features import ORDER_FEATURES, ORDER_FEATURES_NULLABLE, ORDER_FEATURES_TABLE
from shop_pipeline.features.tables import cutoff_for
from shop_pipeline.quality.feature_suites import DEFAULT_MAX_ROWS, load_gx, validate_in_batches
from shop_pipeline.quality.validator import SuiteOutcome

SUITE_VERSION = "1"
AUDIT_COLUMNS = ("hours_before_cutoff", "as_of_matches")
NON_NEGATIVE = (
    "amount", "items", "units", "distinct_products", "distinct_categories", "max_item_price", "expensive_item_share",
    "prev_orders", "orders_last_1h", "orders_last_24h", "amount_last_24h", "account_age_days",
    "customer_events_before", "categories_before", "session_views", "session_carts", "session_seconds",
)
SHARES = ("expensive_item_share", "new_category_share", "hour_order_share")

ORDER_FEATURES_AUDIT = """
WITH audited AS (
    SELECT
        t.*,
        date_diff('millisecond', t.order_time, $cutoff) / 3600000.0 AS hours_before_cutoff,
        coalesce(t.as_of = CAST($as_of AS DATE), false) AS as_of_matches,
        row_number() OVER (ORDER BY t.customer_id, t.order_id) AS audit_row
    FROM {table} AS t
)
SELECT * EXCLUDE (audit_row) FROM audited
WHERE audit_row BETWEEN $first_row AND $last_row
ORDER BY customer_id, order_id
"""


def order_features_suite(as_of: dt.date):
    gx, gxe = load_gx()
    suite = gx.ExpectationSuite(name=f"order_features.v{SUITE_VERSION}")
    suite.add_expectation(gxe.ExpectTableColumnsToMatchSet(column_set=[*ORDER_FEATURES, *AUDIT_COLUMNS], exact_match=True))
    for column in ORDER_FEATURES:
        if column not in ORDER_FEATURES_NULLABLE:
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=["customer_id", "order_id"]))
    for column in NON_NEGATIVE:
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
    for column in SHARES:
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="order_hour", min_value=0, max_value=23))
    suite.add_expectation(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="orders_last_24h", column_B="orders_last_1h", or_equal=True)
    )
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="hours_before_cutoff", min_value=0, strict_min=True))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="as_of_matches", value_set=[True]))
    suite.meta = {"as_of": as_of.isoformat()}
    return suite


def validate_order_features(con: duckdb.DuckDBPyConnection, as_of: dt.date, table: str = ORDER_FEATURES_TABLE,
                            max_rows: int = DEFAULT_MAX_ROWS) -> SuiteOutcome:
    """Run order_features_suite(as_of) on `table` (features.order_features)."""
    return validate_in_batches(con, table, ORDER_FEATURES_AUDIT, {"as_of": as_of, "cutoff": cutoff_for(as_of)},
                               order_features_suite(as_of), max_rows)
