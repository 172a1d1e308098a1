"""One generated shop run through Dagster up to the serving snapshot, and a server over it, shared by the
serving tests (a real `shop-pipeline serve` process on a free 127.0.0.1 port)."""

import datetime as dt

import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from shop_pipeline.definitions import ASSETS
from shop_pipeline.defs.common import add_partitions, partition_key
from shop_pipeline.pipeline_run import RANGE_END_TAG, RANGE_START_TAG
from shop_pipeline.resources import default_resources
from shop_pipeline.settings import ShopPaths
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline_tests.serving.server_process import running_server

CONFIG = GeneratorConfig(events=40_000, days=60, seed=11)
TARGETS = AssetSelection.assets("serving_snapshot").upstream().required_multi_asset_neighbors()


@pytest.fixture(scope="package")
def shop(tmp_path_factory):
    paths = ShopPaths.at(tmp_path_factory.mktemp("serving-shop")).ensure()
    generate_shop(paths.home, CONFIG)
    days = [CONFIG.start + dt.timedelta(days=i) for i in range(CONFIG.days)]
    instance = DagsterInstance.ephemeral()
    add_partitions(instance, days)  # the landed months are the partitions
    result = materialize(
        ASSETS,
        selection=TARGETS,
        resources=default_resources(paths),
        instance=instance,
        raise_on_error=False,
        tags={RANGE_START_TAG: partition_key(days[0]), RANGE_END_TAG: partition_key(days[-1])},
    )
    assert result.success
    return paths


@pytest.fixture(scope="package")
def api(shop):
    with running_server(shop.home) as client:
        yield client
