from shop_pipeline.warehouse.connection import connect


def table(paths, sql, params=None):
    """Rows of `sql` on the shop's warehouse (opened and closed again: the server never holds it)."""
    with connect(paths.warehouse) as con:
        return con.execute(sql, params or {}).fetchall()
