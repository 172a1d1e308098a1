"""RetailRocket side files: item properties and the category tree (loaded, never landed).

Item properties (`timestamp,itemid,property,value`; public: item_properties_part1.csv and
_part2.csv, any number of files): only two properties are used. `categoryid` gives the item's
category and `790` its price, written `n5880.000` in the public data (a value of 790 that is
not `n<number>` is not a price and is ignored). Both change over time; they fill

    rr_item_category (itemid, ts, categoryid)   rr_item_price (itemid, ts, price)

with one value per item and timestamp (the largest, if files disagree). A `categoryid` or
`790` row whose timestamp is not an integer of epoch milliseconds is an ImportFailed naming
the file, line and column (other properties are not read).

Category tree (`categoryid,parentid`, parentid empty for a root; at most one file) fills
rr_category_path (categoryid, path) with the path from the root, `1016/213/1338`. Defined
behaviour on a broken tree:
- a parentid that is not itself a categoryid of the tree: its ancestors are unknown, so the
  path starts at that parent id (`<unknown parent>/.../<id>`); counted as
  `tree_unknown_parents`;
- a cycle (1 -> 2 -> 1, or a category its own parent): ImportFailed naming the file, the line
  and column parentid of a category in the cycle, and the cycle;
- a categoryid listed twice with different parents: ImportFailed naming both lines (the same
  pair twice is fine); an empty categoryid: ImportFailed naming the line.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from shop_pipeline.sources.adapter import CSV_READ, ImportFailed, csv_params, quote_ident, require_columns

PROPERTY_COLUMNS = ("timestamp", "itemid", "property", "value")
TREE_COLUMNS = ("categoryid", "parentid")
PRICE_PROPERTY = "790"
EPOCH_MS = "[0-9]{1,15}"


def kind(found: list[str]) -> str:
    """'properties', 'tree' or 'events' (anything else: checked later as an events file)."""
    names = {c.strip().lower() for c in found}
    if names >= set(PROPERTY_COLUMNS) and "visitorid" not in names:
        return "properties"
    if names >= set(TREE_COLUMNS) and "visitorid" not in names and "property" not in names:
        return "tree"
    return "events"


def load_properties(con: duckdb.DuckDBPyConnection, files: list[tuple[Path, list[str]]]) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rr_properties (itemid VARCHAR, ts TIMESTAMP, property VARCHAR, value VARCHAR)"
    )
    for path, found in files:
        cols = require_columns(path, found, "retailrocket item-properties", {c: (c,) for c in PROPERTY_COLUMNS})
        c = {k: f"nullif(trim({quote_ident(v)}), '')" for k, v in cols.items()}
        wanted = f"{c['property']} IN ('categoryid', '{PRICE_PROPERTY}') AND {c['itemid']} IS NOT NULL"
        try:
            bad = con.execute(
                f"SELECT count(*) FROM {CSV_READ} WHERE {wanted} "
                f"AND NOT coalesce(regexp_full_match({c['timestamp']}, '{EPOCH_MS}'), false)",
                csv_params(path, found),
            ).fetchall()[0][0]
            if bad:
                _raise_bad_timestamp(con, path, found, c, wanted, bad)
            con.execute(
                f"""INSERT INTO rr_properties
                    SELECT {c["itemid"]}, make_timestamp(CAST({c["timestamp"]} AS BIGINT) * 1000),
                           {c["property"]}, {c["value"]}
                    FROM {CSV_READ} WHERE {wanted}""",
                csv_params(path, found),
            )
        except duckdb.Error as exc:
            raise ImportFailed(f"{path}: not a well-formed item-properties file: {str(exc).splitlines()[0]}") from exc
    # one value per item and time, whatever order the files came in
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rr_item_category AS SELECT itemid, ts, max(value) AS categoryid "
        "FROM rr_properties WHERE property = 'categoryid' AND value IS NOT NULL GROUP BY itemid, ts"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rr_item_price AS SELECT itemid, ts, max(substr(value, 2)) AS price "
        "FROM rr_properties WHERE property = $price AND regexp_full_match(value, 'n[0-9]+(\\.[0-9]+)?') "
        "GROUP BY itemid, ts",
        {"price": PRICE_PROPERTY},
    )
    con.execute("DROP TABLE rr_properties")


def _raise_bad_timestamp(con, path: Path, found: list[str], c: dict[str, str], wanted: str, bad: int) -> None:
    line, value = con.execute(
        f"""SELECT line, ts FROM (SELECT row_number() OVER () AS line, {c["timestamp"]} AS ts, * FROM {CSV_READ})
            WHERE {wanted} AND NOT coalesce(regexp_full_match(ts, '{EPOCH_MS}'), false) ORDER BY line LIMIT 1""",
        csv_params(path, found),
    ).fetchall()[0]
    raise ImportFailed(
        f"{path}: line {line + 1}: column timestamp: {value!r} is not epoch milliseconds "
        f"({bad} categoryid/{PRICE_PROPERTY} row(s) like it)"
    )


def load_tree(con: duckdb.DuckDBPyConnection, path: Path, found: list[str]) -> dict[str, int]:
    """Fill rr_category_path from the tree file; returns {'tree_unknown_parents': n}."""
    cols = require_columns(path, found, "retailrocket category-tree", {c: (c,) for c in TREE_COLUMNS})
    c = {k: f"nullif(trim({quote_ident(v)}), '')" for k, v in cols.items()}
    try:
        rows = con.execute(
            f"SELECT row_number() OVER () + 1 AS line, {c['categoryid']}, {c['parentid']} FROM {CSV_READ}",
            csv_params(path, found),
        ).fetchall()
    except duckdb.Error as exc:
        raise ImportFailed(f"{path}: not a well-formed category-tree file: {str(exc).splitlines()[0]}") from exc
    parents: dict[str, str | None] = {}
    line_of: dict[str, int] = {}
    for line, category, parent in rows:
        if category is None:
            raise ImportFailed(f"{path}: line {line}: column categoryid: empty")
        if category in parents and parents[category] != parent:
            raise ImportFailed(
                f"{path}: line {line}: column parentid: category {category} has parent {parent or '(none)'} here "
                f"and {parents[category] or '(none)'} on line {line_of[category]}"
            )
        parents[category] = parent
        line_of.setdefault(category, line)
    paths, unknown = category_paths(parents, path, line_of)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rr_category_path AS SELECT unnest($ids) AS categoryid, unnest($paths) AS path",
        {"ids": list(paths), "paths": list(paths.values())},
    )
    return {"tree_unknown_parents": len(unknown)}


def category_paths(
    parents: dict[str, str | None], path: Path | str = "category tree", line_of: dict[str, int] | None = None
) -> tuple[dict[str, str], set[str]]:
    """Root-first paths ('1016/213/1338') for every category, and the parent ids not in the tree."""
    paths: dict[str, str] = {}
    unknown: set[str] = set()
    for start in parents:
        chain: list[str] = []
        node: str | None = start
        while node is not None and node not in paths:
            if node in chain:
                cycle = [*chain[chain.index(node) :], node]
                first = min(cycle[:-1], key=lambda n: (line_of or {}).get(n, 0))
                where = f"line {line_of[first]}: " if line_of else ""
                raise ImportFailed(f"{path}: {where}column parentid: categories {' -> '.join(cycle)} form a cycle")
            chain.append(node)
            if node not in parents:  # a parent the tree does not list: its ancestors are unknown
                unknown.add(node)
                break
            node = parents[node]
        prefix = paths.get(node) if node is not None and chain and node != chain[-1] else None
        for category in reversed(chain):
            prefix = category if prefix is None else f"{prefix}/{category}"
            paths[category] = prefix
    return {k: v for k, v in paths.items() if k in parents}, unknown
