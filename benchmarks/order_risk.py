"""Order-risk benchmark: quality against the baselines, and time / peak RSS of each step.

1. Shop (cached): generate the --events shop under --workdir unless its landing folder already
   has event files AND the chargeback labels file (a shop generated before the generator wrote
   landing/labels is generated again). Then ingest + stage it into a fresh warehouse with the
   pipeline's own functions (warehouse.ingest, warehouse.staging; no Dagster, no other model).
2. Each measured step runs in its own process, so that wall time and peak RSS are its own:
     features  build_order_features (features.order_features, all orders up to as_of) and
               load_order_labels (raw.order_labels from landing/labels)
     training  read the table and the labels known by as_of, run_order_risk_frames (every
               candidate on the held-out window + the final refit), save the artifact with
               the registry's save_model (skops)
     scoring   load the artifact (SHA-256 + allow-list checked), score every order, explain
               the flagged ones
3. Prints Markdown: the candidates on the held-out window (PR-AUC, precision at the top 1% and
   5%, recall at the alert budget), the challenger's ratio to the z-score rule (target >= 2x),
   the served model's flags against the generator's ground truth, and the step table.

Usage: python benchmarks/order_risk.py [--events 1000000] [--days 90] [--seed 42]
         [--workdir /tmp/shop-bench-order-risk] [--maturity-days 28] [--eval-days 14]
         [--alert-budget 0.02]
The machine is shared: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

from harness import load, table, timed

PYTHON = sys.executable
TARGET_RATIO = 2.0


def fmt(value, digits: int = 4) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


# ----------------------------------------------------------------------- child steps
def _warehouse(home: Path) -> Path:
    return home / "warehouse" / "shop.duckdb"


def step_stage(home: Path) -> dict:
    """Ingest and stage every landed event file (the test harness's path, without Dagster)."""
    from shop_pipeline.sources.landing import discover
    from shop_pipeline.warehouse import ingest, staging
    from shop_pipeline.warehouse.connection import connect

    _warehouse(home).unlink(missing_ok=True)
    with connect(_warehouse(home)) as con:
        files = discover(home / "landing")
        days = sorted({f.day for f in files})
        ingest.load_batch(con, files, days, dt.datetime(2100, 1, 1))
        ingest.publish_batch(con, days)
        staging.stage_days(con, days, staging.StagingRules())
        staging.publish_staging(con, days, staging.file_counts(con, days))
        [(events, as_of)] = con.execute("SELECT count(*), max(partition_date) FROM staging.events").fetchall()
    return {"events": events, "as_of": as_of.isoformat()}


def step_features(home: Path, as_of: dt.date) -> dict:
    from shop_pipeline.features.order_features import build_order_features
    from shop_pipeline.warehouse.connection import connect
    from shop_pipeline.warehouse.order_labels import load_order_labels

    with connect(_warehouse(home)) as con:
        started = time.perf_counter()
        orders = build_order_features(con, as_of)
        features_s = time.perf_counter() - started
        started = time.perf_counter()
        labels = load_order_labels(con, home / "landing" / "labels")
        labels_s = time.perf_counter() - started
    return {
        "orders": orders,
        "features_s": features_s,
        "label_rows": labels.rows,
        "label_rejects": labels.rejected,
        "labels_s": labels_s,
    }


def step_training(home: Path, as_of: dt.date, args) -> dict:
    import numpy as np

    from shop_pipeline.features.order_features import read_order_features
    from shop_pipeline.ml.common import registry
    from shop_pipeline.ml.order_risk.candidates import MODEL_NAME
    from shop_pipeline.ml.order_risk.train import metrics_rows, run_order_risk_frames
    from shop_pipeline.warehouse.connection import connect
    from shop_pipeline.warehouse.order_labels import known_labels_frame

    with connect(_warehouse(home), read_only=True) as con:
        features = read_order_features(con)
        labels = known_labels_frame(con, as_of)
    started = time.perf_counter()
    run = run_order_risk_frames(
        features,
        labels,
        as_of,
        maturity_days=args.maturity_days,
        eval_days=args.eval_days,
        alert_budget=args.alert_budget,
        seed=args.seed,
    )
    training_s = time.perf_counter() - started
    version = f"bench-{as_of.isoformat()}-{args.seed}"
    models = home / "models"
    shutil.rmtree(models / MODEL_NAME, ignore_errors=True)
    path, sha = registry.save_model(run.fitted.to_artifact(), models, MODEL_NAME, version)
    return {
        "training_s": training_s,
        "mode": run.mode,
        "serving_candidate": run.serving_candidate,
        "note": run.note,
        "metrics": metrics_rows(run),
        "fit_s": {c: e.fit_seconds for c, e in run.evaluations.items()},
        "artifact": str(path),
        "sha256": sha,
        "artifact_mib": path.stat().st_size / 2**20,
        "threshold": run.fitted.threshold,
        "labelled_orders": run.labelled_orders,
        "eval_positive_rate": float(np.mean(run.eval_labels)) if len(run.eval_labels) else None,
    }


def step_scoring(home: Path, as_of: dt.date, artifact: str, sha256: str) -> dict:
    import pandas as pd

    from shop_pipeline.features.order_features import read_order_features
    from shop_pipeline.ml.common import registry
    from shop_pipeline.ml.order_risk.candidates import FittedOrderRisk
    from shop_pipeline.ml.order_risk.score import score_orders
    from shop_pipeline.warehouse.connection import connect

    with connect(_warehouse(home), read_only=True) as con:
        features = read_order_features(con)
    started = time.perf_counter()
    fitted = FittedOrderRisk.from_artifact(registry.load_artifact(artifact, sha256))
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    scores = score_orders(fitted, features, as_of, "bench", explain_rows="none")
    score_s = time.perf_counter() - started
    started = time.perf_counter()
    scores = score_orders(fitted, features, as_of, "bench")
    explained_s = time.perf_counter() - started
    truth = pd.read_csv(home / "ground_truth" / "fraud_labels.csv", usecols=["order_id", "is_fraud"])
    joined = scores.merge(truth, on="order_id", how="left")
    joined["is_fraud"] = joined["is_fraud"].fillna(0)
    recent = pd.to_datetime(joined["order_time"]).dt.date > as_of - dt.timedelta(days=14)
    out = {
        "orders": len(scores),
        "load_s": load_s,
        "score_s": score_s,
        "score_explain_s": explained_s,
        "flagged": int(scores["flagged"].sum()),
        "explained": int(scores["top_features"].notna().sum()),
    }
    for name, part in (("all", joined), ("last_14_days", joined[recent])):
        flagged = part[part["flagged"]]
        out[name] = {
            "orders": len(part),
            "fraud": int(part["is_fraud"].sum()),
            "flagged": len(flagged),
            "precision": float(flagged["is_fraud"].mean()) if len(flagged) else None,
            "recall": float(flagged["is_fraud"].sum() / part["is_fraud"].sum()) if part["is_fraud"].sum() else None,
        }
    return out


def child(args) -> None:
    home, step = args.child_home, args.step
    as_of = dt.date.fromisoformat(args.as_of) if args.as_of else None
    if step == "stage":
        result = step_stage(home)
    elif step == "features":
        result = step_features(home, as_of)
    elif step == "training":
        result = step_training(home, as_of, args)
    else:
        result = step_scoring(home, as_of, args.artifact, args.sha256)
    args.out.write_text(json.dumps(result, default=str))


def run_step(args, home: Path, step: str, **extra) -> dict:
    out = args.workdir / f"{step}.json"
    out.unlink(missing_ok=True)
    command = [
        PYTHON,
        str(Path(__file__).resolve()),
        "--child-home",
        str(home),
        "--step",
        step,
        "--out",
        str(out),
        "--seed",
        str(args.seed),
        "--maturity-days",
        str(args.maturity_days),
        "--eval-days",
        str(args.eval_days),
        "--alert-budget",
        str(args.alert_budget),
    ]
    for key, value in extra.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    seconds, rss = timed(command)
    result = json.loads(out.read_text())
    result["process_s"], result["process_rss_mib"] = seconds, rss
    return result


# ------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/shop-bench-order-risk"))
    parser.add_argument("--maturity-days", type=int, default=28)
    parser.add_argument("--eval-days", type=int, default=14)
    parser.add_argument("--alert-budget", type=float, default=0.02)
    parser.add_argument("--child-home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--step", choices=("stage", "features", "training", "scoring"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    parser.add_argument("--artifact", help=argparse.SUPPRESS)
    parser.add_argument("--sha256", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_home:
        child(args)
        return

    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    home = args.workdir / f"shop-{args.events}"
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; {load()} at the start")
    print(f"command: python benchmarks/order_risk.py {' '.join(sys.argv[1:])}".rstrip(), flush=True)
    steps = []
    labels_file = home / "landing" / "labels" / "chargebacks.csv"
    events_dir = home / "landing" / "events"
    if not (labels_file.is_file() and events_dir.is_dir() and any(events_dir.iterdir())):
        shutil.rmtree(home, ignore_errors=True)
        seconds, rss = timed(
            [
                PYTHON,
                "-m",
                "shop_pipeline.synth",
                "--events",
                str(args.events),
                "--days",
                str(args.days),
                "--seed",
                str(args.seed),
                "--home",
                str(home),
            ]
        )
        steps.append(["generate the shop (csv, default defects)", "", f"{seconds:.1f}", f"{rss:,.0f}"])
    else:
        print(f"# reusing the landed files of {home}", flush=True)
    shutil.rmtree(home / "warehouse", ignore_errors=True)
    staged = run_step(args, home, "stage")
    steps.append(
        [
            "ingest + stage (not order risk; for scale)",
            f"{staged['events']:,} events",
            f"{staged['process_s']:.1f}",
            f"{staged['process_rss_mib']:,.0f}",
        ]
    )
    as_of = staged["as_of"]
    feats = run_step(args, home, "features", as_of=as_of)
    train = run_step(args, home, "training", as_of=as_of)
    score = run_step(args, home, "scoring", as_of=as_of, artifact=train["artifact"], sha256=train["sha256"])
    print(f"# {load()} at the end", flush=True)

    print(f"\n## Order risk on the {args.events:,}-event shop ({args.days} days, seed {args.seed}, as_of {as_of})\n")
    print(f"{train['note']}\n")
    print(
        f"alert budget {args.alert_budget:.1%}; served: **{train['serving_candidate']}** ({train['mode']}); "
        f"flag threshold {train['threshold']:.4f}\n"
    )
    metrics = train["metrics"]
    names = ("pr_auc", "precision_at_1pct", "precision_at_5pct", "recall_at_budget", "n_orders", "n_fraud")
    rows = [
        [c, *(fmt(metrics[c].get(n)) if not n.startswith("n_") else f"{metrics[c].get(n, 0):,.0f}" for n in names)]
        for c in metrics
    ]
    print(table(["candidate (held-out window)", *names], rows))
    z = metrics["amount_zscore"]["pr_auc"]
    print()
    targets = []
    for cand in ("hgb_classifier", "isolation_forest"):
        value = metrics[cand]["pr_auc"]
        ratio = value / z if z and value == value else float("nan")
        targets.append(
            [
                f"{cand} PR-AUC / amount_zscore PR-AUC >= {TARGET_RATIO:.0f}x"
                if cand == "hgb_classifier"
                else f"{cand} PR-AUC / amount_zscore PR-AUC (no target)",
                f"{ratio:.2f}x",
                ("yes" if ratio >= TARGET_RATIO else "NO") if cand == "hgb_classifier" else "-",
            ]
        )
    print(table(["target", "value", "holds"], targets))

    print("\n### Served model's flags against the generator's ground truth (all scored orders)\n")
    truth_rows = []
    for name in ("all", "last_14_days"):
        part = score[name]
        truth_rows.append(
            [
                name,
                f"{part['orders']:,}",
                f"{part['fraud']:,}",
                f"{part['flagged']:,}",
                fmt(part["precision"]),
                fmt(part["recall"]),
            ]
        )
    print(table(["orders", "count", "fraud (truth)", "flagged", "precision", "recall"], truth_rows))

    print("\n### Time and peak RSS (each step in its own process)\n")
    fit = train["fit_s"]
    steps += [
        [
            "features: build_order_features (one SQL, one transaction)",
            f"{feats['orders']:,} orders",
            f"{feats['features_s']:.1f} (process {feats['process_s']:.1f})",
            f"{feats['process_rss_mib']:,.0f}",
        ],
        [
            "labels: load_order_labels",
            f"{feats['label_rows']:,} rows, {feats['label_rejects']} rejects",
            f"{feats['labels_s']:.2f}",
            "(same process)",
        ],
        [
            (
                f"training: run_order_risk_frames (fit z-score {fit['amount_zscore']:.2f} s, isolation forest "
                f"{fit['isolation_forest']:.1f} s, hgb {fit['hgb_classifier']:.1f} s, final refit)"
            ),
            f"{train['labelled_orders']:,} labelled orders",
            f"{train['training_s']:.1f} (process {train['process_s']:.1f})",
            f"{train['process_rss_mib']:,.0f}",
        ],
        [
            f"scoring: score_orders, no explanations (artifact {train['artifact_mib']:.1f} MiB, load {score['load_s']:.2f} s)",
            f"{score['orders']:,} orders",
            f"{score['score_s']:.2f}",
            f"{score['process_rss_mib']:,.0f}",
        ],
        [
            f"scoring with top_features for the {score['explained']:,} flagged orders",
            f"{score['orders']:,} orders",
            f"{score['score_explain_s']:.2f}",
            "(same process)",
        ],
    ]
    print(table(["step", "size", "seconds", "peak RSS MiB"], steps), flush=True)


if __name__ == "__main__":
    main()
