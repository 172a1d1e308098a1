"""RetailRocket-style events: `timestamp,visitorid,event,itemid,transactionid`.

`timestamp` is epoch milliseconds (UTC). event: view -> view, addtocart -> cart,
transaction -> purchase with order_id = transactionid; any other value is passed through
and quarantined by staging as unknown_event_type. user_id = visitorid, product_id = itemid,
quantity 1, no session (the data has none). A timestamp that is not an integer number of
milliseconds is passed through raw (quarantined as unparseable_event_time); a line repeating
the header in the middle of the file goes to import_rejects ('repeated header line').

Side files are recognised among the paths by their header, whatever their names (details in
retailrocket_items.py); they are loaded, not landed:
- item properties (`timestamp,itemid,property,value`, e.g. item_properties_part1.csv and
  _part2.csv): each event gets the item's `categoryid` and its price (property `790`,
  `n5880.000` -> `5880.000`) valid at the event's time: the latest value at or before it,
  else (the event is older than every value, or its time is unparseable) the earliest known;
- the category tree (`categoryid,parentid`, category_tree.csv): the category is then the
  path from the root, `1016/213/1338`; without the tree it is the leaf id, `1338`. A
  category the tree does not list stays its leaf id (counted as `category_not_in_tree`).
Without a price (no property files, or none for the item) the price is '0', so revenue from
those events is zero. The report counts `with_category` and `with_price` when property files
were given. Property or tree files without an events file, a tree without property files
(it would have no category to place), or two tree files are an ImportFailed.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from shop_pipeline.sources import retailrocket_items as items
from shop_pipeline.sources.adapter import (
    CSV_READ,
    ISO_UTC,
    FormatAdapter,
    ImportFailed,
    csv_header,
    csv_params,
    quote_ident,
    raw_record_sql,
    repeated_header_sql,
    require_columns,
)

NAME = "retailrocket"
COLUMNS = ("timestamp", "visitorid", "event", "itemid", "transactionid")


def prepare(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> list[Path]:
    """Load the side files among `paths` into temp tables; return the events files."""
    by_kind: dict[str, list[tuple[Path, list[str]]]] = {"events": [], "properties": [], "tree": []}
    for path in paths:
        found = csv_header(path)
        by_kind[items.kind(found)].append((path, found))
    side = [p for k in ("properties", "tree") for p, _ in by_kind[k]]
    if side and not by_kind["events"]:
        raise ImportFailed(
            "item-properties / category-tree files given without a RetailRocket events file: "
            + ", ".join(map(str, side))
        )
    if by_kind["tree"] and not by_kind["properties"]:
        raise ImportFailed(
            f"{by_kind['tree'][0][0]}: a category tree needs the item-properties files "
            "(the events have no category of their own)"
        )
    if len(by_kind["tree"]) > 1:
        raise ImportFailed("more than one category-tree file: " + ", ".join(str(p) for p, _ in by_kind["tree"]))
    items.load_properties(con, by_kind["properties"])
    unknown_parents = None
    if by_kind["tree"]:
        unknown_parents = items.load_tree(con, *by_kind["tree"][0])["tree_unknown_parents"]
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE rr_category_path (categoryid VARCHAR, path VARCHAR)")
    # what was given, for convert()'s report: kept in the import's own connection
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rr_side_files AS SELECT $properties AS properties, $tree AS tree, "
        "CAST($unknown AS BIGINT) AS tree_unknown_parents",
        {"properties": bool(by_kind["properties"]), "tree": bool(by_kind["tree"]), "unknown": unknown_parents},
    )
    return [p for p, _ in by_kind["events"]]


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
                   CASE WHEN regexp_full_match({c["timestamp"]}, '{items.EPOCH_MS}')
                        THEN make_timestamp(CAST({c["timestamp"]} AS BIGINT) * 1000) END AS ts,
                   {c["itemid"]} AS item_key,
                   {repeated_header_sql(found)} AS repeated_header
            FROM src
        ),
        earliest_category AS (SELECT itemid, arg_min(categoryid, ts) AS categoryid FROM rr_item_category GROUP BY ALL),
        earliest_price AS (SELECT itemid, arg_min(price, ts) AS price FROM rr_item_price GROUP BY ALL),
        as_of AS (  -- the item's values valid at the event's time, else the earliest known
            SELECT t.*, coalesce(pc.categoryid, ec.categoryid) AS categoryid, coalesce(pp.price, ep.price) AS item_price
            FROM typed AS t
            ASOF LEFT JOIN rr_item_category AS pc ON t.item_key = pc.itemid AND t.ts >= pc.ts
            ASOF LEFT JOIN rr_item_price AS pp ON t.item_key = pp.itemid AND t.ts >= pp.ts
            LEFT JOIN earliest_category AS ec ON t.item_key = ec.itemid
            LEFT JOIN earliest_price AS ep ON t.item_key = ep.itemid
        )
        SELECT
            line,
            CAST(ts AS DATE) AS day,
            CASE WHEN repeated_header THEN {raw_record_sql(found)} ELSE $prefix || line END AS event_id,
            coalesce(strftime(ts, {ISO_UTC}), {c["timestamp"]}) AS event_time,
            CASE {c["event"]} WHEN 'view' THEN 'view' WHEN 'addtocart' THEN 'cart'
                 WHEN 'transaction' THEN 'purchase' ELSE {c["event"]} END AS event_type,
            {c["visitorid"]} AS user_id,
            CAST(NULL AS VARCHAR) AS session_id,
            {c["itemid"]} AS product_id,
            coalesce(tree.path, as_of.categoryid) AS category,
            CAST(NULL AS VARCHAR) AS brand,
            coalesce(item_price, '0') AS price,
            '1' AS quantity,
            CASE WHEN {c["event"]} = 'transaction' THEN {c["transactionid"]} END AS order_id,
            CASE WHEN repeated_header THEN 'repeated header line' END AS reject_reason,
            tree.path IS NULL AND as_of.categoryid IS NOT NULL AS not_in_tree,
            item_price IS NOT NULL AS priced
        FROM as_of LEFT JOIN rr_category_path AS tree ON tree.categoryid = as_of.categoryid
        ORDER BY line
        """,
        {**csv_params(path, found), "prefix": f"{NAME}:{stem}:", "header": found},
    )
    properties, tree, unknown_parents = con.execute("SELECT * FROM rr_side_files").fetchall()[0]
    counts = con.execute(
        "SELECT count(category), count(*) FILTER (WHERE not_in_tree), count(*) FILTER (WHERE priced) "
        "FROM converted WHERE reject_reason IS NULL"
    ).fetchall()[0]
    con.execute("ALTER TABLE converted DROP COLUMN not_in_tree")
    con.execute("ALTER TABLE converted DROP COLUMN priced")
    notes: dict[str, int] = {}
    if properties:
        notes.update(with_category=counts[0], with_price=counts[2])
    if tree:
        notes.update(category_not_in_tree=counts[1], tree_unknown_parents=unknown_parents)
    return notes


ADAPTER = FormatAdapter(NAME, convert, prepare=prepare)
