import pytest

from shop_pipeline.warehouse.connection import connect


@pytest.fixture
def landing(tmp_path):
    return tmp_path / "landing"


@pytest.fixture
def con(tmp_path):
    with connect(tmp_path / "shop.duckdb") as connection:
        yield connection
