"""REES46-style multi-category store events (e.g. the public "eCommerce behavior data").

Columns: event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
with event_time like `2019-10-01 00:00:00 UTC` (any ISO-8601 time with or without an
offset is accepted too; a time without an offset is UTC).

Mapping: event_type as is (view, cart, remove_from_cart, purchase; anything else is passed
through and quarantined by staging as unknown_event_type); category = category_code, or
category_id when the code is empty; session_id = user_session; quantity 1; order_id of a
purchase = user_session (one order per session; a purchase without a session is
quarantined as missing_order_id). An unparseable event_time is passed through as its raw
text (quarantined as unparseable_event_time). A line that repeats the header in the middle of
the file (files concatenated with their headers) goes to import_rejects ('repeated header line').
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from shop_pipeline.sources.adapter import (
    CSV_READ,
    ISO_UTC,
    FormatAdapter,
    csv_header,
    csv_params,
    quote_ident,
    raw_record_sql,
    repeated_header_sql,
    require_columns,
)

NAME = "rees46"
COLUMNS = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)


def convert(con: duckdb.DuckDBPyConnection, path: Path, stem: str) -> dict[str, int]:
    found = csv_header(path)
    cols = require_columns(path, found, NAME, {c: (c,) for c in COLUMNS})
    c = {k: f"nullif(trim({quote_ident(v)}), '')" for k, v in cols.items()}
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE converted AS
        WITH src AS (
            SELECT row_number() OVER () AS line, *
            FROM {CSV_READ}
        ),
        typed AS (
            SELECT *, try_cast({c["event_time"]} AS TIMESTAMPTZ) AS ts,
                   {repeated_header_sql(found)} AS repeated_header
            FROM src
        )
        SELECT
            line,
            CAST(ts AT TIME ZONE 'UTC' AS DATE) AS day,
            CASE WHEN repeated_header THEN {raw_record_sql(found)} ELSE $prefix || line END AS event_id,
            CASE WHEN ts IS NULL THEN {c["event_time"]} ELSE strftime(ts AT TIME ZONE 'UTC', {ISO_UTC}) END
                AS event_time,
            {c["event_type"]} AS event_type,
            {c["user_id"]} AS user_id,
            {c["user_session"]} AS session_id,
            {c["product_id"]} AS product_id,
            coalesce({c["category_code"]}, {c["category_id"]}) AS category,
            {c["brand"]} AS brand,
            {c["price"]} AS price,
            '1' AS quantity,
            CASE WHEN {c["event_type"]} = 'purchase' THEN {c["user_session"]} END AS order_id,
            CASE WHEN repeated_header THEN 'repeated header line' END AS reject_reason
        FROM typed
        """,
        {**csv_params(path, found), "prefix": f"{NAME}:{stem}:", "header": found},
    )
    return {}


ADAPTER = FormatAdapter(NAME, convert)
