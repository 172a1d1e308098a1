"""Purging expired events from the warehouse (the table part of the retention purge, retention.py).

An event expires when its day is before the cut-off (today minus `retention_days`, UTC): a row
expires when its landed file is dated before the cut-off, or its event_time is before it (a late
event in a later file); a line that is no row (rejected, unparseable) by its file's day. In one
transaction `expire_rows` removes, with the mechanics of an erasure (warehouse/erase.py):
  - the expired rows of raw, staging, quarantine, duplicates and rejected lines, and the lines
    the landing rewrite removed from later files;
  - the feature and score rows about expired days (product-days, orders, order-risk scores,
    customer-product pairs last seen before the cut-off) and the API's logged answers before it;
  - every row of the customers left with no event at all, by customer, session and order, as
    `forget` erases them (features, scores, recommendations, labels);
  - the feature builds' records, so that the next build recomputes every feature row (and with
    it the scores) from the events that remain: no aggregate keeps counting an expired event;
and records the files dated before the cut-off as `expired` (their bytes are not read again), the
rewritten files' new bytes (not a new file version, as for an erasure) and the purge itself,
whose cut-off ingestion applies from then on (a re-landed old file brings nothing back).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import duckdb

from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import transaction
from shop_pipeline.warehouse.erase import (
    LandingRewrite,
    collect_keys,
    delete_rows_of,
    record_rewrites,
    warehouse_tables,
)

EXPIRED = "expired"
PURGES_TABLE = "privacy.retention_purges"
# DuckDB's reading of a landed event_time (as staging parses it, sql/stage_events.sql)
_EVENT_TIME = "make_timestamp(epoch_us(try_cast(event_time AS TIMESTAMPTZ)))"
# Rows about expired days, by the column that dates them (tables missing in a warehouse are skipped).
DATED_ROWS = {
    "features.product_daily_sales": "day",
    "features.order_features": "order_time",
    "features.interactions": "last_interaction",
    "features.built_partitions": "partition_date",
    "scoring.order_risk_scores": "order_time",
    "monitoring.online_predictions": "logged_at",
    "raw.order_labels": "reported_on",
    "staging.staged_days": "partition_date",
}


@dataclass
class ExpiredRows:
    request_id: str
    cutoff: dt.date
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows removed
    customers_gone: int = 0  # customers left without any event, erased from every table

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def request_id_for(cutoff: dt.date) -> str:
    """One purge per cut-off: a re-run after a kill, or on the same day, is the same request."""
    return f"retention-{cutoff.isoformat()}"


def purge_status(con: duckdb.DuckDBPyConnection, request_id: str) -> str | None:
    ddl.create(con, PURGES_TABLE)
    row = con.execute("SELECT status FROM privacy.retention_purges WHERE request_id = ?", [request_id]).fetchone()
    return None if row is None else row[0]


def expired_lines(con: duckdb.DuckDBPyConnection, cutoff: dt.date) -> dict[str, frozenset[int]]:
    """Per landed file dated on or after the cut-off: its data lines holding an event before it
    (a copy recorded as duplicate_file has the lines of the file it copies: the same bytes)."""
    lines: dict[str, set[int]] = {}
    for path, line in con.execute(
        f"""SELECT source_file, line FROM raw.events WHERE partition_date >= $cutoff AND {_EVENT_TIME} < $cutoff
            UNION SELECT f.path, e.line FROM raw.ingested_files AS f
                  JOIN raw.events AS e ON e.source_file = f.duplicate_of
                  WHERE f.status = 'duplicate_file' AND f.partition_date >= $cutoff
                    AND make_timestamp(epoch_us(try_cast(e.event_time AS TIMESTAMPTZ))) < $cutoff
            ORDER BY 1, 2""",
        {"cutoff": cutoff},
    ).fetchall():
        lines.setdefault(path, set()).add(line)
    return {path: frozenset(numbers) for path, numbers in lines.items()}


def expire_rows(
    con: duckdb.DuckDBPyConnection,
    cutoff: dt.date,
    retention_days: int,
    rewrites: list[LandingRewrite],
    files_removed: int,
    now: dt.datetime,
) -> ExpiredRows:
    """Remove what expired before `cutoff` from every table, record the rewrites and the purge
    (one transaction: all of it, or nothing)."""
    ddl.create(con, PURGES_TABLE)
    request_id = request_id_for(cutoff)
    result = ExpiredRows(request_id=request_id, cutoff=cutoff)
    tables = warehouse_tables(con)
    params = {"cutoff": cutoff}
    with transaction(con):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE erase_lines AS "
            f"SELECT DISTINCT source_file, line FROM raw.events WHERE partition_date < $cutoff OR {_EVENT_TIME} < $cutoff "
            "UNION SELECT source_file, line FROM raw.rejected_lines WHERE partition_date < $cutoff",
            params,
        )
        removed = [(r.path, line) for r in rewrites for line in r.removed_lines]
        if removed:
            con.executemany("INSERT INTO erase_lines VALUES (?, ?)", removed)
        for table in ("raw.events", "raw.rejected_lines", "staging.quarantined_events", "staging.duplicate_events"):
            _count(result, table, _delete_lines(con, table, cutoff))
        _count(
            result,
            "staging.events",
            con.execute(
                "DELETE FROM staging.events AS t WHERE partition_date < $cutoff OR event_time < $cutoff OR EXISTS "
                "(SELECT 1 FROM erase_lines AS e WHERE e.source_file = t.source_file AND e.line = t.line)",
                params,
            ).fetchone()[0],
        )
        for table, column in DATED_ROWS.items():
            if column in tables.get(table, {}):
                _count(
                    result,
                    table,
                    con.execute(f'DELETE FROM {table} WHERE "{column}" < $cutoff', params).fetchone()[0],
                )
        result.customers_gone = _erase_customers_without_events(con, tables, result)
        # the next feature build recomputes every row from the events that remain
        con.execute("DELETE FROM features.table_builds")
        record_rewrites(con, rewrites)
        _recount_files(con, [r.path for r in rewrites])
        con.execute(
            """UPDATE raw.ingested_files SET status = $expired, rows_clean = 0, rows_quarantined = 0, rows_duplicate = 0,
                      error = 'expired: dated before the retention cut-off ' || strftime($cutoff, '%Y-%m-%d')
               WHERE partition_date < $cutoff AND status <> $expired""",
            {**params, "expired": EXPIRED},
        )
        con.execute(
            """INSERT INTO privacy.retention_purges
               VALUES ($request, $now, $cutoff, $days, $rows, $removed, $rewritten, 'rows_purged')
               ON CONFLICT DO NOTHING""",
            {
                "request": request_id,
                "now": now,
                "cutoff": cutoff,
                "days": retention_days,
                "rows": json.dumps(result.rows, sort_keys=True),
                "removed": files_removed,
                "rewritten": len(rewrites),
            },
        )
    return result


def mark_complete(con: duckdb.DuckDBPyConnection, request_id: str) -> None:
    con.execute("UPDATE privacy.retention_purges SET status = 'complete' WHERE request_id = ?", [request_id])


def _count(result: ExpiredRows, table: str, removed: int) -> None:
    if removed:
        result.rows[table] = result.rows.get(table, 0) + removed


def _delete_lines(con: duckdb.DuckDBPyConnection, table: str, cutoff: dt.date) -> int:
    return con.execute(
        f"DELETE FROM {table} AS t WHERE partition_date < $cutoff OR EXISTS "
        "(SELECT 1 FROM erase_lines AS e WHERE e.source_file = t.source_file AND e.line = t.line)",
        {"cutoff": cutoff},
    ).fetchone()[0]


def _erase_customers_without_events(
    con: duckdb.DuckDBPyConnection, tables: dict[str, dict[str, str]], result: ExpiredRows
) -> int:
    """The customers of the feature and score tables with no event left anywhere: every row of
    theirs goes, by customer, session and order, as an erasure removes a customer."""
    holders = [
        f'SELECT "{column}" FROM {table}'
        for table, columns in tables.items()
        if not table.startswith(("raw.", "staging."))
        for column in ("user_id", "customer_id")
        if column in columns
    ]
    if not holders:
        return 0
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE erase_customers AS
            SELECT DISTINCT id FROM ({" UNION ".join(holders)}) AS k(id)
            WHERE id IS NOT NULL AND id NOT IN (SELECT user_id FROM staging.events WHERE user_id IS NOT NULL
                                               UNION SELECT user_id FROM raw.events WHERE user_id IS NOT NULL)"""
    )
    gone = con.execute("SELECT count(*) FROM erase_customers").fetchone()[0]
    if not gone:
        return 0
    con.execute("DELETE FROM erase_lines")  # their lines went with the expired rows
    collect_keys(con, tables)
    for table, columns in tables.items():
        if table.startswith(("raw.", "staging.")):
            continue  # what is left there is not theirs
        _count(result, table, delete_rows_of(con, table, columns))
    return gone


def _recount_files(con: duckdb.DuckDBPyConnection, paths: list[str]) -> None:
    """The rewritten files' clean, quarantined and duplicate counts as their rows now are
    (conservation: read = clean + quarantined + duplicate + erased holds at once)."""
    if not paths:
        return
    con.execute(
        """UPDATE raw.ingested_files AS f SET
               rows_clean = (SELECT count(*) FROM staging.events AS e
                             WHERE e.source_file = f.path AND e.partition_date = f.partition_date),
               rows_quarantined = (SELECT count(*) FROM staging.quarantined_events AS q
                                   WHERE q.source_file = f.path AND q.partition_date = f.partition_date),
               rows_duplicate = (SELECT count(*) FROM staging.duplicate_events AS d
                                 WHERE d.source_file = f.path AND d.partition_date = f.partition_date)
           WHERE f.status = 'ingested' AND list_contains($paths, f.path)""",
        {"paths": paths},
    )
