"""A snapshot of the whole definition graph (as dagster-open-platform's test_defs.py keeps one): every
asset's group, dependencies, owners, kinds, pool, tables, automation condition, freshness and checks,
and the jobs, schedules and sensors. A wiring change then shows in review as a change of
snapshots/definitions.json.

After a deliberate change: SHOP_PIPELINE_UPDATE_SNAPSHOTS=1 pytest shop_pipeline_tests/test_definitions_snapshot.py
rewrites the file; review and commit it.
"""

import json
import os
from pathlib import Path

from dagster import AssetKey

from shop_pipeline.definitions import defs

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
UPDATE_ENV = "SHOP_PIPELINE_UPDATE_SNAPSHOTS"


def _condition(condition) -> str | None:
    """An automation condition as its tree of operands (label, then name(children))."""
    if condition is None:
        return None

    def tree(node) -> str:
        children = getattr(node, "children", ())
        own = node.get_label() or node.name
        return own + (f"({', '.join(tree(child) for child in children)})" if children else "")

    return tree(condition)


def definitions_snapshot() -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        freshness = node.freshness_policy
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "owners": sorted(node.owners),
            "kinds": sorted(node.kinds),
            "tables": node.metadata.get("dagster/table_name"),
            "automation": _condition(node.automation_condition),
            "freshness": None if freshness is None else repr(freshness),
            "partitioned": node.partitions_def is not None,
        }
    for assets_def in graph.assets_defs:
        pool = assets_def.node_def.pool if assets_def.is_executable else None
        for key in assets_def.keys:
            assets[key.to_user_string()]["pool"] = pool
        for spec in assets_def.check_specs:
            assets[spec.asset_key.to_user_string()].setdefault("checks", []).append(
                {"name": spec.name, "blocking": spec.blocking}
            )
    for value in assets.values():
        value.setdefault("checks", [])
        value["checks"].sort(key=lambda check: check["name"])
    repository = defs.get_repository_def()
    jobs = {}
    for job in sorted(repository.get_all_jobs(), key=lambda job: job.name):
        if job.name.startswith("__"):
            continue
        jobs[job.name] = {
            "assets": sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys),
            "partitioned": job.partitions_def is not None,
        }
    return {
        "assets": assets,
        "jobs": jobs,
        "schedules": {
            s.name: {"job": s.job_name, "cron": s.cron_schedule, "timezone": s.execution_timezone}
            for s in sorted(repository.schedule_defs, key=lambda s: s.name)
        },
        "sensors": {
            s.name: {"job": s.job_name if s.has_jobs else None, "default_status": s.default_status.value}
            for s in sorted(repository.sensor_defs, key=lambda s: s.name)
        },
    }


def test_the_definitions_are_the_snapshot():
    current = json.dumps(definitions_snapshot(), indent=1, sort_keys=True) + "\n"
    if os.environ.get(UPDATE_ENV):
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.is_file(), f"no snapshot yet: run with {UPDATE_ENV}=1 and commit {SNAPSHOT}"
    assert json.loads(current) == json.loads(SNAPSHOT.read_text()), (
        f"the definitions changed: if on purpose, run with {UPDATE_ENV}=1 and commit {SNAPSHOT.name}"
    )


def test_every_model_asset_is_in_the_snapshot_with_its_champion_check():
    snapshot = json.loads(SNAPSHOT.read_text())["assets"]
    for name in ("demand_forecast", "propensity", "recommendation", "order_risk"):
        assert {"name": "promotion_gate", "blocking": True} in snapshot[f"{name}_champion"]["checks"]
        assert AssetKey(f"{name}_model").to_user_string() in snapshot
