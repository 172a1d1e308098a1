"""Expectation suites of the feature tables (Great Expectations 1.x), with the frames they audit.

Each suite validates the table as a pandas frame plus a few audit columns computed in DuckDB
(as in quality/audit.py), so rules GX cannot say on one row are still a plain column check:

- product_daily_sales: `days_after_as_of` (day - as_of, must be <= 0: no row after the
  cut-off), `grid_gap_days` (days missing between a row and the product's previous row,
  must be 0) and `grid_reaches_as_of` (the product's last row is as_of): the grid is complete.
- customer_features: `hours_before_cutoff` (cut-off - last_seen, must be > 0: the leakage
  rule, no feature row uses an event at or after the cut-off) and `as_of_matches`.

`validate_product_daily_sales` / `validate_customer_features` run a suite on the table in
DuckDB, `max_rows` rows per GX validation (memory stays bounded), and return a SuiteOutcome.
Bump SUITE_VERSION when an expectation changes.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from shop_pipeline.features.columns import (
    CUSTOMER_FEATURES,
    CUSTOMER_FEATURES_NULLABLE,
    CUSTOMER_FEATURES_TABLE,
    PRODUCT_DAILY_SALES,
    PRODUCT_DAILY_SALES_NULLABLE,
    PRODUCT_DAILY_SALES_TABLE,
    cutoff_for,
)
from shop_pipeline.quality.audit import SAMPLE_ROWS
from shop_pipeline.quality.screen import breaking_count, breaking_frame, breaking_rows, screenable
from shop_pipeline.quality.validator import SuiteDraft, SuiteOutcome, expectations_module, validate_frame

SUITE_VERSION = "1"
PRODUCT_DAILY_SALES_AUDIT_COLUMNS = ("days_after_as_of", "grid_gap_days", "grid_reaches_as_of")
LEAKAGE_AUDIT_COLUMNS = ("hours_before_cutoff", "as_of_matches")  # added by leakage_audit()
CUSTOMER_FEATURES_AUDIT_COLUMNS = LEAKAGE_AUDIT_COLUMNS
DEFAULT_MAX_ROWS = 500_000

# The rows in {scope} of the table, with the audit columns: every row, or the rows a write
# touched plus any row breaking a grid rule (those rules span rows, so a write can break them
# on a row it did not touch).
PRODUCT_DAILY_SALES_AUDIT = """
WITH audited AS (
    SELECT
        t.*,
        date_diff('day', CAST($as_of AS DATE), t.day) AS days_after_as_of,
        coalesce(date_diff('day', lag(t.day) OVER (PARTITION BY t.product_id ORDER BY t.day), t.day), 1) - 1
            AS grid_gap_days,
        max(t.day) OVER (PARTITION BY t.product_id) = CAST($as_of AS DATE) AS grid_reaches_as_of
    FROM {table} AS t
)
SELECT * FROM audited AS a
WHERE {scope}
ORDER BY product_id, day
"""
PRODUCT_DAILY_SALES_KEYS = ("product_id", "day")
ALL_ROWS = "true"
# rules spanning rows: a write can break them on a row it did not touch
PRODUCT_DAILY_SALES_GRID_RULES = "a.days_after_as_of > 0 OR a.grid_gap_days <> 0 OR NOT a.grid_reaches_as_of"
# the leakage rules of a table whose as_of moves on every row
LEAKAGE_RULES = "NOT a.as_of_matches OR a.hours_before_cutoff <= 0"


def written_scope(written_keys: str, key_columns: tuple[str, ...], rules: str) -> str:
    """The rows a write touched (keys in temp.<written_keys>) plus every row breaking `rules`."""
    match = " AND ".join(f"k.{column} = a.{column}" for column in key_columns)
    return f"(EXISTS (SELECT 1 FROM temp.{written_keys} AS k WHERE {match}) OR {rules})"


def last_audit_suite(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """Which suite last audited `table` (features.table_audits, created with the warehouse):
    rows a daily write did not touch were audited by it, so only another suite must see them all."""
    rows = con.execute("SELECT suite FROM features.table_audits WHERE table_name = ?", [table]).fetchall()
    return rows[0][0] if rows else None


def record_audit(con: duckdb.DuckDBPyConnection, table: str, suite: str, as_of: dt.date) -> None:
    """Part of the caller's transaction: rolled back with the table when the audit fails."""
    con.execute("INSERT OR REPLACE INTO features.table_audits VALUES (?, ?, ?)", [table, suite, as_of])


def leakage_audit(time_column: str, key_columns: tuple[str, ...], scope: str = ALL_ROWS) -> str:
    """The audit SELECT of a feature table whose rows carry `as_of` and the time of the latest
    event behind them (`time_column`): hours from that time to $cutoff (the leakage rule wants
    them > 0) and whether the row's as_of is $as_of; the rows in `scope` (a predicate on `a`),
    in key order. The names are the project's own constants, never input."""
    return f"""
WITH audited AS (
    SELECT
        t.*,
        date_diff('millisecond', t.{time_column}, $cutoff) / 3600000.0 AS hours_before_cutoff,
        coalesce(t.as_of = CAST($as_of AS DATE), false) AS as_of_matches
    FROM {{table}} AS t
)
SELECT * FROM audited AS a
WHERE {scope}
ORDER BY {", ".join(key_columns)}
"""


CUSTOMER_FEATURES_AUDIT = ("last_seen", ("customer_id",))  # leakage_audit(time column, keys)


def expect_table_contract(suite, gxe, columns, nullable, audit_columns) -> None:
    """Exactly these columns (plus the audit ones); every column not in `nullable` has no NULL."""
    suite.add_expectation(gxe.ExpectTableColumnsToMatchSet(column_set=[*columns, *audit_columns], exact_match=True))
    for column in columns:
        if column not in nullable:
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))


def expect_no_leakage(suite, gxe) -> None:
    """The leakage rule on a leakage_audit frame: every row's events happened strictly before
    the cut-off, and the row belongs to this as_of."""
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="hours_before_cutoff", min_value=0, strict_min=True))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="as_of_matches", value_set=[True]))


def validate_written(
    con: duckdb.DuckDBPyConnection,
    table: str,
    audit_of_scope,
    params: dict,
    suite,
    max_rows: int,
    written_keys: str | None,
    key_columns: tuple[str, ...],
    rules: str,
) -> SuiteOutcome:
    """Run `suite` on the audit query `audit_of_scope(scope)` of `table`, max_rows rows per batch.

    Without `written_keys` the scope is every row. With it (the temporary key table of a
    TableWrite, inside the write's transaction) the scope is the rows written plus every row
    breaking `rules` (the rules a write can break on rows it did not touch), unless the table
    was last audited by another suite or never: then it is every row. The audit is recorded
    in features.table_audits, in the same transaction.
    """
    scoped = written_keys is not None and last_audit_suite(con, table) == suite.name
    query = audit_of_scope(written_scope(written_keys, key_columns, rules) if scoped else ALL_ROWS)
    # the audit columns (windows over the whole table) are computed once, then read in batches
    con.execute(f"CREATE OR REPLACE TEMP TABLE audit_rows AS {query.format(table=table)}", params)
    try:
        rows = con.execute("SELECT count(*) FROM temp.audit_rows").fetchall()[0][0]
        outcome = SuiteOutcome(suite=suite.name)
        if rows > SCREEN_ABOVE_ROWS and screenable(suite):
            screened = _screened(con, suite, rows, key_columns, max_rows)
            if screened is not None:
                return _recorded(con, table, suite, params, written_keys, screened)
        for first in range(0, max(rows, 1), max_rows):
            frame = con.execute(
                f"SELECT * FROM temp.audit_rows ORDER BY {', '.join(key_columns)} LIMIT $n OFFSET $first",
                {"n": max_rows, "first": first},
            ).df()
            validate_frame(frame, suite, f"rows {first + 1}..{min(first + max_rows, rows)}", outcome)
    finally:
        con.execute("DROP TABLE IF EXISTS temp.audit_rows")
    return _recorded(con, table, suite, params, written_keys, outcome)


def _recorded(con, table: str, suite, params: dict, written_keys: str | None, outcome: SuiteOutcome) -> SuiteOutcome:
    if written_keys is not None:
        record_audit(con, table, suite.name, as_of=params["as_of"])
    return outcome


# GX's cost grows with the rows it validates (a 400k-row grid took seconds); above this many rows
# DuckDB screens every row for the suite's row rules and GX validates a sample and the breaking rows
SCREEN_ABOVE_ROWS = 20_000


def _screened(con, suite, rows: int, key_columns: tuple[str, ...], max_rows: int) -> SuiteOutcome | None:
    """The outcome of the suite on temp.audit_rows, GX on a sample plus the rows the DuckDB screen
    finds breaking a rule; None when GX passes rows the screen says break a rule (the caller then
    lets GX judge every row: a disagreement is never resolved in the screen's favour)."""
    outcome = SuiteOutcome(suite=suite.name)
    screened = breaking_rows(con, suite, "temp.audit_rows")
    keys = ", ".join(key_columns)
    sample = con.execute(f"SELECT * FROM temp.audit_rows ORDER BY hash({keys}), {keys} LIMIT {SAMPLE_ROWS}").df()
    validate_frame(
        sample, suite, f"sample of {len(sample)} rows (all {rows} screened in DuckDB)", outcome, count_rows=False
    )
    outcome.batches, outcome.rows = 1, rows
    broken = breaking_count(con, screened)
    if broken:
        frame = breaking_frame(con, screened, list(sample.columns), keys, max_rows)
        before = len(outcome.failures)
        validate_frame(frame, suite, f"the {broken} rows breaking a rule", outcome, count_rows=False)
        if len(outcome.failures) == before:
            return None
    return outcome


def validate_leakage_written(
    con: duckdb.DuckDBPyConnection,
    table: str,
    time_column: str,
    key_columns: tuple[str, ...],
    suite,
    as_of: dt.date,
    max_rows: int,
    written_keys: str | None,
    rules: str = LEAKAGE_RULES,
) -> SuiteOutcome:
    """validate_written on a table audited by leakage_audit(time_column, key_columns)."""
    return validate_written(
        con,
        table,
        lambda scope: leakage_audit(time_column, key_columns, scope),
        {"as_of": as_of, "cutoff": cutoff_for(as_of)},
        suite,
        max_rows,
        written_keys,
        key_columns,
        rules,
    )


def leakage_audited_suite(name: str, as_of: dt.date, columns, nullable, key_columns: tuple[str, ...], add_rules):
    """A suite validated on a leakage_audit frame: the table contract, unique keys, the table's
    own rules (add_rules(suite, gxe)), then the leakage rule."""
    gxe = expectations_module()
    suite = SuiteDraft(name)
    expect_table_contract(suite, gxe, columns, nullable, LEAKAGE_AUDIT_COLUMNS)
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(key_columns)))
    add_rules(suite, gxe)
    expect_no_leakage(suite, gxe)
    return suite.build(meta={"as_of": as_of.isoformat()})


def product_daily_sales_suite(as_of: dt.date):
    """The contract of features.product_daily_sales as of `as_of` (validated on the audit frame)."""
    gxe = expectations_module()
    suite = SuiteDraft(f"product_daily_sales.v{SUITE_VERSION}")
    suite.add_expectation(
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[*PRODUCT_DAILY_SALES, *PRODUCT_DAILY_SALES_AUDIT_COLUMNS], exact_match=True
        )
    )
    for column in PRODUCT_DAILY_SALES:
        if column not in PRODUCT_DAILY_SALES_NULLABLE:
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=["product_id", "day"]))
    for column in (
        "units",
        "revenue",
        "views",
        "carts",
        "purchases",
        "orders",
        "shown_price",
        "list_price",
        "ad_spend",
        "avg_paid_price",
        "ref_price_28d",
        "units_lag_1",
        "units_lag_7",
        "units_lag_14",
        "units_rolling_mean_7",
        "units_rolling_mean_28",
    ):
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
    for column in ("conversion", "promo_discount_pct"):
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="day_of_week", min_value=1, max_value=7))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="day_of_year", min_value=1, max_value=366))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="month", min_value=1, max_value=12))
    suite.add_expectation(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="purchases", column_B="orders", or_equal=True)
    )
    # point in time: no row after as_of; complete grid: no missing day, every product up to as_of
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="days_after_as_of", max_value=0))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="grid_gap_days", min_value=0, max_value=0))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="grid_reaches_as_of", value_set=[True]))
    return suite.build(meta={"as_of": as_of.isoformat()})


def customer_features_suite(as_of: dt.date):
    """The contract of features.customer_features as of `as_of` (validated on the audit frame)."""
    gxe = expectations_module()
    suite = SuiteDraft(f"customer_features.v{SUITE_VERSION}")
    expect_table_contract(suite, gxe, CUSTOMER_FEATURES, CUSTOMER_FEATURES_NULLABLE, CUSTOMER_FEATURES_AUDIT_COLUMNS)
    suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="customer_id"))
    for column in (
        "tenure_days",
        "recency_days",
        "frequency",
        "monetary",
        "avg_order_value",
        "sessions",
        "views",
        "carts",
        "purchases",
        "view_to_cart_rate",
        "cart_to_purchase_rate",
        "category_diversity",
        "days_since_last_view",
        "days_since_last_cart",
        "mean_interpurchase_days",
        "orders_last_30d",
        "orders_last_90d",
        "spend_last_30d",
        "spend_last_90d",
    ):
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
    suite.add_expectation(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="tenure_days", column_B="recency_days", or_equal=True)
    )
    suite.add_expectation(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="last_seen", column_B="first_seen", or_equal=True)
    )
    suite.add_expectation(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="purchases", column_B="frequency", or_equal=True)
    )
    suite.add_expectation(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="orders_last_90d", column_B="orders_last_30d", or_equal=True
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="frequency", column_B="orders_last_90d", or_equal=True)
    )
    expect_no_leakage(suite, gxe)
    return suite.build(meta={"as_of": as_of.isoformat()})


def product_daily_sales_audit_frame(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, table: str = PRODUCT_DAILY_SALES_TABLE
):
    """The whole table with its audit columns (for inspection and tests)."""
    return con.execute(PRODUCT_DAILY_SALES_AUDIT.format(table=table, scope=ALL_ROWS), {"as_of": as_of}).df()


def customer_features_audit_frame(con: duckdb.DuckDBPyConnection, as_of: dt.date, table: str = CUSTOMER_FEATURES_TABLE):
    params = {"as_of": as_of, "cutoff": cutoff_for(as_of)}
    return con.execute(leakage_audit(*CUSTOMER_FEATURES_AUDIT).format(table=table), params).df()


def validate_product_daily_sales(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    table: str = PRODUCT_DAILY_SALES_TABLE,
    max_rows: int = DEFAULT_MAX_ROWS,
    written_keys: str | None = None,
) -> SuiteOutcome:
    """Run product_daily_sales_suite(as_of) on `table` (features.product_daily_sales).

    With `written_keys` (the temporary key table of a TableWrite) only the rows written, plus
    any row off the grid, are validated, unless the table was last audited by another suite
    (or never): then every row is. The audit is recorded in features.table_audits.
    """
    return validate_written(
        con,
        table,
        lambda scope: PRODUCT_DAILY_SALES_AUDIT.replace("{scope}", scope),
        {"as_of": as_of},
        product_daily_sales_suite(as_of),
        max_rows,
        written_keys,
        PRODUCT_DAILY_SALES_KEYS,
        PRODUCT_DAILY_SALES_GRID_RULES,
    )


def validate_customer_features(
    con: duckdb.DuckDBPyConnection,
    as_of: dt.date,
    table: str = CUSTOMER_FEATURES_TABLE,
    max_rows: int = DEFAULT_MAX_ROWS,
    written_keys: str | None = None,
) -> SuiteOutcome:
    """Run customer_features_suite(as_of) on `table` (features.customer_features); every row
    ages with the cut-off, so a daily write writes (and this audits) them all."""
    return validate_leakage_written(
        con, table, *CUSTOMER_FEATURES_AUDIT, customer_features_suite(as_of), as_of, max_rows, written_keys
    )
