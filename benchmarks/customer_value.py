"""Customer value on a generated transaction-only shop: the classic calibration / holdout set-up.

The shop (shop_pipeline/synth/transactions.py: Pareto/NBD customers, Gamma-Gamma order
values, a cohort acquired over 12 weeks) is generated with its future. Only the history (a
year) is staged into a fresh warehouse; `run_propensity` then plans its windows, evaluates and
chooses exactly as the pipeline does, and its final model scores every customer at the
cut-off. The served expected_orders / expected_spend are compared with what the customers
really did in the `horizon` days after the cut-off (kept back by the generator), next to
every count model (BG/NBD, MBG/NBD, Pareto/NBD) fitted on the same calibration data (the whole
history up to the cut-off).

Targets (issue 23, part 3): total expected-orders error within 5% on that window, and an
RMSE per customer no worse than BG/NBD's.

Usage: python benchmarks/customer_value.py [--customers 5000] [--seeds 1 2 3]
                                           [--horizons 273 266 90 30]
Prints one Markdown table (paste it into the README's benchmark section).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd
from harness import table

from shop_pipeline.ml.propensity.bgnbd import COLUMNS as BGNBD_COLUMNS
from shop_pipeline.ml.propensity.candidates import BGNBD, VALUE_PROBABILISTIC, fit_probabilistic
from shop_pipeline.ml.propensity.data import feature_matrix
from shop_pipeline.ml.propensity.metrics import count_metrics
from shop_pipeline.ml.propensity.score import score_customers
from shop_pipeline.ml.propensity.train import run_propensity
from shop_pipeline.synth.transactions import (
    TransactionShopConfig,
    future_orders,
    generate_orders,
    staging_events,
)
from shop_pipeline.warehouse.connection import connect

TOTAL_ERROR_TARGET_PCT = 5.0


def one_run(customers: int, seed: int, horizon: int, workdir: Path) -> dict:
    config = TransactionShopConfig(customers=customers, seed=seed, future_days=max(horizon, 1))
    orders, _ = generate_orders(config)
    history = orders[orders["order_time"] < pd.Timestamp(config.as_of) + pd.Timedelta(days=1)]
    path = workdir / f"shop-{seed}-{horizon}.duckdb"
    path.unlink(missing_ok=True)
    with connect(path) as con:
        events = staging_events(history)
        con.register("generated_events", events)
        con.execute("INSERT INTO staging.events BY NAME SELECT * FROM generated_events")
        con.unregister("generated_events")
        started = time.perf_counter()
        run = run_propensity(con, config.as_of, horizon, seed=seed)
        seconds = time.perf_counter() - started
    scores = score_customers(run.fitted, run.scoring_features, config.as_of, "benchmark")
    truth = future_orders(orders, config.as_of, horizon)
    served = scores.merge(truth, on="customer_id", validate="one_to_one")
    references = {}
    for candidate in VALUE_PROBABILISTIC:
        model = fit_probabilistic(candidate, run.scoring_features, horizon)
        reference = pd.DataFrame(
            {
                "customer_id": run.scoring_features["customer_id"],
                "expected": model.expected_purchases(feature_matrix(run.scoring_features, BGNBD_COLUMNS)),
            }
        ).merge(truth, on="customer_id", validate="one_to_one")
        references[candidate] = count_metrics(reference["orders"], reference["expected"], "orders")
    orders_served = count_metrics(served["orders"], served["expected_orders"], "orders")
    spend_served = count_metrics(served["spend"], served["expected_spend"], "spend")
    orders_bgnbd = references[BGNBD]
    return {
        "seed": seed,
        "horizon": horizon,
        "mode": run.plan.mode,
        "p_model": run.serving_candidate,
        "value_model": run.value_candidate,
        "customers": len(served),
        "held_out": len(run.test_frame),
        "actual_orders": int(served["orders"].sum()),
        "seconds": seconds,
        **orders_served,
        **spend_served,
        "bgnbd_rmse": orders_bgnbd["orders_rmse"],
        "bgnbd_total_error_pct": orders_bgnbd["orders_total_error_pct"],
        "gamma_gamma": run.fitted.value.gamma_gamma is not None,
        "references": references,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--horizons", type=int, nargs="+", default=[273, 266, 90, 30])
    args = parser.parse_args()
    rows, held = [], []
    with tempfile.TemporaryDirectory(prefix="customer-value-") as tmp:
        for horizon in args.horizons:
            for seed in args.seeds:
                r = one_run(args.customers, seed, horizon, Path(tmp))
                total_ok = abs(r["orders_total_error_pct"]) <= TOTAL_ERROR_TARGET_PCT
                rmse_ok = r["orders_rmse"] <= r["bgnbd_rmse"]
                held.append(total_ok and rmse_ok)
                rows.append(
                    [
                        f"{horizon} d",
                        r["seed"],
                        r["mode"],
                        f"{r['p_model']} / {r['value_model']}",
                        f"{r['customers']:,} ({r['held_out']:,})",
                        f"{r['actual_orders']:,}",
                        f"{r['orders_total_error_pct']:+.1f}%",
                        *(f"{r['references'][c]['orders_total_error_pct']:+.1f}%" for c in VALUE_PROBABILISTIC),
                        f"{r['orders_rmse']:.3f}",
                        *(f"{r['references'][c]['orders_rmse']:.3f}" for c in VALUE_PROBABILISTIC),
                        f"{r['orders_mae']:.3f}",
                        f"{r['orders_buys_again_auc']:.3f}",
                        f"{r['spend_total_error_pct']:+.1f}%",
                        "yes" if r["gamma_gamma"] else "no",
                        f"{r['seconds']:.2f}",
                        "yes" if total_ok and rmse_ok else "NO",
                    ]
                )
                print(f"# horizon {horizon} seed {seed}: done", flush=True)
    print()
    print(
        f"Generated transaction-only shop: {args.customers:,} customers, a year of history "
        f"(as_of {TransactionShopConfig().as_of}), the next `horizon` days kept back as the truth."
    )
    print()
    print(
        table(
            [
                "horizon",
                "seed",
                "windows",
                "served p / value model",
                "customers (held out)",
                "actual orders",
                "total error (served)",
                *(f"total error ({c})" for c in VALUE_PROBABILISTIC),
                "RMSE (served)",
                *(f"RMSE ({c})" for c in VALUE_PROBABILISTIC),
                "MAE",
                "buys-again AUC",
                "spend total error",
                "Gamma-Gamma",
                "run_propensity s",
                "targets hold",
            ],
            rows,
        )
    )
    print()
    print(
        f"targets (|total error| <= {TOTAL_ERROR_TARGET_PCT:.0f}%, RMSE <= BG/NBD's) hold in "
        f"{sum(held)} of {len(held)} runs"
    )


if __name__ == "__main__":
    main()
