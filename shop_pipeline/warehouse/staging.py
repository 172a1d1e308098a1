"""Staging: typed, validated, deduplicated events (write-audit-publish).

`stage_days` computes staged_rows for some days (see sql/stage_events.sql) without
touching published tables; the caller audits them (conservation, expectation suite),
then `publish_staging` replaces those days in staging.* and updates the file manifest in
one transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from shop_pipeline import sql
from shop_pipeline.contracts import EVENT_TYPES
from shop_pipeline.warehouse.connection import transaction


@dataclass(frozen=True)
class StagingRules:
    max_lateness_days: int = 3
    future_tolerance_minutes: int = 60
    max_price: float = 100_000.0
    max_quantity: int = 1_000
    event_types: tuple[str, ...] = EVENT_TYPES


def stage_days(con: duckdb.DuckDBPyConnection, days: list[dt.date], rules: StagingRules) -> None:
    con.execute(
        sql.load("stage_events"),
        {
            "days": days,
            "event_types": list(rules.event_types),
            "max_lateness_days": rules.max_lateness_days,
            "future_tolerance_minutes": rules.future_tolerance_minutes,
            "max_price": rules.max_price,
            "max_quantity": rules.max_quantity,
        },
    )
    con.execute(_STAGED_CLEAN)
    con.execute(_STAGED_QUARANTINE, {"days": days})
    con.execute(_STAGED_DUPLICATES)


_STAGED_CLEAN = """
CREATE OR REPLACE TEMP TABLE staged_clean AS
SELECT partition_date, event_id, event_time_utc AS event_time, event_type, user_id, session_id,
       product_id, category, brand, price_value AS price, quantity_value AS quantity, order_id,
       event_time_utc < day_start AS is_late, source_file, line, ingested_at
FROM staged_rows
WHERE reason_code IS NULL AND duplicate_kind IS NULL
"""

# Rows the reader rejected are quarantined next to rows that broke a typed rule.
_STAGED_QUARANTINE = """
CREATE OR REPLACE TEMP TABLE staged_quarantine AS
SELECT partition_date, source_file, line, event_id,
       to_json({
           'event_id': event_id, 'event_time': event_time, 'event_type': event_type,
           'user_id': user_id, 'session_id': session_id, 'product_id': product_id,
           'category': category, 'brand': brand, 'price': price, 'quantity': quantity,
           'order_id': order_id
       })::VARCHAR AS raw_record,
       reason_code, reason
FROM staged_rows
WHERE reason_code IS NOT NULL
UNION ALL
SELECT partition_date, source_file, line, NULL AS event_id, raw_record, reason_code, reason
FROM raw.rejected_lines
WHERE list_contains($days, partition_date)
"""

_STAGED_DUPLICATES = """
CREATE OR REPLACE TEMP TABLE staged_duplicates AS
SELECT partition_date, source_file, line, event_id, duplicate_kind, kept_source_file, kept_line
FROM staged_rows
WHERE reason_code IS NULL AND duplicate_kind IS NOT NULL
"""

_FILE_COUNTS = """
WITH counts AS (
    SELECT source_file, partition_date,
           count(*) FILTER (WHERE kind = 'clean') AS rows_clean,
           count(*) FILTER (WHERE kind = 'quarantined') AS rows_quarantined,
           count(*) FILTER (WHERE kind = 'duplicate') AS rows_duplicate,
           min(event_time) AS first_event_time,
           max(event_time) AS last_event_time
    FROM (
        SELECT source_file, partition_date, 'clean' AS kind, event_time FROM staged_clean
        UNION ALL
        SELECT source_file, partition_date, 'quarantined', NULL FROM staged_quarantine
        UNION ALL
        SELECT source_file, partition_date, 'duplicate', NULL FROM staged_duplicates
    )
    GROUP BY ALL
)
SELECT f.path, f.partition_date, f.status, f.rows_read,
       CASE WHEN f.status = 'ingested' THEN coalesce(c.rows_clean, 0) ELSE 0 END AS rows_clean,
       CASE WHEN f.status = 'ingested' THEN coalesce(c.rows_quarantined, 0) ELSE 0 END AS rows_quarantined,
       CASE WHEN f.status = 'ingested' THEN coalesce(c.rows_duplicate, 0) ELSE f.rows_duplicate END AS rows_duplicate,
       c.first_event_time, c.last_event_time
FROM raw.ingested_files AS f
LEFT JOIN counts AS c ON c.source_file = f.path AND c.partition_date = f.partition_date
WHERE list_contains($days, f.partition_date)
ORDER BY f.partition_date, f.path
"""


def file_counts(con: duckdb.DuckDBPyConnection, days: list[dt.date]) -> pd.DataFrame:
    """Per landed file of `days`: rows read and what became of them in the staged batch."""
    return con.execute(_FILE_COUNTS, {"days": days}).df()


def conservation_breaks(counts: pd.DataFrame) -> pd.DataFrame:
    """Files where rows read != clean + quarantined + duplicates (failed files read nothing)."""
    readable = counts[counts["status"] != "failed"]
    total = readable["rows_clean"] + readable["rows_quarantined"] + readable["rows_duplicate"].fillna(0)
    return readable[readable["rows_read"].fillna(-1) != total]


def publish_staging(con: duckdb.DuckDBPyConnection, days: list[dt.date], counts: pd.DataFrame) -> None:
    with transaction(con):
        for table, staged in (
            ("staging.events", "staged_clean"),
            ("staging.quarantined_events", "staged_quarantine"),
            ("staging.duplicate_events", "staged_duplicates"),
        ):
            con.execute(f"DELETE FROM {table} WHERE list_contains($days, partition_date)", {"days": days})
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {staged} ORDER BY partition_date, source_file, line")
        con.register("staged_file_counts", counts)
        con.execute(
            """
            UPDATE raw.ingested_files AS f
            SET rows_clean = c.rows_clean, rows_quarantined = c.rows_quarantined,
                rows_duplicate = c.rows_duplicate, first_event_time = c.first_event_time,
                last_event_time = c.last_event_time
            FROM staged_file_counts AS c
            WHERE f.path = c.path AND f.partition_date = c.partition_date
            """
        )
        con.unregister("staged_file_counts")
