"""RetailRocket-style events: `timestamp,visitorid,event,itemid,transactionid`.

`timestamp` is epoch milliseconds (UTC). event: view -> view, addtocart -> cart,
transaction -> purchase with order_id = transactionid; any other value is passed through
and quarantined by staging as unknown_event_type. user_id = visitorid, product_id = itemid,
quantity 1, no session (the data has none). The events file has no prices: price is '0'
for every event, so revenue from this source is zero.

Item-properties files (`timestamp,itemid,property,value`, e.g. item_properties_part1.csv and
_part2.csv) may be given among the paths: they are not landed, but give each event its
category, the item's `categoryid` property as of the event's time (the latest value at or
before it; none known yet -> no category). The category-tree file is not used (its
`categoryid,parentid` header is refused like any other file that is not an events file). A timestamp that is not an integer number of
milliseconds is passed through raw (quarantined as unparseable_event_time).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from shop_pipeline.sources.importer import (
    CSV_READ,
    ISO_UTC,
    ImportFailed,
    csv_header,
    csv_params,
    quote_ident,
    require_columns,
)

NAME = "retailrocket"
COLUMNS = ("timestamp", "visitorid", "event", "itemid", "transactionid")
PROPERTY_COLUMNS = ("timestamp", "itemid", "property", "value")


def prepare(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> list[Path]:
    """Load the item-properties files among `paths` into rr_item_category; return the others."""
    events: list[Path] = []
    properties: list[tuple[Path, list[str]]] = []
    for path in paths:
        found = csv_header(path)
        if {c.lower() for c in found} >= set(PROPERTY_COLUMNS) and "visitorid" not in {c.lower() for c in found}:
            properties.append((path, found))
        else:
            events.append(path)
    con.execute("CREATE OR REPLACE TEMP TABLE rr_item_category (itemid VARCHAR, ts TIMESTAMP, categoryid VARCHAR)")
    for path, found in properties:
        cols = require_columns(path, found, NAME + " item-properties", {c: (c,) for c in PROPERTY_COLUMNS})
        c = {k: f"nullif(trim({quote_ident(v)}), '')" for k, v in cols.items()}
        try:
            con.execute(
                f"""INSERT INTO rr_item_category
                    SELECT {c['itemid']}, make_timestamp(CAST({c['timestamp']} AS BIGINT) * 1000), {c['value']}
                    FROM {CSV_READ}
                    WHERE {c['property']} = 'categoryid' AND regexp_full_match({c['timestamp']}, '[0-9]{{1,15}}')
                      AND {c['itemid']} IS NOT NULL""",
                csv_params(path, found),
            )
        except duckdb.Error as exc:
            raise ImportFailed(f"{path}: not a well-formed item-properties file: {str(exc).splitlines()[0]}") from exc
    # one value per item and time, whatever order the files came in
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rr_item_category AS "
        "SELECT itemid, ts, max(categoryid) AS categoryid FROM rr_item_category GROUP BY itemid, ts"
    )
    if properties and not events:
        raise ImportFailed("item-properties files given without a RetailRocket events file: "
                           + ", ".join(str(p) for p, _ in properties))
    return events


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
                        THEN make_timestamp(CAST({c['timestamp']} AS BIGINT) * 1000) END AS ts,
                   {c['itemid']} AS item_key
            FROM src
        ),
        categorized AS (
            SELECT t.*, p.categoryid
            FROM typed AS t
            ASOF LEFT JOIN rr_item_category AS p ON t.item_key = p.itemid AND t.ts >= p.ts
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
            categoryid AS category,
            CAST(NULL AS VARCHAR) AS brand,
            '0' AS price,
            '1' AS quantity,
            CASE WHEN {c['event']} = 'transaction' THEN {c['transactionid']} END AS order_id,
            CAST(NULL AS VARCHAR) AS reject_reason
        FROM categorized
        ORDER BY line
        """,
        {**csv_params(path, found), "prefix": f"{NAME}:{stem}:"},
    )
    return {}
