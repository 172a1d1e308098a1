"""One generated shop run through Dagster up to the serving snapshot, and a server over it, shared by the
serving tests (a real `shop-pipeline serve` process on a free 127.0.0.1 port).

With SHOP_PIPELINE_TEST_SHOP_CACHE=<folder> the shop is built once into that folder and every later
session starts from a copy of it (benchmarks/mutation.py sets it for the serving group: each mutant runs
in a fresh process, which would otherwise run the pipeline again, ~20 s per mutant). The cache is built
by the unmutated code, so a mutant reached only while building the shop is not killed by the build
there: the measured score can only be lower, never higher.
"""

import datetime as dt
import os
import shutil
from pathlib import Path

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


CACHE_ENV = "SHOP_PIPELINE_TEST_SHOP_CACHE"


@pytest.fixture(scope="package")
def shop(tmp_path_factory):
    cache = os.environ.get(CACHE_ENV)
    if not cache:
        return build_shop(tmp_path_factory.mktemp("serving-shop"))
    built = Path(cache) / "serving-shop"
    if not built.is_dir():
        staged = Path(cache) / f"serving-shop.{os.getpid()}.tmp"
        shutil.rmtree(staged, ignore_errors=True)
        build_shop(staged)
        staged.rename(built)  # whole or absent: a killed build leaves no half shop behind
    copy = tmp_path_factory.mktemp("serving-shop") / "home"
    shutil.copytree(built, copy, symlinks=True)
    return ShopPaths.at(copy)


def build_shop(home) -> ShopPaths:
    paths = ShopPaths.at(home).ensure()
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
