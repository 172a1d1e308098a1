"""Whole-pipeline benchmark: `shop-pipeline run` as a user runs it, one child process per run.

Measures issue 12's targets that are about the run as a whole:
  history   the same number of events over --short-days and --long-days (default 90 and 540):
            full run wall time, and the ratio long / short (target: at most 1.5x);
  start     seconds from the command to the first step starting, with --start-days of history
            (default 730; target: at most 10 s), read from the run's streamed log (--verbose);
  rerun     a second `shop-pipeline run` on unchanged data against the first (target: at most 15%);
  full      a full run at --full-events (default 1M, 90 days; target: at most 60 s quiet).
Each measure runs --repeats times, the sizes interleaved (short, long, short, long, ...) so that
machine noise hits both; every repetition, the median and the load average are printed.
Each run starts from an empty shop home (landing copied from a generated template), except the
rerun, which runs again on the home its first run left.

Usage: python benchmarks/pipeline.py [--measures history,start,rerun,full] [--events 70000]
       [--repeats 3] [--workdir data/bench/pipeline]
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

from harness import load, table

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).with_name("shop-pipeline"))
ENV = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "DAGSTER_DISABLE_TELEMETRY": "1"}
ENV.pop("SHOP_PIPELINE_PARTITIONS_START", None)  # the shop's first partition comes from its data
ENV.pop("DAGSTER_HOME", None)


def template(workdir: Path, events: int, days: int, start: str = "2024-01-01") -> Path:
    """A generated landing folder, made once per size and copied into each run's home."""
    home = workdir / f"template-{events}-{days}"
    if not (home / "landing" / "events").is_dir():
        subprocess.run(
            [CLI, "generate", "--events", str(events), "--days", str(days), "--start", start, "--home", str(home)],
            check=True,
            env=ENV,
            stdout=subprocess.DEVNULL,
        )
    return home


def fresh_home(workdir: Path, source: Path, name: str) -> Path:
    home = workdir / name
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copytree(source / "landing", home / "landing")
    return home


def run(home: Path, verbose: bool = False) -> tuple[float, float | None]:
    """Wall seconds of `shop-pipeline run`, and (verbose) seconds until its first step started."""
    command = [CLI, "run", "--home", str(home)] + (["--verbose"] if verbose else [])
    started = time.perf_counter()
    first_step = None
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    for line in process.stdout:
        if first_step is None and "STEP_START" in line:
            first_step = time.perf_counter() - started
        tail = ([*tail, line])[-20:]
    code = process.wait()
    seconds = time.perf_counter() - started
    if code != 0:
        sys.stdout.write("".join(tail))
        print(f"# run exited {code} after {seconds:.1f} s ({home})", flush=True)
    return seconds, first_step


def median_row(name: str, values: list[float], unit: str = "s") -> list:
    return [name, f"{statistics.median(values):.1f} {unit}", ", ".join(f"{v:.1f}" for v in values)]


def history(args, workdir: Path) -> list[list]:
    short = template(workdir, args.events, args.short_days)
    long = template(workdir, args.events, args.long_days)
    times: dict[int, list[float]] = {args.short_days: [], args.long_days: []}
    for repeat in range(args.repeats):
        for days, source in ((args.short_days, short), (args.long_days, long)):
            seconds, _ = run(fresh_home(workdir, source, f"history-{days}"))
            times[days].append(seconds)
            print(
                f"history: {args.events:,} events over {days} days, repeat {repeat + 1}: {seconds:.1f} s; {load()}",
                flush=True,
            )
    ratios = [b / a for a, b in zip(times[args.short_days], times[args.long_days])]
    return [
        median_row(f"full run, {args.events:,} events over {args.short_days} days", times[args.short_days]),
        median_row(f"full run, {args.events:,} events over {args.long_days} days", times[args.long_days]),
        [
            f"**{args.long_days} / {args.short_days} days** (target <= 1.5x)",
            f"**{statistics.median(ratios):.2f}x**",
            ", ".join(f"{r:.2f}x" for r in ratios),
        ],
    ]


def first_step(args, workdir: Path) -> list[list]:
    source = template(workdir, args.events, args.start_days)
    waits, totals = [], []
    for repeat in range(args.repeats):
        seconds, wait = run(fresh_home(workdir, source, f"start-{args.start_days}"), verbose=True)
        waits.append(wait if wait is not None else float("nan"))
        totals.append(seconds)
        print(
            f"start: {args.start_days} days, repeat {repeat + 1}: first step after {wait:.1f} s, run {seconds:.1f} s; "
            f"{load()}",
            flush=True,
        )
    return [
        median_row(f"command -> first step, {args.start_days} days of history (target <= 10 s)", waits),
        median_row(f"full run, {args.events:,} events over {args.start_days} days", totals),
    ]


def rerun(args, workdir: Path) -> list[list]:
    source = template(workdir, args.events * 3, args.short_days)
    firsts, seconds_ = [], []
    for repeat in range(args.repeats):
        home = fresh_home(workdir, source, "rerun")
        first, _ = run(home)
        second, _ = run(home)
        firsts.append(first)
        seconds_.append(second)
        print(
            f"rerun, repeat {repeat + 1}: first {first:.1f} s, second (unchanged data) {second:.1f} s "
            f"= {second / first:.1%}; {load()}",
            flush=True,
        )
    ratios = [b / a * 100 for a, b in zip(firsts, seconds_)]
    return [
        median_row(f"first run, {args.events * 3:,} events over {args.short_days} days", firsts),
        median_row("second run on unchanged data", seconds_),
        [
            "**second / first** (target <= 15%)",
            f"**{statistics.median(ratios):.1f}%**",
            ", ".join(f"{r:.1f}%" for r in ratios),
        ],
    ]


def full(args, workdir: Path) -> list[list]:
    source = template(workdir, args.full_events, 90, start="2025-01-01")
    times = []
    for repeat in range(args.repeats):
        seconds, _ = run(fresh_home(workdir, source, "full"))
        times.append(seconds)
        print(f"full: {args.full_events:,} events, repeat {repeat + 1}: {seconds:.1f} s; {load()}", flush=True)
    return [median_row(f"**full `shop-pipeline run`, {args.full_events:,} events, 90 days** (target <= 60 s)", times)]


MEASURES = {"history": history, "start": first_step, "rerun": rerun, "full": full}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measures", default="history,start,rerun,full")
    parser.add_argument("--events", type=int, default=70_000)
    parser.add_argument("--short-days", type=int, default=90)
    parser.add_argument("--long-days", type=int, default=540)
    parser.add_argument("--start-days", type=int, default=730)
    parser.add_argument("--full-events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default=str(ROOT / "data" / "bench" / "pipeline"))
    args = parser.parse_args()
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"# {os.cpu_count()} cores; {load()}", flush=True)
    rows = []
    for name in args.measures.split(","):
        rows += MEASURES[name.strip()](args, workdir)
    print()
    print(table(["measure", "median", "every repetition"], rows))
    print(f"\n# {load()}")


if __name__ == "__main__":
    main()
