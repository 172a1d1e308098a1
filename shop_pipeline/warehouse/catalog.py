"""Loading the product catalog and marketing files (small, replaced whole each time)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from shop_pipeline.warehouse.connection import transaction

_CATALOG = """
SELECT product_id, name, category, brand, base_price, launched_on
FROM read_csv($path, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"',
              columns = {'product_id': 'VARCHAR', 'name': 'VARCHAR', 'category': 'VARCHAR',
                         'brand': 'VARCHAR', 'base_price': 'DOUBLE', 'launched_on': 'DATE'})
"""
_AD_SPEND = """
SELECT date, category, ad_spend
FROM read_csv($path, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"',
              columns = {'date': 'DATE', 'category': 'VARCHAR', 'ad_spend': 'DOUBLE'})
"""
_PROMOTIONS = """
SELECT product_id, start_date, end_date, discount_pct
FROM read_csv($path, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"',
              columns = {'product_id': 'VARCHAR', 'start_date': 'DATE', 'end_date': 'DATE', 'discount_pct': 'DOUBLE'})
"""


def replace_table(con: duckdb.DuckDBPyConnection, table: str, query: str, path: Path) -> int:
    """Replace `table` with the rows of `path` in one transaction; a missing file empties nothing."""
    if not path.is_file():
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    with transaction(con):
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} BY NAME {query}", {"path": str(path)})
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def load_catalog(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    return replace_table(con, "raw.products", _CATALOG, path)


def load_marketing(con: duckdb.DuckDBPyConnection, ad_spend: Path, promotions: Path) -> tuple[int, int]:
    return (
        replace_table(con, "raw.ad_spend", _AD_SPEND, ad_spend),
        replace_table(con, "raw.promotions", _PROMOTIONS, promotions),
    )
