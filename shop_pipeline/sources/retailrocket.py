"""RetailRocket-style events: `timestamp,visitorid,event,itemid,transactionid`.

`timestamp` is epoch milliseconds (UTC). event: view -> view, addtocart -> cart,
transaction -> purchase with order_id = transactionid; any other value is passed through
and quarantined by staging as unknown_event_type. user_id = visitorid, product_id = itemid,
quantity 1, no session (the data has none). The events file has no prices: price is '0'
for every event, so revenue from this source is zero (the optional item-properties and
category-tree files are not read). A timestamp that is not an integer number of
milliseconds is passed through raw (quarantined as unparseable_event_time).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from shop_pipeline.sources.importer import CSV_READ, ISO_UTC, csv_header, csv_params, quote_ident, require_columns

NAME = "retailrocket"
COLUMNS = ("timestamp", "visitorid", "event", "itemid", "transactionid")


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
            SELECT *,
                   CASE WHEN regexp_full_match({c['timestamp']}, '[0-9]{{1,15}}')
                        THEN make_timestamp(CAST({c['timestamp']} AS BIGINT) * 1000) END AS ts
            FROM src
        )
        SELECT
            line,
            CAST(ts AS DATE) AS day,
            $prefix || line AS event_id,
            coalesce(strftime(ts, {ISO_UTC}), {c['timestamp']}) AS event_time,
            CASE {c['event']} WHEN 'view' THEN 'view' WHEN 'addtocart' THEN 'cart'
                 WHEN 'transaction' THEN 'purchase' ELSE {c['event']} END AS event_type,
            {c['visitorid']} AS user_id,
            CAST(NULL AS VARCHAR) AS session_id,
            {c['itemid']} AS product_id,
            CAST(NULL AS VARCHAR) AS category,
            CAST(NULL AS VARCHAR) AS brand,
            '0' AS price,
            '1' AS quantity,
            CASE WHEN {c['event']} = 'transaction' THEN {c['transactionid']} END AS order_id,
            CAST(NULL AS VARCHAR) AS reject_reason
        FROM typed
        """,
        {**csv_params(path, found), "prefix": f"{NAME}:{stem}:"},
    )
    return {}
