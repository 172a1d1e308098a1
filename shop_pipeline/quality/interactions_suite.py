"""Expectation suite of features.interactions (Great Expectations 1.x).

Audit columns computed in DuckDB next to the table's rows (as in feature_suites.py):
`hours_before_cutoff` (cut-off - last_interaction, must be > 0: the leakage rule) and
`as_of_matches`. Bump SUITE_VERSION when an expectation changes.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from shop_pipeline.features.interactions import INTERACTIONS, INTERACTIONS_NULLABLE, INTERACTIONS_TABLE
from shop_pipeline.features.tables import cutoff_for
from shop_pipeline.quality.feature_suites import DEFAULT_MAX_ROWS, load_gx, validate_in_batches
from shop_pipeline.quality.validator import SuiteOutcome

SUITE_VERSION = "1"
AUDIT_COLUMNS = ("hours_before_cutoff", "as_of_matches")

INTERACTIONS_AUDIT = """
WITH audited AS (
    SELECT
        t.*,
        date_diff('millisecond', t.last_interaction, $cutoff) / 3600000.0 AS hours_before_cutoff,
        coalesce(t.as_of = CAST($as_of AS DATE), false) AS as_of_matches,
        row_number() OVER (ORDER BY t.customer_id, t.product_id) AS audit_row
    FROM {table} AS t
)
SELECT * EXCLUDE (audit_row) FROM audited
WHERE audit_row BETWEEN $first_row AND $last_row
ORDER BY customer_id, product_id
"""


def interactions_suite(as_of: dt.date):
    gx, gxe = load_gx()
    suite = gx.ExpectationSuite(name=f"interactions.v{SUITE_VERSION}")
    suite.add_expectation(gxe.ExpectTableColumnsToMatchSet(column_set=[*INTERACTIONS, *AUDIT_COLUMNS], exact_match=True))
    for column in INTERACTIONS:
        if column not in INTERACTIONS_NULLABLE:
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=["customer_id", "product_id"]))
    for column in ("views", "carts", "purchases", "orders"):
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="weight", min_value=0, strict_min=True))
    suite.add_expectation(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="last_interaction", column_B="first_interaction", or_equal=True)
    )
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="hours_before_cutoff", min_value=0, strict_min=True))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="as_of_matches", value_set=[True]))
    suite.meta = {"as_of": as_of.isoformat()}
    return suite


def validate_interactions(con: duckdb.DuckDBPyConnection, as_of: dt.date, table: str = INTERACTIONS_TABLE,
                          max_rows: int = DEFAULT_MAX_ROWS) -> SuiteOutcome:
    """Run interactions_suite(as_of) on `table` (features.interactions)."""
    return validate_in_batches(con, table, INTERACTIONS_AUDIT, {"as_of": as_of, "cutoff": cutoff_for(as_of)},
                               interactions_suite(as_of), max_rows)
