"""One generated shop run through the whole pipeline once per test session, shared by copy.

The serving tests, the model stages end to end (defs/test_models_end_to_end.py) and model reuse
(defs/test_model_reuse.py) all need the same thing: a 60-day shop after a successful full run, with
champions, scores and a published serving snapshot. Building it costs a whole pipeline run; a copy of
the folder costs a second. So the shop is built once (the `pipeline_shop` fixture) into a folder no test
writes to, and every user takes its own copy (`BuiltShop.copy_to`): the home and the Dagster instance
the run wrote into (a persistent SQLite instance, so that a second run on the copy sees the first run's
history, as a second run of a real shop does). What the first run reported (its checks and each asset's
materialization metadata) is kept as plain values.

With SHOP_PIPELINE_TEST_SHOP_CACHE=<folder> the shop is built once into that folder and every later
session starts from a copy of it (benchmarks/mutation.py sets it for the serving group: each mutant runs
in a fresh process, which would otherwise run the pipeline again). The cache is built by the unmutated
code, so a mutant reached only while building the shop is not killed by the build there: the measured
score can only be lower, never higher.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from shop_pipeline.pipeline_run import modeling_run_config, run_full_pipeline
from shop_pipeline.settings import ShopPaths
from shop_pipeline.synth import GeneratorConfig, generate_shop

CONFIG = GeneratorConfig(events=40_000, days=60, seed=11)
# Horizons a 60-day shop can train every candidate for (propensity's 30-day default leaves too few
# labelled weeks for the gradient-boosting candidate)
FORECAST_HORIZON_DAYS = 7
RUN_CONFIG = modeling_run_config(forecast_horizon_days=FORECAST_HORIZON_DAYS, propensity_horizon_days=14)
CACHE_ENV = "SHOP_PIPELINE_TEST_SHOP_CACHE"
CACHE_NAME = "pipeline-shop"  # was serving-shop: another layout (home/ and instance/ beside first_run.json)
FIRST_RUN = "first_run.json"


@dataclass(frozen=True)
class ShopCopy:
    paths: ShopPaths
    instance_dir: Path

    def instance(self) -> DagsterInstance:
        """The copied Dagster instance holding the first run (close it, or use it in a `with`)."""
        return DagsterInstance.local_temp(tempdir=str(self.instance_dir))


@dataclass(frozen=True)
class BuiltShop:
    """The built shop's folder (never written to: copy it) and what its first run reported."""

    root: Path
    checks: tuple[tuple[str, bool], ...]
    metadata: dict[str, dict]  # asset -> its materialization's metadata, as plain values

    def copy_to(self, target: Path) -> ShopCopy:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.root / "home", target / "home", symlinks=True)
        shutil.copytree(self.root / "instance", target / "instance", symlinks=True)
        return ShopCopy(ShopPaths.at(target / "home"), target / "instance")


def plain(value):
    """A metadata value as JSON-able plain data (tables and plots are left out)."""
    raw = getattr(value, "value", value)
    try:
        json.dumps(raw)
    except TypeError:
        return None
    return raw


def build(root: Path) -> None:
    paths = ShopPaths.at(root / "home").ensure()
    generate_shop(paths.home, CONFIG)
    (root / "instance").mkdir()
    with DagsterInstance.local_temp(tempdir=str(root / "instance")) as instance:
        outcome = run_full_pipeline(paths, instance, RUN_CONFIG)
        assert outcome.success, outcome.error
        metadata = {}
        for key in instance.get_asset_keys():
            event = instance.get_latest_materialization_event(key)
            if event is not None and event.asset_materialization is not None:
                metadata[key.to_user_string()] = {
                    name: plain(value) for name, value in event.asset_materialization.metadata.items()
                }
    (root / FIRST_RUN).write_text(json.dumps({"checks": outcome.checks, "metadata": metadata}))


def load(root: Path) -> BuiltShop:
    first = json.loads((root / FIRST_RUN).read_text())
    return BuiltShop(root, tuple((name, passed) for name, passed in first["checks"]), first["metadata"])


@pytest.fixture(scope="session")
def pipeline_shop(tmp_path_factory) -> BuiltShop:
    cache = os.environ.get(CACHE_ENV)
    if not cache:
        root = tmp_path_factory.mktemp("pipeline-shop")
        build(root)
        return load(root)
    built = Path(cache) / CACHE_NAME
    if not built.is_dir():
        staged = Path(cache) / f"{CACHE_NAME}.{os.getpid()}.tmp"
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        build(staged)
        staged.rename(built)  # whole or absent: a killed build leaves no half shop behind
    return load(built)


def materialization(instance: DagsterInstance, asset: str) -> dict:
    event = instance.get_latest_materialization_event(AssetKey(asset))
    return {name: plain(value) for name, value in event.asset_materialization.metadata.items()}
