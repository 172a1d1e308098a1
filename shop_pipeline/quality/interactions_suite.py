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
    LEAKAGE_AUDIT_COLUMNS,
    expect_no_leakage,
    expect_table_contract,
    leakage_audit,
    load_gx,
    validate_leakage_audited,
)
from shop_pipeline.quality.validator import SuiteOutcome

SUITE_VERSION = "1"
INTERACTIONS_AUDIT = leakage_audit("last_interaction", ("customer_id", "product_id"))


def interactions_suite(as_of: dt.date):
    gx, gxe = load_gx()
    suite = gx.ExpectationSuite(name=f"interactions.v{SUITE_VERSION}")
    expect_table_contract(suite, gxe, INTERACTIONS, INTERACTIONS_NULLABLE, LEAKAGE_AUDIT_COLUMNS)
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=["customer_id", "product_id"]))
    for column in ("views", "carts", "purchases", "orders"):
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="weight", min_value=0, strict_min=True))
    suite.add_expectation(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="last_interaction", column_B="first_interaction", or_equal=True)
    )
    expect_no_leakage(suite, gxe)
    suite.meta = {"as_of": as_of.isoformat()}
    return suite


def validate_interactions(con: duckdb.DuckDBPyConnection, as_of: dt.date, table: str = INTERACTIONS_TABLE,
                          max_rows: int = DEFAULT_MAX_ROWS) -> SuiteOutcome:
    """Run interactions_suite(as_of) on `table` (features.interactions)."""
    return validate_leakage_audited(con, table, INTERACTIONS_AUDIT, interactions_suite(as_of), as_of, max_rows)
