"""CDNOW-style transaction logs: whitespace-separated `customer_id date quantity amount`.

`date` is YYYYMMDD, so a first line whose second field is not eight digits (such as
`customer_id date quantity amount`) is a header and skipped (customer ids may be any text); data lines are numbered from
the first line after it (from line 1 of the file when there is no header). Blank lines
count as lines and are skipped.

Every line is one purchase: user_id = customer_id, event_time = the day at 00:00 UTC,
product_id 'cdnow' (the log has no products), quantity as is, price = amount / quantity
(rounded to 6 decimals; raw amount when quantity is not a positive integer, so staging
quarantines the row for its quantity), order_id = '<customer>-<date>-<line>', no session.
An unparseable date is passed through raw (quarantined as unparseable_event_time). If the first
data line does not have four fields the file is not a CDNOW log (ImportFailed); a later line
that does not have exactly four fields cannot be mapped and goes to
landing/import_rejects/cdnow_<stem>.csv with reason 'expected 4 whitespace-separated fields'.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from shop_pipeline.sources.adapter import ISO_UTC, FormatAdapter, ImportFailed

NAME = "cdnow"


def convert(con: duckdb.DuckDBPyConnection, path: Path, stem: str) -> dict[str, int]:
    try:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE cdnow_lines AS
            SELECT row_number() OVER () AS physical, rtrim(line_text, chr(13)) AS line_text
            FROM read_csv($path, columns = {'line_text': 'VARCHAR'}, header = false, auto_detect = false,
                          delim = chr(1), quote = '', escape = '')
            """,
            {"path": str(path)},
        )
    except duckdb.Error as exc:
        raise ImportFailed(f"{path}: cannot read it as text: {str(exc).splitlines()[0]}") from exc
    first = con.execute("SELECT line_text FROM cdnow_lines WHERE physical = 1").fetchall()
    first_fields = (first[0][0] or "").split() if first else []
    header = bool(first_fields) and not (len(first_fields) >= 2 and re.fullmatch(r"\d{8}", first_fields[1]))
    data = con.execute(
        "SELECT physical, regexp_split_to_array(trim(line_text), '\\s+') FROM cdnow_lines "
        "WHERE physical > $skip AND trim(coalesce(line_text, '')) <> '' ORDER BY physical LIMIT 1",
        {"skip": 1 if header else 0},
    ).fetchall()
    if data and len(data[0][1]) != 4:
        raise ImportFailed(
            f"{path}: line {data[0][0]}: not a cdnow file: expected 4 whitespace-separated fields "
            f"`customer_id date quantity amount`, found {len(data[0][1])}"
        )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE converted AS
        WITH src AS (
            SELECT physical - $skip AS line, line_text,
                   regexp_split_to_array(trim(line_text), '\\s+') AS f
            FROM cdnow_lines
            WHERE physical > $skip AND trim(coalesce(line_text, '')) <> ''
        ),
        typed AS (
            SELECT *,
                   len(f) = 4 AS ok,
                   try_strptime(f[2], '%Y%m%d') AS ts,
                   CASE WHEN regexp_full_match(f[3], '[+]?[0-9]{{1,9}}') THEN try_cast(f[3] AS BIGINT) END AS qty,
                   try_cast(f[4] AS DOUBLE) AS amount
            FROM src
        )
        SELECT
            line,
            CASE WHEN ok THEN CAST(ts AS DATE) END AS day,
            CASE WHEN ok THEN $prefix || line ELSE line_text END AS event_id,
            CASE WHEN ok THEN coalesce(strftime(ts, {ISO_UTC}), f[2]) END AS event_time,
            CASE WHEN ok THEN 'purchase' END AS event_type,
            CASE WHEN ok THEN f[1] END AS user_id,
            CAST(NULL AS VARCHAR) AS session_id,
            CASE WHEN ok THEN 'cdnow' END AS product_id,
            CAST(NULL AS VARCHAR) AS category,
            CAST(NULL AS VARCHAR) AS brand,
            CASE WHEN NOT ok THEN NULL
                 WHEN qty > 0 AND amount IS NOT NULL THEN CAST(round(amount / qty, 6) AS VARCHAR)
                 ELSE f[4] END AS price,
            CASE WHEN ok THEN f[3] END AS quantity,
            CASE WHEN ok THEN f[1] || '-' || f[2] || '-' || line END AS order_id,
            CASE WHEN NOT ok THEN 'expected 4 whitespace-separated fields, found ' || len(f) END AS reject_reason
        FROM typed
        """,
        {"prefix": f"{NAME}:{stem}:", "skip": 1 if header else 0},
    )
    return {}


ADAPTER = FormatAdapter(NAME, convert)
