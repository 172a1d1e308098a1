"""Auditing a staged batch: the suites' row rules as DuckDB aggregates, GX where it adds to them.

The row-level expectations of the raw and staging suites are evaluated for every row in one
DuckDB aggregate per day (`screen_raw`, `screen_staged`: the same predicates and `mostly`
thresholds as the GX suites in quality/suites.py). GX then validates:
  - the schema suite on a sample of whole rows (column set and types, as pandas sees them);
  - the rows suite on every row of each day the aggregates did not pass, so a failure is
    reported by GX with its counts and unexpected examples (the verdict is GX's).
Validating 10M rows through pandas would cost more than reading them; a day that passes the
aggregates passes GX's rows suite too, since both check the same predicates.

GX's cost is mostly fixed per validation, so failing days are grouped into frames of up to
`max_rows` rows (memory stays bounded). Per-day rules are handed to GX as columns computed in
DuckDB (hours after the partition start, catalog membership), so grouping changes no verdict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import duckdb

from shop_pipeline.contracts import EVENT_TYPES
from shop_pipeline.quality.suites import ISO_TIMESTAMP_PATTERN, NUMBER_PATTERN, TableSuites
from shop_pipeline.quality.validator import SuiteOutcome, validate_frame
from shop_pipeline.sources.native import batch_values

RAW_BATCH = "SELECT * FROM batch_events WHERE list_contains($days, partition_date)"

STAGED_BATCH = """
SELECT s.*,
       date_diff('millisecond', CAST(s.partition_date AS TIMESTAMP), s.event_time) / 3600000.0 AS hours_after_partition_start,
       catalog.product_id IS NOT NULL AS product_in_catalog
FROM staged_clean AS s
LEFT JOIN (SELECT DISTINCT product_id FROM raw.products) AS catalog ON catalog.product_id = s.product_id
WHERE list_contains($days, s.partition_date)
"""
SAMPLE_ROWS = 1000

# Per day of the raw batch: the raw rows suite's predicates (quality/suites.py) as counts.
_RAW_SCREEN = """
SELECT i.partition_date,
       count(*) AS n,
       least(count(r.event_id), count(r.user_id), count(r.product_id)) AS keys_present,
       count(r.event_type) AS event_type_present,
       count(*) FILTER (WHERE list_contains($event_types, r.event_type)) AS event_type_known,
       count(r.price) AS price_present,
       count(*) FILTER (WHERE regexp_matches(r.price, $number_pattern)) AS price_numeric,
       count(r.event_time) AS event_time_present,
       count(*) FILTER (WHERE regexp_matches(r.event_time, $iso_pattern)) AS event_time_iso
FROM ({values}) AS r
JOIN batch_file_ids AS i USING (file_id)
WHERE list_contains($days, i.partition_date)
GROUP BY 1
"""

# Per day of the staged rows: the staging rows suite's predicates as counts.
STAGED_SCREEN = """
SELECT s.partition_date,
       count(*) AS n,
       least(count(s.event_id), count(s.event_time), count(s.event_type), count(s.user_id), count(s.product_id),
             count(s.price), count(s.quantity)) AS required_present,
       count(*) FILTER (WHERE list_contains($event_types, s.event_type)) AS event_type_known,
       count(*) FILTER (WHERE s.price BETWEEN 0 AND $max_price) AS price_in_range,
       count(*) FILTER (WHERE s.quantity BETWEEN 1 AND $max_quantity) AS quantity_in_range,
       count(*) FILTER (WHERE date_diff('millisecond', CAST(s.partition_date AS TIMESTAMP), s.event_time) / 3600000.0
                        >= $min_hours
                        AND date_diff('millisecond', CAST(s.partition_date AS TIMESTAMP), s.event_time) / 3600000.0
                        < $max_hours) AS time_in_window,
       count(*) FILTER (WHERE s.product_id IN (SELECT product_id FROM raw.products)) AS in_catalog
FROM staged_clean AS s
WHERE list_contains($days, s.partition_date)
GROUP BY 1
"""

# event_id unique among the clean rows: an id that occurs once among the staged days' valid rows
# (sql/stage_duplicates.sql) cannot occur twice among the clean rows, so only the repeated ids
# are counted. One read of staged_clean with a window: on Spark the earlier form (a CTE read
# twice) was 47 jobs against 3 for a query reading the cached staged views once (measured on the
# test cluster: it computed the staging again instead of reading the cached views).
DUPLICATED_ID_DAYS = """
SELECT DISTINCT partition_date FROM (
    SELECT partition_date, count(*) OVER (PARTITION BY event_id) AS occurrences
    FROM staged_clean
    WHERE list_contains($days, partition_date) AND event_id IN (SELECT event_id FROM staged_repeated_ids)
) AS candidates
WHERE occurrences > 1
"""


def day_batches(rows_per_day: list[tuple[dt.date, int]], max_rows: int) -> list[list[dt.date]]:
    """Consecutive days grouped so that each group has at most max_rows rows (a bigger day stands alone)."""
    batches: list[list[dt.date]] = []
    current: list[dt.date] = []
    current_rows = 0
    for day, rows in sorted(rows_per_day):
        if rows == 0:
            continue
        if current and current_rows + rows > max_rows:
            batches.append(current)
            current, current_rows = [], 0
        current.append(day)
        current_rows += rows
    if current:
        batches.append(current)
    return batches


def _share(part: int, whole: int) -> float:
    return 1.0 if whole == 0 else part / whole


def screen_raw(
    con: duckdb.DuckDBPyConnection, days: list[dt.date], thresholds: dict[str, Any]
) -> tuple[list[tuple[dt.date, int]], list[dt.date]]:
    """Rows per day of the raw batch (sources/native.py's batch tables), and the days whose rows
    do not pass the raw rows suite's rules."""
    t = thresholds["raw_suite"]
    values = batch_values(("event_id", "user_id", "product_id", "event_type", "price", "event_time"))
    rows = con.execute(
        _RAW_SCREEN.format(values=values),
        {
            "days": days,
            "event_types": list(EVENT_TYPES),
            "number_pattern": NUMBER_PATTERN,
            "iso_pattern": ISO_TIMESTAMP_PATTERN,
        },
    ).fetchall()
    failing = [
        day
        for day, n, keys, et_n, et_ok, price_n, price_ok, time_n, time_ok in rows
        if _share(keys, n) < t["key_not_null_mostly"]
        or _share(et_ok, et_n) < t["event_type_known_mostly"]
        or _share(price_ok, price_n) < t["price_numeric_mostly"]
        or _share(time_ok, time_n) < t["event_time_iso_mostly"]
    ]
    return [(r[0], r[1]) for r in rows], failing


def screen_staged(
    con: duckdb.DuckDBPyConnection, days: list[dt.date], thresholds: dict[str, Any], check_catalog: bool
) -> tuple[list[tuple[dt.date, int]], list[dt.date]]:
    """Rows per day of staged_clean, and the days whose rows do not pass the staging rows suite's rules."""
    rows = con.execute(STAGED_SCREEN, staged_screen_params(days, thresholds)).fetchall()
    duplicated = [r[0] for r in con.execute(DUPLICATED_ID_DAYS, {"days": days}).fetchall()]
    return staged_verdict(rows, duplicated, thresholds, check_catalog)


def staged_screen_params(days: list[dt.date], thresholds: dict[str, Any]) -> dict[str, Any]:
    """The parameters of STAGED_SCREEN."""
    rules = thresholds["staging_rules"]
    return {
        "days": days,
        "event_types": list(EVENT_TYPES),
        "max_price": float(rules["max_price"]),
        "max_quantity": int(rules["max_quantity"]),
        "min_hours": -24.0 * int(rules["max_lateness_days"]),
        "max_hours": 24.0 + int(rules["future_tolerance_minutes"]) / 60.0,
    }


def staged_verdict(
    rows: list[tuple], duplicated_id_days: list[dt.date], thresholds: dict[str, Any], check_catalog: bool
) -> tuple[list[tuple[dt.date, int]], list[dt.date]]:
    """Rows per day and the failing days from STAGED_SCREEN's rows and DUPLICATED_ID_DAYS' days
    (whichever engine ran them)."""
    t = thresholds["staging_suite"]
    failing = {
        day
        for day, n, present, et_ok, price_ok, quantity_ok, window_ok, catalog_ok in rows
        if present < n
        or et_ok < n
        or price_ok < n
        or quantity_ok < n
        or window_ok < n
        or (check_catalog and _share(catalog_ok, n) < t["product_in_catalog_mostly"])
    }
    failing |= set(duplicated_id_days)
    return [(r[0], r[1]) for r in rows], sorted(failing)


def audit_screened(
    con: duckdb.DuckDBPyConnection,
    query: str,
    days: list[dt.date],
    suites: TableSuites,
    max_rows: int,
    rows_per_day: list[tuple[dt.date, int]],
    failing_days: list[dt.date],
    sample_query: str | None = None,
) -> SuiteOutcome:
    """GX on what the aggregates leave to it: the schema suite on a sample of whole rows, the rows
    suite on every row of the failing days. The outcome counts every screened row."""
    return audit_fetched(
        lambda text, params: con.execute(text, params).df(),
        query,
        days,
        suites,
        max_rows,
        rows_per_day,
        failing_days,
        sample_query,
    )


def audit_fetched(
    fetch: Callable[[str, dict[str, Any]], Any],
    query: str,
    days: list[dt.date],
    suites: TableSuites,
    max_rows: int,
    rows_per_day: list[tuple[dt.date, int]],
    failing_days: list[dt.date],
    sample_query: str | None = None,
) -> SuiteOutcome:
    """`audit_screened` with the rows fetched by `fetch(sql, params)` -> a pandas frame (DuckDB
    SQL, which the Spark engine transpiles and runs)."""
    outcome = SuiteOutcome(suite=suites.name)
    if not rows_per_day:
        return outcome
    sample = fetch(f"SELECT * FROM ({sample_query or query}) LIMIT {SAMPLE_ROWS}", {"days": days})
    validate_frame(sample, suites.schema, f"sample of {len(sample)} rows", outcome, count_rows=False)
    outcome.rows = sum(n for _, n in rows_per_day)
    outcome.batches = len(rows_per_day)
    outcome.expectations_evaluated += len(suites.rows.expectations) * len(rows_per_day)
    failing = set(failing_days)
    columns = ", ".join(suites.row_columns)  # constants of the suites module, not input
    for batch in day_batches([(d, n) for d, n in rows_per_day if d in failing], max_rows):
        frame = fetch(f"SELECT {columns} FROM ({query})", {"days": batch})
        name = batch[0].isoformat() if len(batch) == 1 else f"{batch[0]}..{batch[-1]}"
        before = outcome.rows, outcome.batches
        validate_frame(frame, suites.rows, name, outcome)
        outcome.rows, outcome.batches = before
    return outcome
