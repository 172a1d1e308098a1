"""Expectation suite of features.interactions (Great Expectations 1.x).

Validated on the leakage audit of feature_suites.py (last_interaction is the latest event
behind a row). Bump SUITE_VERSION when an expectation changes.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from shop_pipeline.features.interactions import INTERACTIONS, INTERACTIONS_NULLABLE, INTERACTIONS_TABLE
from shop_pipeline.quality.feature_suites import (
    DEFAULT_MAX_ROWS,
    LEAKAGE_RULES,
    leakage_audited_suite,
    validate_leakage_written,
)
from shop_pipeline.quality.validator import SuiteOutcome

SUITE_VERSION = "1"
KEY_COLUMNS = ("customer_id", "product_id")
# what a new cut-off can break on a row nothing was written to
AGING_RULES = LEAKAGE_RULES + " OR a.weight <= 0"


def interactions_suite(as_of: dt.date):
    def rules(suite, gxe):
        for column in ("views", "carts", "purchases", "orders"):
            suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="weight", min_value=0, strict_min=True))
        suite.add_expectation(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="last_interaction", column_B="first_interaction", or_equal=True
            )
        )

    return leakage_audited_suite(
        f"interactions.v{SUITE_VERSION}", as_of, INTERACTIONS, INTERACTIONS_NULLABLE, KEY_COLUMNS, rules
    )


def validate_interactions(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    table: str = INTERACTIONS_TABLE,
    max_rows: int = DEFAULT_MAX_ROWS,
    written_keys: str | None = None,
) -> SuiteOutcome:
    """Run interactions_suite(as_of) on `table` (features.interactions); with `written_keys` (a TableWrite's)
    only the rows written and any row breaking a rule the new cut-off can break (feature_suites.validate_written)."""
    return validate_leakage_written(
        con,
        table,
        "last_interaction",
        KEY_COLUMNS,
        interactions_suite(as_of),
        as_of,
        max_rows,
        written_keys,
        AGING_RULES,
    )
