"""The generated shop after a whole pipeline run (shop_pipeline_tests/pipeline_shop.py: built once per session,
or once into $SHOP_PIPELINE_TEST_SHOP_CACHE), copied for the serving tests, and a server over the copy
shared by them (a real `shop-pipeline serve` process on a free 127.0.0.1 port). Session-scoped, not
package-scoped: pytest-randomly interleaves the modules of every package, and a package fixture is
torn down and built again each time the order leaves the package and comes back."""

import pytest

from shop_pipeline_tests.serving.server_process import running_server


@pytest.fixture(scope="session")
def shop(pipeline_shop, tmp_path_factory):
    return pipeline_shop.copy_to(tmp_path_factory.mktemp("serving-shop")).paths


@pytest.fixture(scope="session")
def api(shop):
    with running_server(shop.home) as client:
        yield client
