import shutil

from shop_pipeline.settings import ShopPaths
from shop_pipeline.warehouse.connection import connect


def table(paths, sql, params=None):
    """Rows of `sql` on the shop's warehouse (opened and closed again: the server never holds it)."""
    with connect(paths.warehouse) as con:
        return con.execute(sql, params or {}).fetchall()


def copied_shop(shop: ShopPaths, target) -> ShopPaths:
    """A copy of the shared shop's home (warehouse, models, serving) that a test may change freely."""
    copy = ShopPaths.at(target)
    shutil.copytree(shop.home, copy.home, ignore=shutil.ignore_patterns("landing", "dagster_home"))
    return copy


def app_client(root, **settings):
    """A TestClient of the API over the serving folder `root` (in process: no server, no port); `with` it
    to load the snapshot. Its answers are logged under `settings["prediction_log"]`, which the caller gives."""
    import warnings

    with warnings.catch_warnings():  # Starlette's TestClient suggests httpx2, which is not a dependency
        warnings.filterwarnings("ignore", message=".*httpx2.*")
        from fastapi.testclient import TestClient

    from shop_pipeline.serving.app import create_app

    return TestClient(create_app(root, **settings))
