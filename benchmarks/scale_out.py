"""Scale-out: the feature and scoring steps on DuckDB, on Spark with one worker and with two.

    python benchmarks/scale_out.py [--events 10000000] [--days 120] [--repeats 2] [--busy 0]
                                   [--engines duckdb spark1 spark2] [--worker-memory 3g]

One generated shop (cached under data/bench/scale_out/) is ingested and staged by the DuckDB
pipeline code, its features built and four models registered (propensity: logistic RFM with BG/NBD
and Gamma-Gamma; order risk: the isolation forest; the demand forecast's challenger; the item-kNN
recommender); its staging and feature tables are copied onto a lake. Then, interleaved, `--repeats`
times each:

- duckdb: the feature statements of sql/ run in the warehouse (CREATE TEMP TABLE AS, the work of
  the default engine's feature step), the row models score their whole tables on this process
  ("scoring"), and the forecast and the recommendations score as the score assets do
  ("planned scoring": spec.score over the warehouse);
- spark1 / spark2: a standalone cluster on 127.0.0.1 (the test fixture's: a master and 1 or 2
  workers of 1 core each, each its own JVM); the same statements transpiled (sql/dialects.py)
  run on Spark over the lake and are written back with the lake's write-audit-publish
  (engine/lake.py); scoring runs distributed with mapInPandas (ml/common/spark_scoring.py), the
  forecast by blocks of products and the recommendations by blocks of customers
  (spark_scoring.grouped_to_lake).

Printed: every repetition's seconds per step, rows/s (staged events per second), peak RSS per
process role (this Python process, the driver JVM, the executors, Python workers), the load
average; then a summary with the speed-up of two workers over one. `--busy N` keeps N busy
processes running through the measurements (a user's machine is seldom idle).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import load, table  # noqa: E402

FEATURE_STATEMENTS = ("customer_features", "product_daily_sales", "interactions", "order_features")
FEATURE_TABLES = {
    "customer_features": "features.customer_features",
    "product_daily_sales": "features.product_daily_sales",
    "interactions": "features.interactions",
    "order_features": "features.order_features",
}
LAKE_INPUTS = ("staging.events", "raw.products", "raw.promotions", "raw.ad_spend", "raw.order_labels")
SCORED = {"propensity": "features.customer_features", "order_risk": "features.order_features"}
PLANNED = {"demand_forecast": "demand_forecast", "recommendation": "item_knn"}  # model -> registered key
STEPS = ("features", "scoring", "planned scoring")
# the models' settings for the planned step (the defaults of resources.Modeling)
PLANNED_SETTINGS = {"forecast_horizon_days": 14, "recommendation_recency_days": None}


# -- the shop ------------------------------------------------------------------------------


def prepare(events: int, days: int, workdir: Path):
    """The shop (generated, staged, features built, models registered) and its lake; cached."""
    from shop_pipeline.synth import GeneratorConfig
    from shop_pipeline_tests.ml.cluster.shop import (
        SmallShop,
        build_shop,
        copy_to_lake,
        register_grouped_models,
        register_models,
    )

    done = workdir / "prepared"
    home = workdir / "shop"
    lake_uri = (workdir / "lake").as_uri()
    if not done.exists():
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        started = time.perf_counter()
        print(f"# preparing a shop of {events:,} events over {days} days in {workdir} (once)", flush=True)
        shop = build_shop(home, GeneratorConfig(events=events, days=days, seed=7, fraud_rate=0.02))
        register_models(shop, home / "models")
        from shop_pipeline.warehouse.connection import connect

        with connect(shop.warehouse) as con:
            copy_to_lake(con, lake_uri, [t for t in LAKE_INPUTS + tuple(SCORED.values()) if _exists(con, t)])
        done.write_text(f"{shop.as_of.isoformat()}\n{','.join(d.isoformat() for d in shop.days)}\n")
        print(f"# prepared in {time.perf_counter() - started:.0f} s", flush=True)
    as_of_text, days_text = done.read_text().splitlines()
    shop = SmallShop(
        home,
        home / "warehouse.duckdb",
        dt.date.fromisoformat(as_of_text),
        [dt.date.fromisoformat(d) for d in days_text.split(",")],
    )
    planned = workdir / "prepared-planned"  # a shop cached before the planned step gets its models once
    if not planned.exists():
        from shop_pipeline.warehouse.connection import connect

        started = time.perf_counter()
        register_grouped_models(shop, home / "models")
        with connect(shop.warehouse) as con:
            copy_to_lake(con, lake_uri, ["features.product_daily_sales", "features.interactions"])
        planned.write_text("\n".join(f"{name} {key}" for name, key in PLANNED.items()) + "\n")
        print(f"# forecast and recommender registered in {time.perf_counter() - started:.0f} s", flush=True)
    return shop, lake_uri


def planned_rows(shop) -> dict:
    """model -> its registered version for the planned step (the versions register_grouped_models wrote)."""
    from shop_pipeline.ml.common import registry
    from shop_pipeline.warehouse.connection import connect

    with connect(shop.warehouse, read_only=True) as con:
        return {name: registry.get_version(con, name, f"20300101T000000-{key}") for name, key in PLANNED.items()}


def _exists(con, table: str) -> bool:
    from shop_pipeline.warehouse.connection import table_columns

    return bool(table_columns(con, table))


def statement_params(name: str, as_of: dt.date) -> dict:
    """The parameters the feature step gives each statement (as features/ builds them)."""
    from shop_pipeline.features.columns import NO_EVENT_DAYS, cutoff_for
    from shop_pipeline.features.interactions import interactions_params
    from shop_pipeline.features.order_features import EXPENSIVE_RATIO
    from shop_pipeline.features.order_features import _params as order_feature_params

    if name == "customer_features":
        return {"as_of": as_of, "cutoff": cutoff_for(as_of), "no_event_days": float(NO_EVENT_DAYS)}
    if name == "product_daily_sales":
        return {"as_of": as_of, "cutoff": cutoff_for(as_of), "first_day": None}
    if name == "interactions":
        return interactions_params(as_of)
    if name == "order_features":
        return order_feature_params(as_of, EXPENSIVE_RATIO)
    raise KeyError(name)


def staged_rows(shop) -> int:
    from shop_pipeline.warehouse.connection import connect

    with connect(shop.warehouse, read_only=True) as con:
        return con.execute("SELECT count(*) FROM staging.events").fetchone()[0]


# -- peak memory per process -----------------------------------------------------------------


def _role(pid: int) -> str | None:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    if pid == os.getpid():
        return "python (driver side)"
    if "CoarseGrainedExecutorBackend" in command:
        return "executor JVM"
    if "pyspark.daemon" in command or "pyspark/daemon" in command or "pyspark.worker" in command:
        return "python workers"
    if "org.apache.spark.deploy.SparkSubmit" in command or ("py4j" in command and "java" in command):
        return "driver JVM"
    if "deploy.worker.Worker" in command:
        return "worker daemon"
    if "deploy.master.Master" in command:
        return "master daemon"
    return None


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class PeakMemory:
    """Samples every process of a role (several executors count one by one: the largest) every 0.2 s."""

    def __init__(self) -> None:
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in _descendants(os.getpid()):
                role = _role(pid)
                if role:
                    self.peaks[role] = max(self.peaks.get(role, 0.0), _rss_mib(pid))
            self._stop.wait(0.2)


def cpu_seconds_by_role() -> dict[str, float]:
    """CPU seconds (user + system) each process role of this benchmark has used so far, summed
    over its processes: around a step, the difference says how many cores the step's roles used
    (an executor pinned to one core cannot use more than the step's wall time)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for pid in _descendants(os.getpid()):
        role = _role(pid)
        if role:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # utime and stime: the 14th and 15th fields of stat, the 12th and 13th after the command
            used[role] = used.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return used


def _descendants(root: int) -> list[int]:
    """`root` and every process below it (this benchmark's cluster, driver and workers; not
    another job's Spark on the same machine)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # the field after the command's closing parenthesis: state, then the parent's pid
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


# -- the engines -------------------------------------------------------------------------------


# Each step returns its seconds (the work alone) and the rows it produced per table, which main()
# compares across engines: a step that read nothing would otherwise look fast.


def duckdb_features(shop) -> tuple[float, dict[str, int]]:
    from shop_pipeline import sql
    from shop_pipeline.warehouse.connection import connect

    with connect(shop.warehouse) as con:
        started = time.perf_counter()
        for name in FEATURE_STATEMENTS:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE bench_{name} AS {sql.load(name)}", statement_params(name, shop.as_of)
            )
        seconds = time.perf_counter() - started
        return seconds, {n: con.execute(f"SELECT count(*) FROM bench_{n}").fetchone()[0] for n in FEATURE_STATEMENTS}


def duckdb_scoring(shop) -> tuple[float, dict[str, int]]:
    from shop_pipeline.ml.common import registry
    from shop_pipeline.ml.models import MODELS
    from shop_pipeline.warehouse.connection import connect

    specs = {spec.name: spec for spec in MODELS}
    scored = {}
    with connect(shop.warehouse) as con:
        started = time.perf_counter()
        for name, features_table in SCORED.items():
            spec = specs[name]
            row = registry.champion(con, name)
            fitted = spec.load(con, row, shop.home / "models")
            features = con.execute(f"SELECT * FROM {features_table}").df()
            scores = spec.score_rows(fitted, features, shop.as_of, row.version)
            con.register("bench_scores", scores)
            con.execute(f"CREATE OR REPLACE TEMP TABLE bench_{name}_scores AS SELECT * FROM bench_scores")
            con.unregister("bench_scores")
            scored[name] = len(features)
        return time.perf_counter() - started, scored


def duckdb_planned_scoring(shop) -> tuple[float, dict[str, int]]:
    from types import SimpleNamespace

    from shop_pipeline.ml.models import MODELS
    from shop_pipeline.warehouse.connection import connect

    specs = {spec.name: spec for spec in MODELS}
    rows = planned_rows(shop)
    scored = {}
    with connect(shop.warehouse) as con:  # the recommendations' scoring makes a temporary table
        started = time.perf_counter()
        for name, row in rows.items():
            spec = specs[name]
            fitted = spec.load(con, row, shop.home / "models")
            scored[name] = len(spec.score(con, fitted, row, shop.as_of, SimpleNamespace(**PLANNED_SETTINGS)))
        return time.perf_counter() - started, scored


def spark_planned_scoring(spark, shop, lake_uri: str) -> tuple[float, dict[str, int]]:
    from types import SimpleNamespace

    from shop_pipeline.ml.common.spark_scoring import ScoringJob, artifact_ref, grouped_to_lake
    from shop_pipeline.ml.models import MODELS

    specs = {spec.name: spec for spec in MODELS}
    rows = planned_rows(shop)
    scored = {}
    started = time.perf_counter()
    for name, row in rows.items():
        ref = artifact_ref(row, shop.home / "models")
        job = ScoringJob(spark, lake_uri, ref, row, shop.as_of, SimpleNamespace(**PLANNED_SETTINGS))
        scored[name] = grouped_to_lake(specs[name], job).rows
    return time.perf_counter() - started, scored


def spark_features(spark, shop, lake_uri: str) -> tuple[float, dict[str, int]]:
    from shop_pipeline.engine import lake
    from shop_pipeline.sql import dialects

    started = time.perf_counter()
    for name in FEATURE_STATEMENTS:
        frame = dialects.execute(spark, dialects.load(name, "spark"), statement_params(name, shop.as_of))
        lake.write_partitions(frame, lake.lake_table(lake_uri, FEATURE_TABLES[name]))
    seconds = time.perf_counter() - started
    refresh(spark, lake_uri, FEATURE_TABLES.values())
    return seconds, {name: spark.table(FEATURE_TABLES[name]).count() for name in FEATURE_STATEMENTS}


def refresh(spark, lake_uri: str, tables) -> None:
    """The catalog sees what the feature step wrote: a monthly table registered before its first
    write knows no month folder until they are recovered (as the feature assets' point_catalog does)."""
    from shop_pipeline.engine.spark_catalog import register_tables

    register_tables(spark, lake_uri, list(tables))
    for name in tables:
        spark.catalog.refreshTable(name)


def spark_scoring(spark, shop, lake_uri: str) -> tuple[float, dict[str, int]]:
    from shop_pipeline.ml.common import registry
    from shop_pipeline.ml.common.spark_scoring import artifact_ref, score_to_lake
    from shop_pipeline.ml.models import MODELS
    from shop_pipeline.warehouse.connection import connect

    specs = {spec.name: spec for spec in MODELS}
    with connect(shop.warehouse, read_only=True) as con:
        rows = {name: registry.champion(con, name) for name in SCORED}
    scored = {}
    started = time.perf_counter()
    refresh(spark, lake_uri, SCORED.values())  # the feature step just rewrote them
    for name, features_table in SCORED.items():
        features = spark.table(features_table)
        score_to_lake(specs[name], features, artifact_ref(rows[name], shop.home / "models"), shop.as_of, lake_uri)
    seconds = time.perf_counter() - started
    for name, features_table in SCORED.items():
        scored[name] = spark.table(features_table).count()
    return seconds, scored


class Cluster:
    """A standalone cluster with `workers` workers of one core, and this process's driver on it."""

    def __init__(self, root: Path, workers: int, worker_memory: str, shop, lake_uri: str, pin: bool = True) -> None:
        from shop_pipeline_tests import cluster_fixtures

        cluster_fixtures.WORKER_MEMORY = worker_memory
        self.cluster = cluster_fixtures.start_cluster(root, workers=workers, pin_workers=pin)
        self.conf = {
            **cluster_fixtures.cluster_session_conf(self.cluster),
            "spark.executor.memory": _executor_memory(worker_memory),
            "spark.driver.memory": "2g",
        }
        self.shop, self.lake_uri = shop, lake_uri

    def session(self):
        from shop_pipeline.engine.settings import SPARK, EngineSettings
        from shop_pipeline.engine.spark_catalog import register_tables
        from shop_pipeline.engine.spark_session import shared_session

        settings = EngineSettings(kind=SPARK, spark_master=self.cluster.master_url, spark_ui=False)
        spark = shared_session(settings, self.conf)
        spark.sparkContext.setLogLevel("ERROR")
        register_tables(spark, self.lake_uri)
        for name in LAKE_INPUTS + tuple(SCORED.values()):
            spark.catalog.refreshTable(name)
        return spark

    def stop(self) -> None:
        from shop_pipeline.engine.spark_session import stop_session

        stop_session()
        self.cluster.stop()


def _executor_memory(worker_memory: str) -> str:
    """What an executor may take of its worker's memory (leaving room for the Python workers)."""
    number, unit = int(worker_memory[:-1]), worker_memory[-1].lower()
    mib = number * (1024 if unit == "g" else 1)
    return f"{max(512, mib * 2 // 3)}m"


# -- the measurement -------------------------------------------------------------------------


def busy_processes(count: int) -> list[subprocess.Popen]:
    """`count` processes that keep one core each busy (the load a user's machine carries)."""
    return [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdout=subprocess.DEVNULL) for _ in range(count)
    ]


def executor_cpus() -> list[str]:
    """The CPUs each executor JVM of this benchmark may run on (Linux's Cpus_allowed_list)."""
    found = []
    for pid in _descendants(os.getpid()):
        if _role(pid) == "executor JVM":
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("Cpus_allowed_list:"):
                    found.append(line.split()[1])
    return sorted(found)


def measure(engine: str, shop, lake_uri: str, workdir: Path, worker_memory: str, pin: bool = True) -> dict:
    result = {"engine": engine}
    cluster = None
    with PeakMemory() as memory:
        try:
            if engine == "duckdb":
                steps = {
                    "features": lambda: duckdb_features(shop),
                    "scoring": lambda: duckdb_scoring(shop),
                    "planned scoring": lambda: duckdb_planned_scoring(shop),
                }
            else:
                workers = int(engine.removeprefix("spark"))
                cluster = Cluster(workdir / f"cluster-{engine}", workers, worker_memory, shop, lake_uri, pin)
                spark = cluster.session()
                spark.range(workers * 4).repartition(workers * 4).count()  # every executor up before timing
                result["executor cpus"] = executor_cpus()
                steps = {
                    "features": lambda: spark_features(spark, shop, lake_uri),
                    "scoring": lambda: spark_scoring(spark, shop, lake_uri),
                    "planned scoring": lambda: spark_planned_scoring(spark, shop, lake_uri),
                }
            for step, run in steps.items():
                before = cpu_seconds_by_role()
                result[step], result[f"{step} rows"] = run()
                after = cpu_seconds_by_role()
                result[f"{step} cpu"] = {role: after[role] - before.get(role, 0.0) for role in after}
        finally:
            if cluster is not None:
                cluster.stop()
    result["memory"] = dict(memory.peaks)
    result["load"] = os.getloadavg()[0]
    return result


def _cpu_text(used: dict[str, float]) -> str:
    return ", ".join(f"{role} {seconds:.0f}" for role, seconds in sorted(used.items()) if seconds >= 0.5) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--busy", type=int, default=0, help="busy processes kept running while measuring")
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark1", "spark2"])
    parser.add_argument("--worker-memory", default="3g", help="memory each Spark worker offers its executor")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--no-warmup", dest="warmup", action="store_false", help="skip the warm-up round")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="let each worker's JVM use every CPU (by default worker i runs on CPU i: a one-core machine)",
    )
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    workdir = args.workdir or ROOT / "data" / "bench" / "scale_out" / f"e{args.events}-d{args.days}"
    shop, lake_uri = prepare(args.events, args.days, workdir)
    rows = staged_rows(shop)
    print(f"# {rows:,} staged events; {load()}; {os.cpu_count()} cores; busy processes: {args.busy}", flush=True)
    busy = busy_processes(args.busy)
    results = []
    try:
        # round 0 warms up (the driver JVM's first queries pay class loading and code generation:
        # printed, left out of the summary); the order turns every round, so no engine always
        # runs first or right after another's cluster stopped
        for repeat in range(0 if args.warmup else 1, args.repeats + 1):
            order = args.engines if repeat % 2 else list(reversed(args.engines))
            for engine in order:  # interleaved: the machine's noise hits every engine alike
                result = measure(engine, shop, lake_uri, workdir, args.worker_memory, args.pin)
                result["repeat"] = repeat
                results.append(result)
                memory = ", ".join(f"{role} {mib:.0f}" for role, mib in sorted(result["memory"].items()))
                print(
                    f"repeat {repeat or 'warm-up'} {engine}: features {result['features']:.1f} s "
                    f"({rows / result['features']:,.0f} rows/s), scoring {result['scoring']:.1f} s, "
                    f"planned scoring {result['planned scoring']:.1f} s; "
                    f"peak MiB: {memory}; executors on CPUs {result.get('executor cpus', '-')}; "
                    f"CPU s in features: {_cpu_text(result['features cpu'])}, in scoring: "
                    f"{_cpu_text(result['scoring cpu'])}, in planned scoring: "
                    f"{_cpu_text(result['planned scoring cpu'])}; "
                    f"load {result['load']:.2f}",
                    flush=True,
                )
    finally:
        for process in busy:
            process.kill()
    print()
    mismatched = False
    for step in STEPS:
        for r in results:
            print(f"rows {step} {r['engine']} repeat {r['repeat'] or 'warm-up'}: {r[f'{step} rows']}")
        if len({tuple(sorted(r[f"{step} rows"].items())) for r in results}) > 1:
            mismatched = True
            print(f"ROWS DIFFER between engines in the {step} step: the timings above do not compare the same work")
    print()
    header = [
        "engine",
        "repeat",
        "features s",
        "features rows/s",
        "scoring s",
        "planned scoring s",
        "load (1 min)",
        "peak RSS MiB by process",
    ]
    print(
        table(
            header,
            [
                [
                    r["engine"],
                    r["repeat"] or "warm-up",
                    f"{r['features']:.1f}",
                    f"{rows / r['features']:,.0f}",
                    f"{r['scoring']:.1f}",
                    f"{r['planned scoring']:.1f}",
                    f"{r['load']:.2f}",
                    "; ".join(f"{k} {v:.0f}" for k, v in sorted(r["memory"].items())),
                ]
                for r in results
            ],
        )
    )
    best = {
        (engine, step): min(r[step] for r in results if r["engine"] == engine and r["repeat"])
        for engine in args.engines
        for step in STEPS
    }
    if {"spark1", "spark2"} <= set(args.engines):
        print()
        for step in STEPS:
            speedup = best[("spark1", step)] / best[("spark2", step)]
            verdict = "meets" if speedup >= 1.5 else "misses"
            print(f"{step}: two workers {speedup:.2f}x one worker (best of {args.repeats}; target 1.5x: {verdict})")
    print(f"# {load()}")
    if mismatched:
        sys.exit(1)


if __name__ == "__main__":
    main()
