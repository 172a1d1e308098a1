"""Thread-storm benchmark: every model step of a 1M-event run, quiet and beside two CPU burners.

Issue 12 part 3: with two other CPU-bound processes on the machine, each model step (training,
evaluation, scoring, drift) must take at most 2x its quiet time.

1. The shop (--home, generated with --events / --days unless it has landed files) is staged
   once into --workdir/base: `shop-pipeline run --groups ingestion,staging,features` (with
   --full, nothing is staged: every repetition runs the whole pipeline from an empty warehouse).
2. --repeats times, interleaved (quiet, loaded, quiet, loaded ...): a fresh copy of the base
   warehouse (no models, no registry, no Dagster instance: every model is trained anew) and
   `shop-pipeline run --groups training,evaluation,scoring,monitoring` (the whole run with
   --full) in its own process. A loaded repetition first starts two burner processes (a Python
   busy loop each, bounded by --burn-seconds; they stop by themselves and are stopped when the
   repetition ends). Step times come from the run's Dagster event log.
3. Every repetition is printed with the load average at its start, then a Markdown table per
   step: quiet and loaded medians, their ratio, and whether it is at most 2x.

--env KEY=VALUE (repeatable) sets variables of the pipeline processes, e.g.
OMP_WAIT_POLICY=ACTIVE to measure libgomp's default spin-waiting, or SHOP_PIPELINE_THREADS=1.

Usage: python benchmarks/threads.py [--home data/bench/h1m] [--events 1000000] [--days 90]
                                    [--workdir /tmp/shop-bench-threads] [--repeats 3]
                                    [--burn-seconds 900] [--full] [--env KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import load, run_timed, table

PYTHON = sys.executable
SHOP_PIPELINE = str(Path(sys.executable).with_name("shop-pipeline"))
MODEL_GROUPS = "training,evaluation,scoring,monitoring"
DATA_GROUPS = "ingestion,staging,features"
BURNER = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
TARGET_RATIO = 2.0


def has_landing(home: Path) -> bool:
    events = home / "landing" / "events"
    return events.is_dir() and any(p.is_file() for p in events.iterdir())


def fresh_home(source: Path, target: Path, warehouse: Path | None) -> Path:
    """A shop home at `target` with `source`'s landing folder (linked) and a copy of `warehouse`."""
    shutil.rmtree(target, ignore_errors=True)
    (target / "warehouse").mkdir(parents=True)
    (target / "landing").symlink_to((source / "landing").resolve())
    if warehouse is not None:
        shutil.copy2(warehouse, target / "warehouse" / "shop.duckdb")
    return target


def run(home: Path, groups: str | None, env: dict[str, str]) -> tuple[float, bool]:
    command = [SHOP_PIPELINE, "run", "--home", str(home)] + (["--groups", groups] if groups else [])
    seconds, _, ok = run_timed(
        command, env={"DAGSTER_HOME": str(home / "dagster_home"), **env}, check=False, echo=False
    )
    return seconds, ok


def step_seconds(home: Path) -> dict[str, float]:
    """Step key -> seconds of the latest run in the home's Dagster instance (read in a child process)."""
    code = (
        "import sys, json\nfrom dagster import DagsterInstance\n"
        "instance = DagsterInstance.from_config(sys.argv[1])\n"
        "run = instance.get_runs(limit=1)[0]\n"
        "print(json.dumps({s.step_key: (s.end_time or 0) - (s.start_time or 0)"
        " for s in instance.get_run_step_stats(run.run_id)}))\n"
    )
    import json

    out = subprocess.run(
        [PYTHON, "-W", "ignore", "-c", code, str(home / "dagster_home")], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def start_burners(seconds: float, n: int = 2) -> list[subprocess.Popen]:
    return [subprocess.Popen([PYTHON, "-c", BURNER.format(seconds=seconds)]) for _ in range(n)]


def stop_burners(burners: list[subprocess.Popen]) -> None:
    for process in burners:
        process.terminate()
    for process in burners:
        process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default="data/bench/h1m")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workdir", default="/tmp/shop-bench-threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--burn-seconds", type=float, default=900.0)
    parser.add_argument("--full", action="store_true", help="time the whole run, not only the model steps")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    home, workdir = Path(args.home).resolve(), Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if not has_landing(home):
        run_timed(
            [SHOP_PIPELINE, "generate", "--events", str(args.events), "--days", str(args.days), "--home", str(home)]
        )
    base_warehouse = None
    if not args.full:
        base = fresh_home(home, workdir / "base", None)
        seconds, ok = run(base, DATA_GROUPS, env)
        if not ok:
            raise SystemExit("staging the base warehouse failed")
        print(f"# base warehouse staged ({DATA_GROUPS}) in {seconds:.1f} s", flush=True)
        base_warehouse = base / "warehouse" / "shop.duckdb"
    print(
        f"# {'full run' if args.full else 'model steps'} of {home}; pipeline env {env or 'default'}; "
        f"OMP_WAIT_POLICY in this shell: {os.environ.get('OMP_WAIT_POLICY', 'unset')}",
        flush=True,
    )
    results: dict[str, list[dict[str, float]]] = {"quiet": [], "loaded": []}
    walls: dict[str, list[float]] = {"quiet": [], "loaded": []}
    for rep in range(1, args.repeats + 1):
        for mode in ("quiet", "loaded"):
            target = fresh_home(home, workdir / "run", base_warehouse)
            started_load = load()
            burners = start_burners(args.burn_seconds) if mode == "loaded" else []
            try:
                if burners:
                    time.sleep(1.0)  # the burners are running before the pipeline starts
                seconds, ok = run(target, None if args.full else MODEL_GROUPS, env)
            finally:
                stop_burners(burners)
            steps = step_seconds(target)
            results[mode].append(steps)
            walls[mode].append(seconds)
            print(
                f"rep {rep} {mode:6s} wall {seconds:6.1f} s{'' if ok else ' (FAILED)'}; at start {started_load}; "
                + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()),
                flush=True,
            )
    names = list(dict.fromkeys(k for rep in results["quiet"] + results["loaded"] for k in rep))
    rows, worst = [], 0.0
    for name in [*names, "(process wall time)"]:
        if name == "(process wall time)":
            quiet, loaded = walls["quiet"], walls["loaded"]
        else:
            quiet = [r[name] for r in results["quiet"] if name in r]
            loaded = [r[name] for r in results["loaded"] if name in r]
        if not quiet or not loaded:
            continue
        q, lo = statistics.median(quiet), statistics.median(loaded)
        ratio = lo / q if q > 0 else float("nan")
        if name != "(process wall time)" and q >= 0.5:
            worst = max(worst, ratio)
        rows.append(
            [
                name,
                " ".join(f"{v:.1f}" for v in quiet),
                f"{q:.2f}",
                " ".join(f"{v:.1f}" for v in loaded),
                f"{lo:.2f}",
                f"{ratio:.2f}",
                "yes" if ratio <= TARGET_RATIO else "NO",
            ]
        )
    print()
    print(
        table(
            [
                "step",
                "quiet s (each)",
                "quiet median",
                "2 burners s (each)",
                "2 burners median",
                "ratio",
                f"<= {TARGET_RATIO:g}x",
            ],
            rows,
        )
    )
    print(f"\nworst ratio of a step of at least 0.5 s quiet: {worst:.2f}; {load()} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
