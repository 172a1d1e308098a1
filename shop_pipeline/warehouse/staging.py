"""Staging: typed, validated, deduplicated events (write-audit-publish).

`stage_days` computes staged_rows for some days in one pass over their raw rows (see
sql/stage_events.sql) without touching published tables; the caller audits them
(conservation, expectation suite), then `publish_staging` replaces those days in staging.*
and updates the file manifest in one transaction.

`days_to_stage` says which days of a run need staging at all: a day whose landed files
(paths, bytes, verdicts), rules and staging code are what its published rows were staged
from keeps them; a day holding duplicates of a file that changed is staged again too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass

import duckdb
import pandas as pd

from shop_pipeline import sql
from shop_pipeline.contracts import EVENT_TYPES
from shop_pipeline.warehouse.connection import transaction, unordered_inserts


@dataclass(frozen=True)
class StagingRules:
    max_lateness_days: int = 3
    future_tolerance_minutes: int = 60
    max_price: float = 100_000.0
    max_quantity: int = 1_000
    event_types: tuple[str, ...] = EVENT_TYPES


def stage_events_params(days: list[dt.date], rules: StagingRules) -> dict:
    """The parameters of sql/stage_events.sql, the same on both engines."""
    return {
        "days": days,
        "event_types": list(rules.event_types),
        "max_lateness_days": rules.max_lateness_days,
        "future_tolerance_minutes": rules.future_tolerance_minutes,
        "max_price": rules.max_price,
        "max_quantity": rules.max_quantity,
    }


def stage_days(con: duckdb.DuckDBPyConnection, days: list[dt.date], rules: StagingRules) -> None:
    """Compute staged_rows for `days` (one pass over their raw rows) and the staged_* views and tables."""
    has_others = con.execute(
        "SELECT EXISTS (SELECT 1 FROM raw.events WHERE NOT list_contains($days, partition_date))", {"days": days}
    ).fetchall()[0][0]
    others = sql.load("stage_events_others") if has_others else "SELECT * FROM raw.events LIMIT 0"
    con.execute(sql.load("stage_files"))
    con.execute(
        sql.load("stage_events").replace("{others}", others),
        stage_events_params(days, rules),
    )
    con.execute(sql.load("stage_duplicates"))
    con.execute(_STAGED_CLEAN)
    con.execute(_STAGED_QUARANTINE, {"days": days})
    con.execute(_STAGED_DUPLICATES)
    stage_fingerprints(con, days, rules)


def stage_fingerprints(con: duckdb.DuckDBPyConnection, days: list[dt.date], rules: StagingRules) -> None:
    """staged_day_fingerprints: what the staged rows of `days` follow from (the manifest's files,
    the rules, the staging code), recorded by `record_staging`. Computed in the DuckDB file in
    both engines: the manifest lives there, and the stored fingerprints are compared as text."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE staged_day_fingerprints AS "
        "SELECT * FROM (" + _DAY_FINGERPRINTS + ") WHERE list_contains($days, partition_date)",
        {"days": days, "salt": _salt(rules)},
    )


# The clean rows are a view (the big table is written once, when published); quarantine and
# duplicates are small.
_STAGED_CLEAN = """
CREATE OR REPLACE TEMP VIEW staged_clean AS
SELECT s.partition_date, s.event_id, s.event_time, s.event_type, s.user_id, s.session_id, s.product_id, s.category,
       s.brand, s.price, s.quantity, s.order_id, s.is_late, s.source_file, s.line, s.ingested_at
FROM staged_rows AS s
ANTI JOIN staged_duplicates_found AS d ON d.arrival = s.arrival
WHERE s.is_current AND s.reason_code IS NULL
"""

# Rows the reader rejected are quarantined next to rows that broke a typed rule.
_STAGED_QUARANTINE = """
CREATE OR REPLACE TEMP TABLE staged_quarantine AS
SELECT partition_date, source_file, line, event_id, raw_record, reason_code, reason
FROM staged_rows
WHERE is_current AND reason_code IS NOT NULL
UNION ALL
SELECT partition_date, source_file, line, NULL AS event_id, raw_record, reason_code, reason
FROM raw.rejected_lines
WHERE list_contains($days, partition_date)
"""

_STAGED_DUPLICATES = """
CREATE OR REPLACE TEMP TABLE staged_duplicates AS
SELECT partition_date, source_file, line, event_id, duplicate_kind, kept_source_file, kept_line
FROM staged_duplicates_found
"""

# The staged statements of stage_days beyond the sql/ files, in order (Spark mode runs them too).
STAGED_STATEMENTS = (_STAGED_CLEAN, _STAGED_QUARANTINE, _STAGED_DUPLICATES)

# Per (file, day) of the staged batch: its clean, quarantined and duplicate rows.
STAGED_COUNTS = """
    SELECT source_file, partition_date,
           count(*) FILTER (WHERE kind = 'clean') AS rows_clean,
           count(*) FILTER (WHERE kind = 'quarantined') AS rows_quarantined,
           count(*) FILTER (WHERE kind = 'duplicate') AS rows_duplicate,
           min(event_time) FILTER (WHERE kind = 'clean') AS first_event_time,
           max(event_time) FILTER (WHERE kind = 'clean') AS last_event_time
    FROM (
        SELECT source_file, partition_date, event_time, 'clean' AS kind FROM staged_clean
        UNION ALL
        SELECT source_file, partition_date, NULL, 'quarantined' FROM staged_quarantine
        UNION ALL
        SELECT source_file, partition_date, NULL, 'duplicate' FROM staged_duplicates
    )
    GROUP BY ALL
"""

_COUNTS_BY_FILE = """
SELECT f.path, f.partition_date, f.status, f.rows_read,
       CASE WHEN f.status = 'ingested' THEN coalesce(c.rows_clean, 0) ELSE 0 END AS rows_clean,
       CASE WHEN f.status = 'ingested' THEN coalesce(c.rows_quarantined, 0) ELSE 0 END AS rows_quarantined,
       CASE WHEN f.status = 'ingested' THEN coalesce(c.rows_duplicate, 0) ELSE f.rows_duplicate END AS rows_duplicate,
       coalesce(f.rows_erased, 0) AS rows_erased, c.first_event_time, c.last_event_time
FROM raw.ingested_files AS f
LEFT JOIN counts AS c ON c.source_file = f.path AND c.partition_date = f.partition_date
WHERE list_contains($days, f.partition_date)
ORDER BY f.partition_date, f.path
"""

_FILE_COUNTS = "\nWITH counts AS (" + STAGED_COUNTS + ")" + _COUNTS_BY_FILE

# Per day: what its staged rows follow from (the landed files' paths, bytes and verdicts, when
# they were first ingested, and $salt: the rules and the staging code).
_DAY_FINGERPRINTS = """
SELECT partition_date,
       md5($salt || string_agg(
           concat_ws('|', path, coalesce(sha256, ''), status, CAST(ingested_at AS VARCHAR)), ';' ORDER BY path
       )) AS fingerprint
FROM raw.ingested_files
GROUP BY partition_date
"""

_STALE_DAYS = (
    """
WITH current AS (
    SELECT * FROM ("""
    + _DAY_FINGERPRINTS
    + """) WHERE list_contains($days, partition_date)
),
changed AS (
    SELECT c.partition_date FROM current AS c
    LEFT JOIN staging.staged_days AS s USING (partition_date)
    WHERE s.fingerprint IS DISTINCT FROM c.fingerprint
)
SELECT partition_date FROM changed
UNION
-- days whose duplicates point at a file of a changed day: what they repeated may be gone
SELECT d.partition_date FROM staging.duplicate_events AS d
WHERE list_contains($days, d.partition_date)
  AND d.kept_source_file IN (
      SELECT path FROM raw.ingested_files WHERE partition_date IN (SELECT partition_date FROM changed)
  )
ORDER BY 1
"""
)


def _salt(rules: StagingRules) -> str:
    code = "".join(
        sql.load(name) for name in ("stage_files", "stage_events", "stage_events_others", "stage_duplicates")
    )
    return hashlib.sha256((json.dumps(asdict(rules), sort_keys=True) + code).encode()).hexdigest()[:16]


# The changed part of _STALE_DAYS alone (Spark mode finds the days whose duplicates point at a
# changed day's files on the lake, where its staging.duplicate_events is).
_CHANGED_DAYS = (
    """
WITH current AS (
    SELECT * FROM ("""
    + _DAY_FINGERPRINTS
    + """) WHERE list_contains($days, partition_date)
)
SELECT c.partition_date FROM current AS c
LEFT JOIN staging.staged_days AS s USING (partition_date)
WHERE s.fingerprint IS DISTINCT FROM c.fingerprint
ORDER BY 1
"""
)


def changed_days(con: duckdb.DuckDBPyConnection, days: list[dt.date], rules: StagingRules) -> list[dt.date]:
    """The days of `days` whose landed files, rules or staging code changed since they were staged
    (without the days holding duplicates of their files: see `days_to_stage`)."""
    return [r[0] for r in con.execute(_CHANGED_DAYS, {"days": days, "salt": _salt(rules)}).fetchall()]


def files_of_days(con: duckdb.DuckDBPyConnection, days: list[dt.date]) -> list[str]:
    """The manifest's paths of the files of `days`."""
    return [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT path FROM raw.ingested_files WHERE list_contains($days, partition_date) ORDER BY 1",
            {"days": days},
        ).fetchall()
    ]


def days_to_stage(con: duckdb.DuckDBPyConnection, days: list[dt.date], rules: StagingRules) -> list[dt.date]:
    """The days of `days` whose landed files, rules or staging code changed since they were staged."""
    return [r[0] for r in con.execute(_STALE_DAYS, {"days": days, "salt": _salt(rules)}).fetchall()]


def file_counts(con: duckdb.DuckDBPyConnection, days: list[dt.date]) -> pd.DataFrame:
    """Per landed file of `days`: rows read and what became of them in the staged batch."""
    return con.execute(_FILE_COUNTS, {"days": days}).df()


def file_counts_of(con: duckdb.DuckDBPyConnection, days: list[dt.date], staged_counts: pd.DataFrame) -> pd.DataFrame:
    """`file_counts` from per-(file, day) counts computed elsewhere (STAGED_COUNTS run by Spark over
    its staged views): the same join with the manifest, in the DuckDB file that holds it."""
    con.register("staged_counts_frame", staged_counts)
    try:
        return con.execute(
            "\nWITH counts AS (SELECT * FROM staged_counts_frame)" + _COUNTS_BY_FILE, {"days": days}
        ).df()
    finally:
        con.unregister("staged_counts_frame")


def published_file_counts(con: duckdb.DuckDBPyConnection, days: list[dt.date]) -> pd.DataFrame:
    """Per landed file of `days`: the counts its last staging recorded in the manifest."""
    return con.execute(
        """SELECT path, partition_date, status, rows_read,
                  coalesce(rows_clean, 0) AS rows_clean, coalesce(rows_quarantined, 0) AS rows_quarantined,
                  rows_duplicate, coalesce(rows_erased, 0) AS rows_erased, first_event_time, last_event_time
           FROM raw.ingested_files WHERE list_contains($days, partition_date) ORDER BY partition_date, path""",
        {"days": days},
    ).df()


def conservation_breaks(counts: pd.DataFrame) -> pd.DataFrame:
    """Files where rows read != clean + quarantined + duplicates + erased (failed files read nothing;
    a retracted file's rows were removed on purpose, see warehouse/retract.py, and an expired one's
    by the retention purge, warehouse/expire.py; erased: rows of customers with a tombstone, or
    before the retention cut-off, dropped at ingestion, see warehouse/erase.py)."""
    readable = counts[~counts["status"].isin(["failed", "retracted", "expired"])]
    erased = readable["rows_erased"].fillna(0) if "rows_erased" in readable else 0
    total = readable["rows_clean"] + readable["rows_quarantined"] + readable["rows_duplicate"].fillna(0) + erased
    return readable[readable["rows_read"].fillna(-1) != total]


def publish_staging(con: duckdb.DuckDBPyConnection, days: list[dt.date], counts: pd.DataFrame) -> None:
    with transaction(con), unordered_inserts(con):
        for table, staged in (
            ("staging.events", "staged_clean"),
            ("staging.quarantined_events", "staged_quarantine"),
            ("staging.duplicate_events", "staged_duplicates"),
        ):
            con.execute(f"DELETE FROM {table} WHERE list_contains($days, partition_date)", {"days": days})
            # the small tables sorted; staging.events as it comes (sorting millions of rows would
            # cost more than the write; the rows' order carries no meaning)
            order = "" if table == "staging.events" else " ORDER BY partition_date, source_file, line"
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {staged}{order}")
        _record(con, days, counts)


def record_staging(con: duckdb.DuckDBPyConnection, days: list[dt.date], counts: pd.DataFrame) -> None:
    """The manifest side of a publish, in one transaction: the files' counts in raw.ingested_files
    and the days' fingerprints (staged_day_fingerprints) in staging.staged_days. Spark mode calls
    it after its lake writes (the staged rows themselves live on the lake there)."""
    with transaction(con):
        _record(con, days, counts)


def _record(con: duckdb.DuckDBPyConnection, days: list[dt.date], counts: pd.DataFrame) -> None:
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
    con.execute("DELETE FROM staging.staged_days WHERE list_contains($days, partition_date)", {"days": days})
    con.execute("INSERT INTO staging.staged_days BY NAME SELECT * FROM staged_day_fingerprints")
