"""How close a single-write ingestion could come to the floor: the lower bound behind issue 12's
ingestion target, measured instead of estimated.

The probe does the least any design keeping the staging contract must do, as plain DuckDB in one
process, without Dagster, file hashing, line numbers, reader rejects or quarantine output:
  pass 1  read every CSV, type it, classify every row with sql/stage_events.sql's rules, and keep
          narrow keys (row number, reason, hash of the event_id, hash of the typed content)
  dedup   the repeated ids and contents (first arrival wins), the rows they drop
  pass 2  read and type again, insert the clean, first-arrival rows into staging.events
          (one persistent write of each row: no text raw layer)
It runs interleaved with benchmarks/duckdb_floor.py (the same files, typed, the same rules, first
row per event_id, into a DuckDB table) and prints every repetition, the ratio and the load average.

Usage: python benchmarks/single_write_probe.py [--events 10000000] [--repeats 2] [--workdir data/bench/ingest]
(the landing files are benchmarks/ingest.py's: run it once first, or let this script generate them).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from harness import load, run_timed

from shop_pipeline.contracts import EVENT_COLUMNS

HERE = Path(__file__).resolve().parent
COLUMNS = list(EVENT_COLUMNS)  # the canonical clean event, as the pipeline reads it

_TRIMMED = ", ".join(f"nullif(trim({c}), '') AS {c}" for c in COLUMNS)
TYPED = f"""
WITH read AS (
    SELECT row_number() OVER () AS k, CAST(file_index AS INTEGER) AS file_id, {_TRIMMED}
    FROM read_csv($paths, columns = $columns, header = true, auto_detect = false, delim = ',', quote = '',
                  escape = '', ignore_errors = true)
), typed AS (
    SELECT r.*, CAST($days[file_id + 1] AS DATE) AS partition_date, CAST($days[file_id + 1] AS TIMESTAMP) AS day_start,
        make_timestamp(epoch_us(try_cast(event_time AS TIMESTAMPTZ))) AS time_utc,
        CASE WHEN regexp_full_match(price, '[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?')
            THEN try_cast(price AS DOUBLE) END AS price_value,
        CASE WHEN quantity IS NULL THEN 1 WHEN regexp_full_match(quantity, '[+]?[0-9]{{1,9}}(\\.0*)?')
            THEN try_cast(quantity AS INTEGER) END AS quantity_value
    FROM read AS r
), classified AS (
    SELECT *, CASE
        WHEN event_id IS NULL THEN 'missing_event_id'
        WHEN event_type IS NULL THEN 'missing_event_type'
        WHEN NOT list_contains(['view', 'cart', 'remove_from_cart', 'purchase'], event_type) THEN 'unknown_event_type'
        WHEN user_id IS NULL THEN 'missing_user_id'
        WHEN product_id IS NULL THEN 'missing_product_id'
        WHEN event_time IS NULL THEN 'missing_event_time'
        WHEN time_utc IS NULL THEN 'unparseable_event_time'
        WHEN time_utc >= day_start + INTERVAL 1 DAY + to_minutes(60) THEN 'event_time_in_future'
        WHEN time_utc < day_start - to_days(3) THEN 'event_time_too_old'
        WHEN price IS NULL THEN 'missing_price'
        WHEN price_value IS NULL OR isnan(price_value) OR isinf(price_value) THEN 'unparseable_price'
        WHEN price_value < 0 THEN 'negative_price'
        WHEN price_value > 100000 THEN 'price_out_of_range'
        WHEN quantity_value IS NULL OR quantity_value < 1 OR quantity_value > 1000 THEN 'invalid_quantity'
        WHEN event_type = 'purchase' AND order_id IS NULL THEN 'missing_order_id'
    END AS reason_code
    FROM typed
)
"""

STATEMENTS = [
    (
        "pass 1: keys",
        "CREATE OR REPLACE TEMP TABLE probe_keys AS "
        + TYPED
        + """
        SELECT k, reason_code,
               CASE WHEN reason_code IS NULL THEN hash(event_id) END AS id_hash,
               CASE WHEN reason_code IS NULL THEN hash(time_utc, event_type, user_id, session_id, product_id,
                                                       price_value, quantity_value, order_id) END AS content_hash
        FROM classified""",
    ),
    (
        "dedup",
        """
        CREATE OR REPLACE TEMP TABLE probe_dropped AS
        WITH ids AS (SELECT id_hash, min(k) AS first_k FROM probe_keys WHERE reason_code IS NULL
                     GROUP BY id_hash HAVING count(*) > 1),
             contents AS (SELECT content_hash, min(k) AS first_k FROM probe_keys WHERE reason_code IS NULL
                          GROUP BY content_hash HAVING count(*) > 1)
        SELECT s.k FROM probe_keys AS s LEFT JOIN ids USING (id_hash) LEFT JOIN contents USING (content_hash)
        WHERE s.reason_code IS NULL AND (s.k > ids.first_k OR s.k > contents.first_k)""",
    ),
    (
        "pass 2: write",
        "INSERT INTO events "
        + TYPED
        + """
        SELECT partition_date, event_id, time_utc AS event_time, event_type, user_id, session_id, product_id,
               category, brand, price_value AS price, quantity_value AS quantity, order_id,
               time_utc < day_start AS is_late, file_id, k
        FROM classified WHERE reason_code IS NULL AND k NOT IN (SELECT k FROM probe_dropped)""",
    ),
]

EVENTS_DDL = """
CREATE TABLE events (partition_date DATE NOT NULL, event_id VARCHAR NOT NULL, event_time TIMESTAMP NOT NULL,
    event_type VARCHAR NOT NULL, user_id VARCHAR NOT NULL, session_id VARCHAR, product_id VARCHAR NOT NULL,
    category VARCHAR, brand VARCHAR, price DOUBLE NOT NULL, quantity INTEGER NOT NULL, order_id VARCHAR,
    is_late BOOLEAN NOT NULL, file_id INTEGER NOT NULL, k BIGINT NOT NULL)
"""


def probe(landing: Path, database: Path) -> None:
    """One run of the probe (in this process): the statements' seconds on stdout."""
    import re

    import duckdb

    header = ",".join(COLUMNS).encode()
    files = sorted(p for p in (landing / "events").glob("*.csv") if p.open("rb").readline().strip() == header)
    days = [re.search(r"\d{4}-\d{2}-\d{2}", p.name).group(0) for p in files]
    database.unlink(missing_ok=True)
    con = duckdb.connect(str(database))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(EVENTS_DDL)
    params = {"paths": [str(p) for p in files], "columns": {c: "VARCHAR" for c in COLUMNS}, "days": days}
    for label, statement in STATEMENTS:
        started = time.perf_counter()
        needed = {name: value for name, value in params.items() if f"${name}" in statement}
        con.execute(statement, needed)
        print(f"    {label:14s} {time.perf_counter() - started:6.1f} s", flush=True)
    con.close()
    database.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench/ingest"))
    parser.add_argument("--probe", nargs=2, type=Path, help=argparse.SUPPRESS)  # LANDING DB: one run, in-process
    args = parser.parse_args()
    if args.probe:
        probe(*args.probe)
        return
    from ingest import generated

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    landing = generated(args.events, args.days, workdir) / "landing"
    times: dict[str, list[float]] = {"floor": [], "probe": []}
    for rep in range(1, args.repeats + 1):
        print(f"# {args.events:,} events, repetition {rep}/{args.repeats}; {load()}", flush=True)
        for name, command in (
            ("floor", [sys.executable, str(HERE / "duckdb_floor.py"), str(landing), str(workdir / "floor.duckdb")]),
            (
                "probe",
                [sys.executable, str(Path(__file__).resolve()), "--probe", str(landing), str(workdir / "probe.duckdb")],
            ),
        ):
            seconds, rss, _ = run_timed(command, echo=False) if name == "floor" else _run_probe(command)
            times[name].append(seconds)
            print(f"  {name:6s} {seconds:6.1f} s  {rss:7,.0f} MiB", flush=True)
        (workdir / "floor.duckdb").unlink(missing_ok=True)
    ratios = [p / f for p, f in zip(times["probe"], times["floor"], strict=True)]
    print(f"# after: {load()}")
    print(
        f"| events | DuckDB floor s (each) | single-write probe s (each) | probe / floor (each) |\n|---|---|---|---|\n"
        f"| {args.events:,} | {statistics.median(times['floor']):.1f} ({', '.join(f'{s:.1f}' for s in times['floor'])}) "
        f"| {statistics.median(times['probe']):.1f} ({', '.join(f'{s:.1f}' for s in times['probe'])}) "
        f"| {statistics.median(ratios):.2f}x ({', '.join(f'{r:.2f}x' for r in ratios)}) |"
    )


def _run_probe(command: list[str]) -> tuple[float, float, bool]:
    """The probe as a child process, its statement timings shown."""
    import os
    import subprocess

    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"probe failed: {' '.join(command)}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024, True


if __name__ == "__main__":
    main()
