"""Automation benchmark: a file lands -> its partition's scores are written, and daily vs full cost.

On a generated sample shop (in-process, an ephemeral Dagster instance):
1. full rebuild: every asset over every landed day but the last, from an empty warehouse
   (`full_pipeline`, as `shop-pipeline run` does), and the same without training/evaluation;
2. the last day's file lands; the landing sensor is evaluated, each of its run requests is
   executed in-process with `ingest_events` (what the daemon would launch), then the automation
   conditions are evaluated and what they request (features, drift, scores, snapshot) runs as the
   `follow_new_data` sensor's run would; the time from the file landing to the scores of that day
   being written is measured;
3. the daily incremental run is compared with both full rebuilds, with the time per step of the
   daily run so that what dominates is visible. Step 2 is repeated (--repeats, default 3), each
   time from a copy of the state before the file landed, and the median run is reported.

The sensor's settle period is set to 0 here (the file is complete when it lands); under the
daemon add the settle period (default 30 s) and up to one sensor interval (30 s).
Usage: python benchmarks/automation.py [--events 200000] [--days 90] [--repeats 3] [--workdir /tmp/shop-bench-automation]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def step_seconds(instance, run_id: str) -> dict[str, float]:
    return {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in instance.get_run_step_stats(run_id)}


def daily_run(instance, paths, before: Path, held: Path, definitions, repeat: int) -> dict:
    """The last day's file lands (again: a new file version) on a copy of the state before it;
    the landing sensor's run requests run in-process with ingest_events, then what the automation
    conditions request. The instance is the full rebuild's: the runs read the models' metadata from it."""
    from dagster import build_sensor_context, evaluate_automation_conditions

    from shop_pipeline.defs.automation import landing_sensor
    from shop_pipeline.ml.common.registry import forget_loaded_models
    from shop_pipeline.resources import ShopHome
    from shop_pipeline.warehouse.connection import connect

    # the warehouse, models and reports as they were; the other landed files are left alone (a
    # copied file has a new ctime: the sensor would take it for a new version)
    for name in ("warehouse", "models", "reports"):
        shutil.rmtree(paths.home / name, ignore_errors=True)
        if (before / name).exists():
            shutil.copytree(before / name, paths.home / name)
    for f in held.iterdir():
        (paths.events_landing / f.name).unlink(missing_ok=True)
    # a daemon-launched run is a new process: nothing loaded by earlier runs is at hand
    # (its imports are: this measures the run's work, not Python's start-up)
    forget_loaded_models()
    watching = evaluate_automation_conditions(defs=definitions, instance=instance)
    landed_at = time.perf_counter()
    for f in held.iterdir():
        shutil.copy(f, paths.events_landing / f.name)
    tick_started = time.perf_counter()
    result = landing_sensor(build_sensor_context(instance=instance, resources={"shop": ShopHome(home=str(paths.home))}))
    for partitions in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(partitions.partitions_def_name, list(partitions.partition_keys))
    tick_seconds = time.perf_counter() - tick_started
    run_seconds, steps = 0.0, {}
    for request in result.run_requests:
        started = time.perf_counter()
        run = definitions.resolve_job_def("ingest_events").execute_in_process(
            partition_key=request.partition_key, tags=request.tags, instance=instance, raise_on_error=False
        )
        run_seconds += time.perf_counter() - started
        if not run.success:
            raise SystemExit(f"daily run {repeat} for {request.partition_key} failed")
        steps.update(step_seconds(instance, run.run_id))
    started = time.perf_counter()
    following = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=watching.cursor)
    graph = definitions.resolve_asset_graph()
    keys = [key for key in graph.get_all_asset_keys() if following.get_num_requested(key)]
    run = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=keys, instance=instance, raise_on_error=False
    )
    run_seconds += time.perf_counter() - started
    if not run.success:
        raise SystemExit(f"daily run {repeat}: the automation's run failed")
    steps.update(step_seconds(instance, run.run_id))
    latency = time.perf_counter() - landed_at
    with connect(paths.warehouse, read_only=True) as con:
        [(as_of,)] = con.execute("SELECT max(as_of) FROM scoring.customer_scores").fetchall()
    return {
        "run_seconds": run_seconds,
        "steps": steps,
        "tick_seconds": tick_seconds,
        "latency": latency,
        "as_of": as_of,
        "partitions": [r.partition_key for r in result.run_requests],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/shop-bench-automation"))
    parser.add_argument("--repeats", type=int, default=3, help="daily runs measured, each from the same state")
    args = parser.parse_args()

    from dagster import DagsterInstance

    from shop_pipeline.definitions import build_definitions
    from shop_pipeline.pipeline_run import run_full_pipeline
    from shop_pipeline.settings import SETTLE_SECONDS_ENV, ShopPaths
    from shop_pipeline.synth import GeneratorConfig, generate_shop

    os.environ[SETTLE_SECONDS_ENV] = "0"
    shutil.rmtree(args.workdir, ignore_errors=True)
    paths = ShopPaths.at(args.workdir / "shop").ensure()
    generate_shop(paths.home, GeneratorConfig(events=args.events, days=args.days, seed=args.seed))
    files = sorted(paths.events_landing.glob("*"))
    last_day = max(f.name for f in files if f.is_file())
    held = args.workdir / "held"
    held.mkdir()
    # the last day's file(s) arrive later (hold back every file of that date)
    day_text = last_day.split("_")[1][:10]
    for f in files:
        if day_text in f.name:
            shutil.move(str(f), held / f.name)

    rows: list[tuple[str, float, str]] = []
    definitions = build_definitions(paths)
    with DagsterInstance.ephemeral() as instance:
        started = time.perf_counter()
        full = run_full_pipeline(paths, instance)
        full_seconds = time.perf_counter() - started
        if not full.success:
            raise SystemExit(f"full rebuild failed: {full.error}")
        rows.append((f"full rebuild, all assets ({full.days[0]} .. {full.days[1]})", full_seconds, "incl. training"))

        # the same rebuild without training / evaluation, on a fresh warehouse copy of the landing
        data_paths = ShopPaths.at(args.workdir / "shop-data-only").ensure()
        shutil.copytree(paths.landing, data_paths.landing, dirs_exist_ok=True)
        started = time.perf_counter()
        data_only = run_full_pipeline(data_paths, instance, groups=["ingestion", "staging", "features", "monitoring"])
        data_seconds = time.perf_counter() - started
        if not data_only.success:
            raise SystemExit(f"data-only rebuild failed: {data_only.error}")
        rows.append(("full rebuild, ingestion + staging + features + drift", data_seconds, "no training"))

        # what the warehouse, models and reports are before the last day lands: each repeat of
        # the daily run starts from a copy of it (the runs' times vary by 10% on this machine)
        before = args.workdir / "before-daily"
        for name in ("warehouse", "models", "reports"):
            if (paths.home / name).exists():
                shutil.copytree(paths.home / name, before / name)
        daily = [daily_run(instance, paths, before, held, definitions, repeat) for repeat in range(args.repeats)]
    runs = sorted(daily, key=lambda d: d["run_seconds"])
    median = runs[len(runs) // 2]
    run_seconds, steps = median["run_seconds"], median["steps"]
    partitions = ", ".join(median["partitions"])
    times = ", ".join(f"{d['run_seconds']:.1f}" for d in daily)
    rows.append(
        ("landing sensor tick", median["tick_seconds"], f"{len(median['partitions'])} run request(s): {partitions}")
    )
    rows.append(
        (
            "daily incremental run (sensor-launched)",
            run_seconds,
            f"median of {args.repeats} ({times}); scores as_of {median['as_of']}",
        )
    )
    rows.append(("file landed -> scores written", median["latency"], "settle period 0, no daemon interval"))

    print(
        f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; {args.events} events over {args.days} days"
    )
    print()
    print("| measure | seconds | note |")
    print("|---|---:|---|")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds:.1f} | {note} |")
    print()
    print(f"daily run / full rebuild (all assets): {run_seconds / full_seconds:.1%}")
    print(f"daily run / full rebuild (no training): {run_seconds / data_seconds:.1%}")
    print()
    print("| daily run step | seconds | share |")
    print("|---|---:|---:|")
    total = sum(steps.values()) or 1.0
    for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        print(f"| {step} | {seconds:.2f} | {seconds / total:.0%} |")


if __name__ == "__main__":
    main()
