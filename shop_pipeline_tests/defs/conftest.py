import pytest

from shop_pipeline.settings import ShopPaths
from shop_pipeline_tests.landing_fixtures import write_catalog


@pytest.fixture
def shop(tmp_path) -> ShopPaths:
    paths = ShopPaths.at(tmp_path / "shop").ensure()
    write_catalog(paths.landing, product_ids=[f"p{i}" for i in range(1, 6)])
    return paths
