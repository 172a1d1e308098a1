"""Online API benchmark: latency and throughput per endpoint under concurrent clients, and a snapshot swap.

1. The shop (--home; generated with --events / --days and run through `shop-pipeline run` unless its
   serving snapshot exists) is served by `shop-pipeline serve` on a free 127.0.0.1 port, in its own
   process.
2. Per endpoint, an open-loop load generator (asyncio + httpx, 64 connections, its own process) sends
   requests at the target rate for --seconds: recommendations and scores at 500/s, order risk and demand (a
   product's next 7 days, a quarter of them what-ifs) at 200/s, each
   request scheduled at a fixed time and its latency measured from that time (a slow answer delays
   no later request, so queueing shows in the percentiles). Customers and orders are drawn from
   the shop (orders as the checkout sends them, ml/order_risk/order_history.ORDERS_AS_SENT).
3. During a second recommendations pass a new snapshot is published three times; every failed or
   non-200 answer is counted.
A 3-second warm-up per endpoint (every worker loads its snapshot, first requests) is not measured.
Every pass is printed with the load average; then the table with the targets.

Usage: python benchmarks/serve.py [--home data/bench/serve] [--events 1000000] [--days 90]
                                  [--seconds 30] [--repeats 1] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import load, table

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
SHOP_PIPELINE = str(Path(sys.executable).with_name("shop-pipeline"))
ENV = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "DAGSTER_DISABLE_TELEMETRY": "1"}
TARGETS = {  # endpoint: (requests per second, p99 limit in ms)
    "recommendations": (500, 20.0),
    "scores": (500, 20.0),
    "orders/risk": (200, 50.0),
    "demand/predict": (200, 50.0),
}


def prepared(home: Path, events: int, days: int) -> None:
    from shop_pipeline.serving.snapshot import current_snapshot_dir, serving_root

    if current_snapshot_dir(serving_root(home)) is not None:
        return
    if not any((home / "landing" / "events").glob("*")):
        subprocess.run(
            [PYTHON, "-m", "shop_pipeline.synth", "--events", str(events), "--days", str(days), "--home", str(home)],
            check=True,
            env=ENV,
        )
    subprocess.run([SHOP_PIPELINE, "run", "--home", str(home)], check=False, env=ENV)
    if current_snapshot_dir(serving_root(home)) is None:
        raise SystemExit(f"the run on {home} published no serving snapshot (see {home}/logs/dagster.log)")


def workload(home: Path, n: int, seed: int = 0) -> dict[str, list]:
    """Request paths and bodies drawn from the shop (the warehouse is closed again before serving)."""
    from shop_pipeline.ml.order_risk.order_history import ORDERS_AS_SENT, OnlineOrder
    from shop_pipeline.warehouse.connection import connect

    rng = random.Random(seed)
    with connect(home / "warehouse" / "shop.duckdb", read_only=True) as con:
        customers = [c for (c,) in con.execute("SELECT customer_id FROM scoring.customer_scores").fetchall()]
        orders = con.execute(ORDERS_AS_SENT + " LIMIT 20000").df()
        products = [p for (p,) in con.execute("SELECT DISTINCT product_id FROM scoring.demand_forecasts").fetchall()]
        horizon = [
            d.isoformat()
            for (d,) in con.execute("SELECT DISTINCT day FROM scoring.demand_forecasts ORDER BY day").fetchall()
        ]
    unknown = [f"unknown-{i}" for i in range(max(1, n // 20))]  # 5% cold customers: the fallback path
    pick = [rng.choice(customers) if rng.random() > 0.05 else rng.choice(unknown) for _ in range(n)]
    bodies = [
        OnlineOrder.from_row(row).to_request()
        for row in orders.sample(min(n, len(orders)), random_state=seed, replace=len(orders) < n).itertuples(
            index=False
        )
    ]
    return {
        "recommendations": [("GET", f"/v1/customers/{c}/recommendations?k=10", None) for c in pick],
        "scores": [("GET", f"/v1/customers/{c}/scores", None) for c in pick if not c.startswith("unknown-")],
        "orders/risk": [("POST", "/v1/orders/risk", b) for b in bodies],
        # the next week of a product; every fourth request a what-if price or promotion
        "demand/predict": [
            (
                "POST",
                "/v1/demand/predict",
                {
                    "product_id": rng.choice(products),
                    "days": horizon[:7],
                    **({} if i % 4 else rng.choice([{"price": round(rng.uniform(1, 100), 2)}, {"promotion_pct": 10}])),
                },
            )
            for i in range(n)
        ],
    }


async def open_loop(base: str, requests: list, rate: float, seconds: float, workers: int = 64) -> dict:
    """Send request i at start + i / rate from a pool of `workers` connections; a request's latency
    counts from its due time, so a server that falls behind shows it (no coordinated omission)."""
    import httpx

    latencies: list[float] = []
    failures: dict[str, int] = {}
    total = int(rate * seconds)
    next_index = iter(range(total))
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        start = time.perf_counter()

        async def worker() -> None:
            for i in next_index:
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                method, path, body = requests[i % len(requests)]
                try:
                    response = await client.request(method, path, json=body)
                    ok = response.status_code in (200, 404) if "/scores" in path else response.status_code == 200
                    if not ok:
                        failures[str(response.status_code)] = failures.get(str(response.status_code), 0) + 1
                except httpx.HTTPError as exc:
                    failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                latencies.append((time.perf_counter() - due) * 1000)

        await asyncio.gather(*(worker() for _ in range(workers)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "sent": total,
        "seconds": elapsed,
        "throughput": total / elapsed,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "failures": failures,
    }


def client_process(base: str, endpoint: str, requests_file: Path, rate: float, seconds: float) -> dict:
    """Run the load generator in its own process (its CPU is not the server's)."""
    done = subprocess.run(
        [PYTHON, __file__, "--client", base, endpoint, str(requests_file), str(rate), str(seconds)],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def publish_during(home: Path, after: float, times: int) -> list[str]:
    from shop_pipeline.serving.snapshot import publish_snapshot, serving_root
    from shop_pipeline.warehouse.connection import connect

    published = []
    for _ in range(times):
        time.sleep(after)
        with connect(home / "warehouse" / "shop.duckdb", read_only=True) as con:
            published.append(publish_snapshot(con, serving_root(home), models_dir=home / "models").snapshot_id)
    return published


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        base, endpoint, requests_file, rate, seconds = sys.argv[2:7]
        requests = json.loads(Path(requests_file).read_text())
        print(json.dumps(asyncio.run(open_loop(base, requests, float(rate), float(seconds)))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path("data/bench/serve"))
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="server processes (shop-pipeline serve --workers)")
    args = parser.parse_args()
    home = args.home.resolve()
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; {load()}", flush=True)
    prepared(home, args.events, args.days)
    sys.path.insert(0, str(HERE.parent))
    from shop_pipeline_tests.serving.server_process import free_port

    work = workload(home, 20_000)
    folder = home / "bench_requests"
    folder.mkdir(exist_ok=True)
    files = {}
    for endpoint, requests in work.items():
        files[endpoint] = folder / f"{endpoint.replace('/', '_')}.json"
        files[endpoint].write_text(json.dumps(requests))
    port = free_port()
    server_log = open(home / "bench_requests" / "server.log", "w")  # noqa: SIM115 - the server writes it until it stops
    server = subprocess.Popen(
        [SHOP_PIPELINE, "serve", "--home", str(home), "--port", str(port), "--workers", str(args.workers)],
        env=ENV,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not become ready")
            time.sleep(0.2)
        # every worker process loads its snapshot and warms up (imports, first requests) before the
        # measured passes: steady state is measured, the start-up is not
        for endpoint in TARGETS:
            client_process(base, endpoint, files[endpoint], 100, 3)
        results: dict[str, list[dict]] = {e: [] for e in TARGETS}
        for rep in range(1, args.repeats + 1):
            for endpoint, (rate, _) in TARGETS.items():
                print(f"# {endpoint} at {rate}/s for {args.seconds:.0f} s, repetition {rep}; {load()}", flush=True)
                result = client_process(base, endpoint, files[endpoint], rate, args.seconds)
                results[endpoint].append(result)
                print(
                    f"  p50 {result['p50']:.1f} ms  p99 {result['p99']:.1f} ms  {result['throughput']:.0f}/s  "
                    f"failures {result['failures'] or 'none'}",
                    flush=True,
                )
        print(f"# snapshot swap: recommendations at 500/s while 3 snapshots are published; {load()}", flush=True)
        import threading

        swapped: list[str] = []
        publisher = threading.Thread(target=lambda: swapped.extend(publish_during(home, args.seconds / 4, 3)))
        publisher.start()
        swap = client_process(base, "recommendations", files["recommendations"], 500, args.seconds)
        publisher.join()
        deadline = time.monotonic() + 60  # the last publish may still be loading
        while (current := httpx.get(base + "/readyz").json()["snapshot_id"]) != swapped[
            -1
        ] and time.monotonic() < deadline:
            time.sleep(0.5)
        print(
            f"  published {swapped}; serving {current}; p99 {swap['p99']:.1f} ms; failures {swap['failures'] or 'none'}"
        )
        for endpoint, (rate, limit) in TARGETS.items():
            runs = results[endpoint]
            p50 = statistics.median(r["p50"] for r in runs)
            p99 = statistics.median(r["p99"] for r in runs)
            failures = sum(sum(r["failures"].values()) for r in runs)
            rows.append(
                [
                    endpoint,
                    f"{rate}/s",
                    f"{statistics.median(r['throughput'] for r in runs):.0f}/s",
                    f"{p50:.1f}",
                    f"{p99:.1f} ({', '.join(format(r['p99'], '.1f') for r in runs)})",
                    f"under {limit:.0f} ms: {'met' if p99 < limit and not failures else 'NOT met'}",
                    str(failures),
                ]
            )
        rows.append(
            [
                "snapshot swap (3 publishes under 500/s)",
                "500/s",
                f"{swap['throughput']:.0f}/s",
                f"{swap['p50']:.1f}",
                f"{swap['p99']:.1f}",
                "zero failed: " + ("met" if not swap["failures"] and current == swapped[-1] else "NOT met"),
                str(sum(swap["failures"].values())),
            ]
        )
    finally:
        server.terminate()
        server.wait(timeout=20)
    print()
    print(table(["endpoint", "offered", "throughput", "p50 ms", "p99 ms (each)", "target", "failed"], rows))
    print(f"\n{load()}")


if __name__ == "__main__":
    main()
