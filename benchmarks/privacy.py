"""Privacy benchmark: ingestion with privacy on vs off, and erasing customers (docs/privacy.md).

For each size the generator's daily CSVs are made once under --workdir; then, --repeats times and
interleaved (machine noise hits both sides), `shop-pipeline run --groups ingestion,staging` on a
fresh home (hard links to the landing files):
  off   no key
  on    a pseudonym key and a warehouse key (the encrypted warehouse; where DuckDB's httpfs is
        not installed, written with DuckDB's built-in library: SHOP_PIPELINE_DUCKDB_UNSAFE_CRYPTO,
        printed in the output, the same AES-GCM work)
then, on the last privacy-on home, `shop-pipeline forget --customers-file` with --forget customers
(the first ones of the landed files): seconds and rows removed (logs/erasures.jsonl).
Target: on / off at most 1.3x. Each repetition runs off then on back to back, so the ratio of a pair
shares the machine's load of that moment: the table gives every pair's ratio, their median, and the ratio
of the two best times (the least disturbed run of each side).

Usage: python benchmarks/privacy.py [--events 1000000] [--repeats 3] [--days 90] [--forget 100]
       [--workdir data/bench/privacy]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import duckdb
from harness import load, run_timed, table
from ingest import ENV, fresh_home, generated

SHOP_PIPELINE = str(Path(sys.executable).with_name("shop-pipeline"))


def keys(workdir: Path) -> dict[str, str]:
    env = {}
    for name, variable in (
        ("pseudonym.key", "SHOP_PIPELINE_PSEUDONYM_KEY_FILE"),
        ("warehouse.key", "SHOP_PIPELINE_WAREHOUSE_KEY_FILE"),
    ):
        path = workdir / name
        if not path.is_file():
            path.write_text(os.urandom(32).hex() + "\n")
        path.chmod(0o600)
        env[variable] = str(path)
    try:
        duckdb.connect().execute("LOAD httpfs")
    except duckdb.Error:
        print(
            "# httpfs is not installed: the encrypted warehouse is written with DuckDB's built-in library", flush=True
        )
        env["SHOP_PIPELINE_DUCKDB_UNSAFE_CRYPTO"] = "1"
    return env


def customers(landing: Path, count: int) -> list[str]:
    found = duckdb.sql(
        f"SELECT DISTINCT user_id FROM read_csv('{landing}/events/events_*.csv', all_varchar = true, "
        "ignore_errors = true, union_by_name = true) WHERE user_id IS NOT NULL ORDER BY 1 LIMIT $n",
        params={"n": count},
    ).fetchall()
    return [u for (u,) in found]


def bench(events: int, days: int, repeats: int, erase: int, workdir: Path) -> dict:
    source = generated(events, days, workdir)
    private = keys(workdir)
    runs: dict[str, list[float]] = {"off": [], "on": []}
    for rep in range(1, repeats + 1):
        print(f"# {events:,} events, repetition {rep}/{repeats}; {load()}", flush=True)
        for side, extra in (("off", {}), ("on", private)):
            home = workdir / f"home-{side}-{events}"
            fresh_home(source, home)
            env = {**ENV, **extra, "DAGSTER_HOME": str(home / "dagster_home")}
            seconds, rss, _ = run_timed(
                [SHOP_PIPELINE, "run", "--home", str(home), "--groups", "ingestion,staging"], env=env, echo=False
            )
            runs[side].append(seconds)
            print(f"  privacy {side:3} {seconds:7.1f} s  {rss:7,.0f} MiB", flush=True)
    home = workdir / f"home-on-{events}"
    requests = workdir / "forget.txt"
    requests.write_text("\n".join(customers(source / "landing", erase)) + "\n")
    env = {**ENV, **private, "DAGSTER_HOME": str(home / "dagster_home")}
    seconds, rss, _ = run_timed(
        [SHOP_PIPELINE, "forget", "--customers-file", str(requests), "--home", str(home)], env=env, echo=False
    )
    erasure = json.loads((home / "logs" / "erasures.jsonl").read_text().splitlines()[-1])
    print(f"  forget {erase} customers {seconds:7.1f} s  {rss:7,.0f} MiB", flush=True)
    return {"events": events, "runs": runs, "forget_seconds": seconds, "erasure": erasure}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--forget", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench/privacy"))
    args = parser.parse_args()
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; {load()}", flush=True)
    results = [bench(n, args.days, args.repeats, args.forget, args.workdir) for n in args.events]
    rows = []
    for result in results:
        off, on = (statistics.median(result["runs"][k]) for k in ("off", "on"))
        every = {k: ", ".join(f"{s:.1f}" for s in v) for k, v in result["runs"].items()}
        pairs = [b / a for a, b in zip(result["runs"]["off"], result["runs"]["on"], strict=True)]
        best = min(result["runs"]["on"]) / min(result["runs"]["off"])
        erasure = result["erasure"]
        rows.append(
            [
                f"{result['events']:,}",
                f"{off:.1f} ({every['off']})",
                f"{on:.1f} ({every['on']})",
                ", ".join(f"{r:.2f}x" for r in pairs),
                f"**{statistics.median(pairs):.2f}x**",
                f"{best:.2f}x",
                f"{result['forget_seconds']:.1f}",
                f"{sum(erasure['rows_removed'].values()):,} rows, {erasure['landing_lines_removed']:,} landed lines, "
                f"{erasure['landing_files_rewritten']} files",
            ]
        )
    print()
    print(
        table(
            [
                "events",
                "ingestion + staging, privacy off (s)",
                "privacy on (s)",
                "on / off per repetition",
                "median of those",
                "best on / best off",
                f"forget {args.forget} customers (s)",
                "removed",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
