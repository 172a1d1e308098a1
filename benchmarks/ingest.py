"""Ingestion benchmark: generate -> ingest + staging + validation, against the bare DuckDB floor.

Each stage runs in its own process so that wall time and peak RSS are its own.
Usage: python benchmarks/ingest.py [--events 1000000 10000000] [--days 90] [--workdir /tmp/shop-bench]
Prints a Markdown table (paste it into the README's benchmark section).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from harness import timed

PYTHON = sys.executable
SHOP_PIPELINE = str(Path(sys.executable).with_name("shop-pipeline"))


def bench(events: int, days: int, workdir: Path) -> list[tuple]:
    home = workdir / f"shop-{events}"
    shutil.rmtree(home, ignore_errors=True)
    rows = []
    seconds, rss = timed([PYTHON, "-m", "shop_pipeline.synth", "--events", str(events), "--days", str(days),
                          "--home", str(home)], echo=False)
    rows.append(("generate (csv, default defects)", events, seconds, rss))
    seconds, rss = timed([PYTHON, str(Path(__file__).with_name("duckdb_floor.py")), str(home / "landing"),
                          str(workdir / f"floor-{events}.duckdb")], echo=False)
    rows.append(("floor: bare DuckDB read + dedup", events, seconds, rss))
    (workdir / f"floor-{events}.duckdb").unlink(missing_ok=True)
    seconds, rss = timed([SHOP_PIPELINE, "run", "--home", str(home), "--groups", "ingestion,staging"],
                         env={"DAGSTER_HOME": str(home / "dagster_home")}, echo=False)
    rows.append(("shop-pipeline run: ingest + staging + GX validation", events, seconds, rss))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/shop-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print("| stage | events | seconds | events/s | peak RSS MiB | vs floor |")
    print("|---|---|---|---|---|---|")
    for events in args.events:
        rows = bench(events, args.days, args.workdir)
        floor = rows[1][2]
        for name, n, seconds, rss in rows:
            ratio = f"{seconds / floor:.2f}x" if "floor" not in name and "generate" not in name else ""
            print(f"| {name} | {n:,} | {seconds:.1f} | {n / seconds:,.0f} | {rss:,.0f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
