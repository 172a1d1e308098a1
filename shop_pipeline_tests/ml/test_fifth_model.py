"""Adding a model is one package and one line: the toy fifth model (shop_pipeline_tests/ml/toy_model: its
spec, its code, its score table's DDL) appended to MODELS, and nothing else, is trained, gated, scored,
measured for drift where it has features to watch, listed by the serving snapshot and the API, and
summed up after the run. In its own process, so that the definitions are built with five models.

The shop is a copy of the session's shared one after its run with four models
(shop_pipeline_tests/pipeline_shop.py): a model added to a shop already running, as a team adds one. The
four are reused (their inputs did not change); the fifth is trained, gated and scored from nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

from shop_pipeline_tests.pipeline_shop import RUN_CONFIG

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys

from shop_pipeline.ml import models
from shop_pipeline_tests.ml import toy_model

models.MODELS.append(toy_model.SPEC)  # the one line a fifth model adds to ml/models.py

from dagster import AssetKey, DagsterInstance

from shop_pipeline.definitions import defs
from shop_pipeline.pipeline_run import run_full_pipeline
from shop_pipeline.serving.snapshot import current_snapshot_dir, serving_root
from shop_pipeline.serving.store import Snapshot
from shop_pipeline.settings import ShopPaths
from shop_pipeline.summary import format_summary, warehouse_summary
from shop_pipeline.warehouse.connection import connect

paths = ShopPaths.at(sys.argv[1])
graph = defs.resolve_asset_graph()
assets = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
outcome = run_full_pipeline(paths, DagsterInstance.ephemeral(), json.loads(sys.argv[2]))
with connect(paths.warehouse, read_only=True) as con:
    scored = con.execute("SELECT count(*), count(DISTINCT model_version) FROM scoring.toy_basket_values").fetchone()
    champion = con.execute("SELECT version FROM ml.model_registry WHERE model_name = 'toy_basket_value' "
                           "AND is_champion").fetchall()
snapshot = Snapshot.load(current_snapshot_dir(serving_root(paths.home)))
print(json.dumps({
    "groups": {name: assets[name].group_name for name in
               ("toy_basket_value_model", "toy_basket_value_champion", "toy_basket_values") if name in assets},
    "snapshot_deps": sorted(k.to_user_string() for k in assets["serving_snapshot"].parent_keys),
    "success": outcome.success, "error": outcome.error,
    "scored": list(scored), "champion": [v for (v,) in champion],
    "api_models": [m["model_name"] for m in snapshot.models],
    "summary": format_summary(warehouse_summary(paths.warehouse), outcome.checks, 0.0),
}))
"""


def test_a_toy_fifth_model_runs_through_the_whole_pipeline(pipeline_shop, tmp_path):
    paths = pipeline_shop.copy_to(tmp_path / "shop").paths
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(paths.home), json.dumps(RUN_CONFIG)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["groups"] == {
        "toy_basket_value_model": "training",
        "toy_basket_value_champion": "evaluation",
        "toy_basket_values": "scoring",
    }
    assert "toy_basket_values" in found["snapshot_deps"]
    assert found["success"], found["error"]
    rows, versions = found["scored"]
    assert rows > 0 and versions == 1 and len(found["champion"]) == 1
    assert "toy_basket_value" in found["api_models"]
    assert "model:        toy_basket_value " in found["summary"]
