"""Auditing a staged batch with a GX suite, a group of days at a time.

GX's cost is mostly fixed per validation, so days are grouped into frames of up to
`max_rows` rows (memory stays bounded, and a 90-day backfill is a handful of validations
instead of ninety). Per-day rules are handed to GX as columns computed in DuckDB
(hours after the partition start, catalog membership), so grouping changes no verdict.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from shop_pipeline.quality.suites import TableSuites
from shop_pipeline.quality.validator import SuiteOutcome, validate_frame

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


def audit_days(
    con: duckdb.DuckDBPyConnection, table: str, query: str, days: list[dt.date], suites: TableSuites, max_rows: int
) -> SuiteOutcome:
    """Validate the rows of `days` (selected from `table` by `query`, which takes $days).

    The schema suite runs once on a sample of whole rows; the rows suite on every row of
    the columns it reads, in groups of days of at most max_rows rows.
    """
    counts = con.execute(
        f"SELECT partition_date, count(*) FROM {table} WHERE list_contains($days, partition_date) GROUP BY 1",
        {"days": days},
    ).fetchall()
    outcome = SuiteOutcome(suite=suites.name)
    if not counts:
        return outcome
    sample = con.execute(f"SELECT * FROM ({query}) LIMIT {SAMPLE_ROWS}", {"days": days}).df()
    validate_frame(sample, suites.schema, f"sample of {len(sample)} rows", outcome, count_rows=False)
    columns = ", ".join(suites.row_columns)  # constants of the suites module, not input
    for batch in day_batches(counts, max_rows):
        frame = con.execute(f"SELECT {columns} FROM ({query})", {"days": batch}).df()
        name = batch[0].isoformat() if len(batch) == 1 else f"{batch[0]}..{batch[-1]}"
        validate_frame(frame, suites.rows, name, outcome)
    return outcome
