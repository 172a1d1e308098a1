"""Ingestion benchmark: `shop-pipeline run --groups ingestion,staging` against two floors.

For each size: the generator's 90 daily CSVs (default defects, ~2% duplicate lines) are made
once under --workdir; then, --repeats times and interleaved (so machine noise hits every side):
  duckdb floor   benchmarks/duckdb_floor.py: one read_csv + typing + rules + QUALIFY, into DuckDB
  polars floor   benchmarks/polars_floor.py: the same with polars, into DuckDB
  pipeline       shop-pipeline run --groups ingestion,staging on a fresh shop home (hard links
                 to the landing files): ingestion + staging + every blocking check, through Dagster
  rerun          the same command again on the unchanged shop home (nothing to read or stage)
Every repetition is printed with the load average, then the medians, the ratio of the pipeline
to min(floors), the peak RSS, and the validation share (GX + conservation seconds over the
raw_events + clean_events step seconds, from the steps' timing lines in logs/dagster.log).

Usage: python benchmarks/ingest.py [--events 1000000 10000000] [--repeats 3] [--days 90]
       [--workdir data/bench/ingest]     (add 50000000 to --events for the opt-in 50M size)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from harness import load, run_timed, table

PYTHON = sys.executable
HERE = Path(__file__).resolve().parent
SHOP_PIPELINE = str(Path(sys.executable).with_name("shop-pipeline"))
ENV = {
    "GX_ANALYTICS_ENABLED": "false",
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
}
TIMING = re.compile(r"step timing (\w+): seconds=([\d.]+) validation_seconds=([\d.]+)")


def generated(events: int, days: int, workdir: Path) -> Path:
    source = workdir / f"source-{events}"
    marker = source / "ground_truth" / "generation.json"
    if marker.is_file():
        config = json.loads(marker.read_text())["config"]
        if config["events"] == events and config["days"] == days:
            return source
    shutil.rmtree(source, ignore_errors=True)
    run_timed(
        [PYTHON, "-m", "shop_pipeline.synth", "--events", str(events), "--days", str(days), "--home", str(source)],
        env=ENV,
    )
    return source


def fresh_home(source: Path, home: Path) -> None:
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    subprocess.run(["cp", "-al", str(source / "landing"), str(home / "landing")], check=True)


def step_timings(home: Path) -> tuple[float, float]:
    """(step seconds, validation seconds) of raw_events + clean_events in the home's last run."""
    log = home / "logs" / "dagster.log"
    found: dict[str, tuple[float, float]] = {}
    if log.is_file():
        for match in TIMING.finditer(log.read_text(errors="replace")):
            found[match.group(1)] = (float(match.group(2)), float(match.group(3)))  # the last run wins
    return sum(s for s, _ in found.values()), sum(v for _, v in found.values())


def bench(events: int, days: int, repeats: int, workdir: Path) -> dict:
    source = generated(events, days, workdir)
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in ("duckdb", "polars", "pipeline", "rerun")}
    shares = []
    for rep in range(1, repeats + 1):
        print(f"# {events:,} events, repetition {rep}/{repeats}; {load()}", flush=True)
        for name, script in (("duckdb", "duckdb_floor.py"), ("polars", "polars_floor.py")):
            database = workdir / f"floor-{name}.duckdb"
            seconds, rss, _ = run_timed(
                [PYTHON, str(HERE / script), str(source / "landing"), str(database)], env=ENV, echo=False
            )
            database.unlink(missing_ok=True)
            runs[name].append((seconds, rss))
            print(f"  {name} floor      {seconds:7.1f} s  {rss:7,.0f} MiB", flush=True)
        home = workdir / f"home-{events}"
        fresh_home(source, home)
        command = [SHOP_PIPELINE, "run", "--home", str(home), "--groups", "ingestion,staging"]
        env = {**ENV, "DAGSTER_HOME": str(home / "dagster_home")}
        seconds, rss, _ = run_timed(command, env=env, echo=False)
        steps, validation = step_timings(home)
        share = validation / steps if steps else float("nan")
        shares.append(share)
        runs["pipeline"].append((seconds, rss))
        print(
            f"  pipeline        {seconds:7.1f} s  {rss:7,.0f} MiB  (steps {steps:.1f} s, validation {validation:.1f} s"
            f" = {share:.1%})",
            flush=True,
        )
        seconds, rss, _ = run_timed(command, env=env, echo=False)
        runs["rerun"].append((seconds, rss))
        print(f"  rerun unchanged {seconds:7.1f} s  {rss:7,.0f} MiB", flush=True)
    print(f"# after {events:,}: {load()}", flush=True)
    return {"events": events, "runs": runs, "validation_share": statistics.median(shares)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench/ingest"))
    args = parser.parse_args()
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; {load()}", flush=True)
    results = [bench(n, args.days, args.repeats, args.workdir) for n in args.events]
    rows = []
    for result in results:
        med = {k: statistics.median(s for s, _ in v) for k, v in result["runs"].items()}
        rss = {k: max(r for _, r in v) for k, v in result["runs"].items()}
        floor = min(med["duckdb"], med["polars"])
        every = {k: ", ".join(f"{s:.1f}" for s, _ in v) for k, v in result["runs"].items()}
        rows.append(
            [
                f"{result['events']:,}",
                f"{med['duckdb']:.1f} ({every['duckdb']})",
                f"{med['polars']:.1f} ({every['polars']})",
                f"{med['pipeline']:.1f} ({every['pipeline']})",
                f"{med['pipeline'] / med['duckdb']:.2f}x / {med['pipeline'] / med['polars']:.2f}x / "
                f"**{med['pipeline'] / floor:.2f}x**",
                f"{rss['pipeline'] / 1024:.2f} GiB (floors {rss['duckdb'] / 1024:.2f} / {rss['polars'] / 1024:.2f})",
                f"{result['validation_share']:.1%}",
                f"{med['rerun']:.1f} ({med['rerun'] / med['pipeline']:.0%})",
            ]
        )
    print()
    print(
        table(
            [
                "events",
                "DuckDB floor s (each)",
                "polars floor s (each)",
                "pipeline s (each)",
                "pipeline / DuckDB / polars / min floor",
                "peak RSS",
                "validation share",
                "rerun unchanged s",
            ],
            rows,
        )
    )
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
