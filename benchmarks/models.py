"""Model benchmark: every model against its baselines on the 1M-event shop, training and
scoring time on the 10M-event shop.

1. Quality (--events shop). Generate it unless its landing folder already has event files,
   then `shop-pipeline run` from a clean warehouse (the derived state -- warehouse, models,
   reports, Dagster instance -- is removed first, so the run is staging + features + models
   end to end and the first model version is compared with the baselines only). Then the
   metrics of the latest version of each model are read from ml.model_evaluations (read-only
   connection, after the run process exited): one Markdown table per model with every
   candidate, the challenger's relative improvement against each baseline, and the issue's
   targets. The forecast backtest is rerun in-process (same as_of, horizon, folds and seed
   as the pipeline) for the per-category WAPE.
2. Scale (--scale-events shop, unless --skip-scale). Generate + `shop-pipeline run` end to
   end (wall time and peak RSS of each process), then, in one more process, the model steps
   alone on the warehouse that run built: propensity training (run_propensity: every
   candidate on the held-out window + the final refit), forecast backtest + final fit,
   customers scored per second by score_customers and forecast rows per second.

3. Forecast family (--family, issue 23). For each profile (cohort: a shop whose sales decay; default)
   and seed: generate a --family-events shop over --family-days days, run ingestion + staging +
   features, then at each origin of the last 8 weeks (every 14 days) the forecast's training run as the
   pipeline runs it (backtest of every candidate, choice of the served one, by_segment's choice, the
   level calibration, final fit) and its forecast of the next 14 days through the served path (every
   candidate as it forecasts; "served" = the served candidate's p50 for the product-days and the sum of
   its `expected` (p50 x its level factor) for the shop's daily total; "served_before" = p50 itself
   scaled, as this branch served before the fix (when the level also kept the backtest's product-day
   WAPE no worse than every simple method's); "served_main" = what main served before issue 23: the best
   backtest WAPE of seasonal naive, linear and challenger).
   Printed per profile and seed: every candidate's pooled backtest WAPE at the last origin (the
   pipeline's own; by_segment's measured out of sample), the served candidate and its level factor,
   and over the last 8 weeks the product-day WAPE of every candidate and the served ones,
   the WAPE of the shop's daily total (served, last value and 56-day mean of the daily total), and the
   WAPE on the products whose demand is intermittent or lumpy at the origin.

Each stage runs in its own process so that wall time and peak RSS are its own (os.wait4).
Usage: python benchmarks/models.py [--events 1000000] [--scale-events 10000000] [--days 90]
                                   [--workdir /tmp/shop-bench-models] [--skip-scale]
       python benchmarks/models.py --family [--family-events 150000] [--family-days 140] [--seeds 1 2 3]
                                   [--profiles cohort default] [--reuse-measured]
                                   (only the forecast family: --skip-quality --skip-scale implied)
Prints Markdown tables (paste them into the README's benchmark section).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from harness import load, run_timed, table

PYTHON = sys.executable
SHOP_PIPELINE = str(Path(sys.executable).with_name("shop-pipeline"))
SEED = 42  # Modeling.seed, the pipeline's default
FORECAST_HORIZON = 14  # Modeling.forecast_horizon_days
PROPENSITY_HORIZON = 30  # Modeling.propensity_horizon_days
SCORING_TARGET_PER_S = 100_000
SCORING_MIN_ROWS = 1_000_000

FORECAST_MODEL = "demand_forecast"
PROPENSITY_MODEL = "propensity"
FORECAST_METRICS = ("wape", "mae", "rmse", "bias", "coverage_80")
PROPENSITY_METRICS = ("roc_auc", "pr_auc", "brier", "lift_at_top_decile", "f1", "orders_mae")
DERIVED_STATE = ("warehouse", "models", "reports", "dagster_home")


# ----------------------------------------------------------------------------- helpers


def has_landing(home: Path) -> bool:
    events = home / "landing" / "events"
    return events.is_dir() and any(p.is_file() for p in events.iterdir())


def prepare_shop(events: int, days: int, home: Path) -> tuple[float, float, bool] | None:
    """Generate the shop unless it has landed files; clear the derived state either way.
    Returns (seconds, MiB) of the generation, None when the landed files were reused."""
    generated = None
    if not has_landing(home):
        shutil.rmtree(home, ignore_errors=True)
        generated = run_timed(
            [PYTHON, "-m", "shop_pipeline.synth", "--events", str(events), "--days", str(days), "--home", str(home)]
        )
    else:
        print(f"# reusing the landed files of {home}", flush=True)
    for name in DERIVED_STATE:
        shutil.rmtree(home / name, ignore_errors=True)
    return generated


def run_pipeline(home: Path) -> tuple[float, float, bool]:
    return run_timed(
        [SHOP_PIPELINE, "run", "--home", str(home)], env={"DAGSTER_HOME": str(home / "dagster_home")}, check=False
    )


def measure(home: Path, mode: str, workdir: Path) -> dict:
    """Run this file's --measure mode in its own process; returns its JSON plus seconds / MiB."""
    out = workdir / f"measure-{mode}-{home.name}.json"
    out.unlink(missing_ok=True)
    seconds, rss, _ = run_timed(
        [PYTHON, str(Path(__file__).resolve()), "--measure", str(home), "--mode", mode, "--out", str(out)]
    )
    result = json.loads(out.read_text())
    result["process_seconds"], result["process_rss_mib"] = seconds, rss
    return result


def fmt(value, digits: int = 4) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.{digits}f}"


# ---------------------------------------------------------------------- read the registry
def latest_evaluations(warehouse: Path) -> dict[str, dict]:
    """model -> {version, is_champion, as_of, window, metrics: candidate -> metric -> value}."""
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        out = {}
        for model, version, is_champion, as_of in con.execute(
            "SELECT model_name, version, is_champion, as_of FROM ml.model_registry "
            "QUALIFY row_number() OVER (PARTITION BY model_name ORDER BY trained_at DESC, version DESC) = 1"
        ).fetchall():
            metrics: dict[str, dict[str, float | None]] = {}
            window = None
            for cand, metric, value, start, end in con.execute(
                "SELECT candidate, metric, value, window_start, window_end FROM ml.model_evaluations "
                "WHERE model_name = ? AND version = ?",
                [model, version],
            ).fetchall():
                metrics.setdefault(cand, {})[metric] = value
                window = (start, end)
            out[model] = {
                "version": version,
                "is_champion": bool(is_champion),
                "as_of": as_of,
                "window": window,
                "metrics": metrics,
            }
        return out
    finally:
        con.close()


def candidate_table(metrics: dict, names: tuple[str, ...], order: list[str]) -> str:
    cands = [c for c in order if c in metrics] + sorted(c for c in metrics if c not in order)
    rows = [[c, *(fmt(metrics[c].get(m)) for m in names)] for c in cands]
    return table(["candidate", *names], rows)


def forecast_report(ev: dict) -> tuple[str, list[tuple[str, bool]]]:
    m = ev["metrics"]
    ch = m["challenger"]["wape"]
    rows, targets = [], []
    for base in ("seasonal_naive", "linear", "champion"):
        if base not in m:
            continue
        b = m[base]["wape"]
        improvement = 1.0 - ch / b
        if base == "seasonal_naive":
            ok, target = improvement >= 0.15, "WAPE >= 15% below"
        elif base == "linear":
            ok, target = ch < b, "WAPE below"
        else:
            ok, target = None, "(gate: by the configured margin)"
        rows.append(
            [base, fmt(b), fmt(ch), f"{improvement:+.1%}", target, "-" if ok is None else ("yes" if ok else "NO")]
        )
        if ok is not None:
            targets.append((f"forecast challenger {target} {base} ({improvement:+.1%})", ok))
    return table(
        ["baseline", "baseline WAPE", "challenger WAPE", "challenger WAPE below baseline", "target", "holds"], rows
    ), targets


def propensity_report(ev: dict) -> tuple[str, list[tuple[str, bool]]]:
    m = ev["metrics"]
    ch = m["hgb_calibrated"]
    rows, targets = [], []
    for base in ("logistic_rfm", "random", "champion"):
        if base not in m:
            continue
        b = m[base]
        auc_gain = ch["roc_auc"] / b["roc_auc"] - 1.0
        pr_gain = ch["pr_auc"] / b["pr_auc"] - 1.0
        brier_gain = 1.0 - ch["brier"] / b["brier"]
        ok = (ch["roc_auc"] > b["roc_auc"]) if base == "logistic_rfm" else None
        rows.append(
            [
                base,
                fmt(b["roc_auc"]),
                fmt(ch["roc_auc"]),
                f"{auc_gain:+.1%}",
                f"{pr_gain:+.1%}",
                f"{brier_gain:+.1%}",
                "ROC-AUC above" if ok is not None else "-",
                "-" if ok is None else ("yes" if ok else "NO"),
            ]
        )
        if ok is not None:
            targets.append((f"propensity challenger ROC-AUC above {base} ({auc_gain:+.1%})", ok))
    hist = m.get("historical_rate", {}).get("orders_mae")
    if hist is not None and ch.get("orders_mae") is not None:
        rows.append(
            [
                "historical_rate (orders MAE)",
                fmt(hist),
                fmt(ch["orders_mae"]),
                f"orders MAE {1.0 - ch['orders_mae'] / hist:+.1%} lower",
                "",
                "",
                "-",
                "-",
            ]
        )
    return table(
        [
            "baseline",
            "baseline ROC-AUC",
            "challenger ROC-AUC",
            "ROC-AUC gain",
            "PR-AUC gain",
            "Brier gain (lower)",
            "target",
            "holds",
        ],
        rows,
    ), targets


# ------------------------------------------------------------------- in-process measurement
def _measure(home: Path, mode: str, out: Path) -> None:
    """Runs in its own process (python benchmarks/models.py --measure HOME --mode quality|scale)."""
    import datetime as dt

    import duckdb
    import pandas as pd

    from shop_pipeline.features.tables import (
        future_frames_as_known_at,
        future_product_days_frame,
        product_daily_sales_frame,
    )
    from shop_pipeline.ml.common.splits import rolling_origin_folds
    from shop_pipeline.ml.demand_forecast.candidates import CANDIDATES
    from shop_pipeline.ml.demand_forecast.evaluate import backtest
    from shop_pipeline.ml.demand_forecast.fitting import fit_forecaster
    from shop_pipeline.ml.demand_forecast.score import forecast
    from shop_pipeline.ml.propensity.candidates import CHALLENGER
    from shop_pipeline.ml.propensity.score import score_customers
    from shop_pipeline.ml.propensity.train import run_propensity

    warehouse = home / "warehouse" / "shop.duckdb"
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    result: dict = {"mode": mode}
    as_of = con.execute("SELECT max(partition_date) FROM staging.events").fetchall()[0][0]
    result["as_of"] = as_of.isoformat()

    t = time.perf_counter()
    history = product_daily_sales_frame(con, as_of)
    result["history_load_s"] = time.perf_counter() - t
    result["history_rows"] = len(history)
    result["products"] = int(history["product_id"].nunique())
    folds = rolling_origin_folds(
        as_of, n_folds=3, horizon_days=FORECAST_HORIZON, step_days=7, first_day=min(history["day"])
    )
    t = time.perf_counter()
    # as the pipeline: every fold forecasts the future frame serving would have built on its origin
    bt = backtest(
        history,
        folds,
        horizon_days=FORECAST_HORIZON,
        seed=SEED,
        future_at=future_frames_as_known_at(con, as_of, FORECAST_HORIZON),
    )
    result["backtest_s"] = time.perf_counter() - t
    result["backtest_predictions"] = len(bt.predictions) // len(CANDIDATES)
    result["backtest_fit_s"] = bt.fit_seconds
    overall = bt.overall()
    result["backtest_overall_wape"] = {c: float(overall.loc[c, "wape"]) for c in overall.index}
    per_cat = bt.per_category()
    result["per_category"] = [
        {
            "candidate": r.candidate,
            "category": r.category,
            "n": int(r.n),
            "units": float(r.units),
            "wape": float(r.wape),
            "mae": float(r.mae),
            "bias": float(r.bias),
        }
        for r in per_cat.itertuples()
    ]
    if mode == "quality":
        out.write_text(json.dumps(result))
        return

    t = time.perf_counter()
    fitted = fit_forecaster(history, as_of=as_of, horizon_days=FORECAST_HORIZON, seed=SEED)
    result["forecast_fit_s"] = time.perf_counter() - t
    result["forecast_training_rows"] = fitted.training_rows
    recent = product_daily_sales_frame(con, as_of, first_day=as_of - dt.timedelta(days=120))
    future = future_product_days_frame(con, as_of, FORECAST_HORIZON)
    t = time.perf_counter()
    fc = forecast(fitted, recent, future, as_of=as_of, horizon_days=FORECAST_HORIZON)
    result["forecast_s"] = time.perf_counter() - t
    result["forecast_rows"] = len(fc)
    del history, recent, bt

    t = time.perf_counter()
    run = run_propensity(con, as_of, horizon_days=PROPENSITY_HORIZON, seed=SEED)
    result["propensity_s"] = time.perf_counter() - t
    result["propensity_mode"] = run.plan.mode
    result["propensity_fit_s"] = {c: e.fit_seconds for c, e in run.evaluations.items()}
    result["propensity_train_rows"] = int(run.evaluations[CHALLENGER].metrics["n"])
    result["propensity_roc_auc"] = {c: e.metrics["roc_auc"] for c, e in run.evaluations.items()}
    features = run.scoring_features
    customers = len(features)
    result["customers"] = customers
    t = time.perf_counter()
    scores = score_customers(run.fitted, features, as_of, "bench")
    result["score_actual_s"] = time.perf_counter() - t
    assert len(scores) == customers and scores["p_purchase"].notna().all()
    if customers < SCORING_MIN_ROWS:
        copies = -(-SCORING_MIN_ROWS // customers)
        big = pd.concat([features] * copies, ignore_index=True)
        t = time.perf_counter()
        scores = score_customers(run.fitted, big, as_of, "bench")
        result["score_replicated_s"] = time.perf_counter() - t
        result["score_replicated_rows"] = len(big)
        result["score_replicated_copies"] = copies
    con.close()
    out.write_text(json.dumps(result))


# ---------------------------------------------------------------------------------- main
def per_category_table(rows: list[dict]) -> str:
    by_cat: dict[str, dict[str, dict]] = {}
    for r in rows:
        by_cat.setdefault(r["category"], {})[r["candidate"]] = r
    out = []
    for cat in sorted(by_cat):
        c = by_cat[cat]
        sn, lin, ch = (c.get(k, {}).get("wape") for k in ("seasonal_naive", "linear", "challenger"))
        units = c["challenger"]["units"]
        out.append(
            [
                cat,
                f"{units:,.0f}",
                fmt(sn),
                fmt(lin),
                fmt(ch),
                f"{1 - ch / sn:+.1%}" if sn else "-",
                f"{1 - ch / lin:+.1%}" if lin else "-",
            ]
        )
    return table(
        [
            "category",
            "units (test)",
            "seasonal_naive WAPE",
            "linear WAPE",
            "challenger WAPE",
            "below seasonal-naive",
            "below linear",
        ],
        out,
    )


def quality(args) -> None:
    home = args.workdir / f"shop-{args.events}"
    print(f"\n## Model quality on the {args.events:,}-event shop ({args.days} days)\n", flush=True)
    generated = prepare_shop(args.events, args.days, home)
    seconds, rss, ok = run_pipeline(home)
    print(f"# {load()}", flush=True)
    stages = []
    if generated:
        stages.append(["generate (csv, default defects)", f"{generated[0]:.1f}", f"{generated[1]:,.0f}"])
    stages.append(
        [
            "shop-pipeline run: ingest + staging + features + models + scoring" + ("" if ok else " (FAILED)"),
            f"{seconds:.1f}",
            f"{rss:,.0f}",
        ]
    )
    print()
    print(table(["stage", "seconds", "peak RSS MiB"], stages))

    evals = latest_evaluations(home / "warehouse" / "shop.duckdb")
    targets: list[tuple[str, bool]] = []
    if FORECAST_MODEL in evals:
        ev = evals[FORECAST_MODEL]
        print(
            f"\n### {FORECAST_MODEL} {ev['version']} (as of {ev['as_of']}, backtest {ev['window'][0]} .. "
            f"{ev['window'][1]}, 3 rolling-origin folds, horizon {FORECAST_HORIZON} days; "
            f"champion after the gate: {'yes' if ev['is_champion'] else 'no'})\n"
        )
        print(candidate_table(ev["metrics"], FORECAST_METRICS, ["seasonal_naive", "linear", "challenger", "champion"]))
        print()
        text, t = forecast_report(ev)
        print(text)
        targets += t
    else:
        print(f"\n{FORECAST_MODEL}: no version in ml.model_registry")
        targets.append((f"{FORECAST_MODEL} registered", False))
    if PROPENSITY_MODEL in evals:
        ev = evals[PROPENSITY_MODEL]
        print(
            f"\n### {PROPENSITY_MODEL} {ev['version']} (as of {ev['as_of']}, held-out labels {ev['window'][0]} .. "
            f"{ev['window'][1]}, horizon {PROPENSITY_HORIZON} days; "
            f"champion after the gate: {'yes' if ev['is_champion'] else 'no'})\n"
        )
        print(
            candidate_table(
                ev["metrics"],
                PROPENSITY_METRICS,
                ["logistic_rfm", "hgb_calibrated", "random", "historical_rate", "champion"],
            )
        )
        print()
        text, t = propensity_report(ev)
        print(text)
        targets += t
    else:
        print(f"\n{PROPENSITY_MODEL}: no version in ml.model_registry")
        targets.append((f"{PROPENSITY_MODEL} registered", False))

    m = measure(home, "quality", args.workdir)
    print(
        f"\n### Forecast WAPE per category (backtest rerun in-process: same as_of {m['as_of']}, folds, "
        f"horizon and seed; {m['backtest_predictions']:,} product-days per candidate, {m['backtest_s']:.1f} s)\n"
    )
    print(per_category_table(m["per_category"]))
    registered = evals.get(FORECAST_MODEL, {}).get("metrics", {})
    diffs = [
        abs(m["backtest_overall_wape"][c] - registered[c]["wape"])
        for c in m["backtest_overall_wape"]
        if c in registered
    ]
    if diffs and max(diffs) > 1e-9:
        print(
            f"\nnote: the in-process backtest's overall WAPE differs from the registered one by up to {max(diffs):.2e}"
        )
    print("\n### Targets\n")
    print(table(["target", "holds"], [[name, "yes" if ok else "NO"] for name, ok in targets]), flush=True)


def scale(args) -> None:
    home = args.workdir / f"shop-{args.scale_events}"
    print(f"\n## Training and scoring time on the {args.scale_events:,}-event shop ({args.days} days)\n", flush=True)
    generated = prepare_shop(args.scale_events, args.days, home)
    seconds, rss, ok = run_pipeline(home)
    load_after_run = load()
    m = measure(home, "scale", args.workdir)
    print(f"# after the run: {load_after_run}; after the in-process measurement: {load()}", flush=True)
    rows = []
    n = args.scale_events
    if generated:
        rows.append(
            [
                "generate (csv, default defects)",
                f"{n:,} events",
                f"{generated[0]:.1f}",
                f"{n / generated[0]:,.0f} events/s",
                f"{generated[1]:,.0f}",
            ]
        )
    rows.append(
        [
            "shop-pipeline run: end to end (ingest, staging, features, both models, scoring)"
            + ("" if ok else " (FAILED)"),
            f"{n:,} events",
            f"{seconds:.1f}",
            f"{n / seconds:,.0f} events/s",
            f"{rss:,.0f}",
        ]
    )
    fit = m["propensity_fit_s"]
    rows.append(
        [
            f"propensity training: run_propensity ({m['propensity_mode']}: features + labels at 3 cut-offs, "
            f"logistic {fit['logistic_rfm']:.1f} s, calibrated HGB {fit['hgb_calibrated']:.1f} s, final refit)",
            f"{m['propensity_train_rows']:,} customers held out",
            f"{m['propensity_s']:.1f}",
            "",
            "",
        ]
    )
    bfit = m["backtest_fit_s"]
    rows.append(
        [
            f"forecast backtest: 3 folds (fit linear {bfit['linear']:.1f} s, challenger {bfit['challenger']:.1f} s)",
            f"{m['history_rows']:,} product-days",
            f"{m['backtest_s']:.1f}",
            f"{m['backtest_predictions']:,} test product-days",
            "",
        ]
    )
    rows.append(
        [
            "forecast final fit (linear + challenger + conformal calibration)",
            f"{m['forecast_training_rows']:,} training rows",
            f"{m['forecast_fit_s']:.1f}",
            "",
            "",
        ]
    )
    rows.append(
        [
            f"forecast: next {FORECAST_HORIZON} days, p10 / p50 / p90",
            f"{m['forecast_rows']:,} rows",
            f"{m['forecast_s']:.2f}",
            f"{m['forecast_rows'] / m['forecast_s']:,.0f} rows/s",
            "",
        ]
    )
    rows.append(
        [
            "score_customers (actual customers)",
            f"{m['customers']:,} customers",
            f"{m['score_actual_s']:.2f}",
            f"{m['customers'] / m['score_actual_s']:,.0f} customers/s",
            "",
        ]
    )
    if "score_replicated_rows" in m:
        rows.append(
            [
                f"score_customers (feature frame repeated {m['score_replicated_copies']}x: the shop has fewer "
                f"than {SCORING_MIN_ROWS:,} customers)",
                f"{m['score_replicated_rows']:,} rows",
                f"{m['score_replicated_s']:.2f}",
                f"{m['score_replicated_rows'] / m['score_replicated_s']:,.0f} customers/s",
                "",
            ]
        )
    rows.append(
        [
            "in-process measurement process (all of the above from the history load on)",
            "",
            f"{m['process_seconds']:.1f}",
            "",
            f"{m['process_rss_mib']:,.0f}",
        ]
    )
    print()
    print(table(["stage", "size", "seconds", "throughput", "peak RSS MiB"], rows))
    throughput = (
        m["score_replicated_rows"] / m["score_replicated_s"]
        if "score_replicated_rows" in m
        else m["customers"] / m["score_actual_s"]
    )
    print()
    print(
        table(
            ["target", "holds"],
            [
                [
                    f"scoring at least {SCORING_TARGET_PER_S:,} customers/s ({throughput:,.0f}/s)",
                    "yes" if throughput >= SCORING_TARGET_PER_S else "NO",
                ]
            ],
        ),
        flush=True,
    )


# ------------------------------------------------------------------- forecast family (issue 23)
FAMILY_PROFILES = ("cohort", "default")
LAST_WEEKS = 8
# the served forecast now, before the fix of the level calibration, and as main served it before issue 23
SERVED_ROWS = ("served", "served_before", "served_main")
MAIN_CANDIDATES = ("seasonal_naive", "linear", "challenger")


def _family_measure(home: Path, out: Path) -> None:
    """Runs in its own process: data stages, then the training run + served forecast at every origin."""
    import datetime as dt

    import duckdb
    import numpy as np
    import pandas as pd
    from dagster import DagsterInstance

    from shop_pipeline.features.tables import future_frames_as_known_at, product_daily_sales_frame
    from shop_pipeline.ml.demand_forecast.candidates import CANDIDATES
    from shop_pipeline.ml.demand_forecast.data import build_panel, future_rows
    from shop_pipeline.ml.demand_forecast.score import forecast_arrays
    from shop_pipeline.ml.demand_forecast.statistical import STAT_METHODS
    from shop_pipeline.ml.demand_forecast.train import training_run
    from shop_pipeline.pipeline_run import modeling_run_config, run_full_pipeline
    from shop_pipeline.settings import ShopPaths

    paths = ShopPaths.at(home).ensure()
    t = time.perf_counter()
    data = run_full_pipeline(
        paths, DagsterInstance.ephemeral(), modeling_run_config(), groups=["ingestion", "staging", "features"]
    )
    assert data.success, data.error
    result: dict = {"data_s": time.perf_counter() - t}
    con = duckdb.connect(str(paths.warehouse), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    as_of = con.execute("SELECT max(partition_date) FROM staging.events").fetchone()[0]
    history = product_daily_sales_frame(con, as_of)
    history["day"] = pd.to_datetime(history["day"])
    actual = history[["product_id", "day", "units"]]
    daily = history.groupby("day")["units"].sum().sort_index()

    class Settings:
        seed = SEED
        forecast_horizon_days = FORECAST_HORIZON
        propensity_horizon_days = PROPENSITY_HORIZON
        recommendation_recency_days = None
        order_risk_alert_budget = 0.02
        order_risk_label_maturity_days = 28

    origins = [as_of - dt.timedelta(days=FORECAST_HORIZON * k) for k in range(LAST_WEEKS // 2, 0, -1)]
    rows, runs = [], []
    train_s = 0.0
    for origin in origins:
        t = time.perf_counter()
        run = training_run(con, origin, Settings())
        train_s += time.perf_counter() - t
        runs.append(
            {
                "origin": origin.isoformat(),
                "served": run.serving_candidate,
                "backtest_wape": {c: m["wape"] for c, m in run.metrics.items()},
                "segment_choice": run.fitted.segment_choice,
                "level": run.fitted.level,
                "total_wape_level": {c: m.get("total_wape_level") for c, m in run.metrics.items()},
            }
        )
        past = history[history["day"] <= pd.Timestamp(origin)]
        panel = build_panel(past.assign(product_id=past["product_id"].astype(str)))
        fut = future_rows(future_frames_as_known_at(con, as_of, FORECAST_HORIZON)(origin), pd.Timestamp(origin), 14)
        # every candidate as it forecasts; served: the served candidate's p50 (product-days) and its
        # `expected` (p50 x its level factor: what the shop's total is summed from)
        arrays, segment = forecast_arrays(run.fitted, panel, pd.Timestamp(origin), fut, CANDIDATES)
        served = arrays[run.serving_candidate]
        factor = run.fitted.level.get(run.serving_candidate, 1.0)
        arrays["served"] = {"p50": served["p50"], "total": served["expected"]}
        # before this fix (branch models-23 at 5b0c5fa): p50 itself scaled when the level also left the
        # product-day WAPE no worse than every simple method's on the backtest
        simple = [c for c in ("seasonal_naive", *STAT_METHODS, "linear") if c in run.metrics]
        level = run.metrics[run.serving_candidate]
        scaled_before = factor != 1.0 and level["wape_level"] <= min(run.metrics[c]["wape"] for c in simple)
        before = served["p50"] * (factor if scaled_before else 1.0)
        arrays["served_before"] = {"p50": before, "total": before}
        # main (before issue 23): the best backtest WAPE of seasonal naive, linear and challenger, as forecast
        on_main = min(MAIN_CANDIDATES, key=lambda c: run.metrics[c]["wape"])
        arrays["served_main"] = {"p50": arrays[on_main]["p50"], "total": arrays[on_main]["p50"]}
        runs[-1].update(served_main=on_main, level_before=factor if scaled_before else 1.0)
        frame = fut[["product_id", "day"]].assign(segment=segment)
        for cand in (*CANDIDATES, *SERVED_ROWS):
            a = arrays[cand]
            rows.append(frame.assign(origin=origin, candidate=cand, p50=a["p50"], total=a.get("total", a["p50"])))
        # the shop's daily total: last value and 56-day mean at the origin
        before = daily[daily.index <= pd.Timestamp(origin)]
        days = pd.date_range(pd.Timestamp(origin) + pd.Timedelta(days=1), periods=FORECAST_HORIZON)
        for name, value in (("last_value", before.iloc[-1]), ("mean_56", before.iloc[-56:].mean())):
            rows.append(
                pd.DataFrame(
                    {"day": days, "candidate": f"total_{name}", "p50": value, "total": value, "origin": origin}
                )
            )
    pred = pd.concat(rows, ignore_index=True)
    products = pred[~pred["candidate"].str.startswith("total_")].merge(actual, on=["product_id", "day"], how="inner")

    def wape(f: pd.DataFrame) -> float:
        return float((f["units"] - f["p50"]).abs().sum() / max(f["units"].sum(), 1e-9))

    result["product_wape"] = {c: wape(g) for c, g in products.groupby("candidate")}
    # per origin and candidate: (sum of absolute errors, units), to pool any choice of candidate per origin
    err = products.assign(err=(products["units"] - products["p50"]).abs())
    result["product_error_by_origin"] = {
        str(origin): {c: [float(e["err"].sum()), float(e["units"].sum())] for c, e in g.groupby("candidate")}
        for origin, g in err.groupby("origin")
    }
    intermittent = products[products["segment"].isin(["intermittent", "lumpy"])]
    result["intermittent_wape"] = {c: wape(g) for c, g in intermittent.groupby("candidate")}
    result["intermittent_rows"] = int(len(intermittent) // (len(CANDIDATES) + len(SERVED_ROWS)))
    # the shop's daily total: every candidate's p50 summed; served: its `expected` summed (served_p50: its
    # p50 summed, what summing the medians would give)
    summed = products.assign(p50=products["total"])
    summed = pd.concat([summed, products[products["candidate"] == "served"].assign(candidate="served_p50")])
    totals = summed.groupby(["candidate", "day"])[["units", "p50"]].sum().reset_index()
    simple = pred[pred["candidate"].str.startswith("total_")].merge(
        daily.rename("units").reset_index(), on="day", how="inner"
    )
    result["total_wape"] = {c: wape(g) for c, g in pd.concat([totals, simple]).groupby("candidate")}
    result["runs"] = runs
    result["train_s_per_origin"] = train_s / len(origins)
    result["products"] = int(history["product_id"].nunique())
    result["daily_first_last_4w"] = [float(daily.iloc[:28].mean()), float(daily.iloc[-28:].mean())]
    del np
    out.write_text(json.dumps(result, default=str))


def family(args) -> None:
    from shop_pipeline.ml.demand_forecast.candidates import CANDIDATES

    print(
        f"\n## Forecast family (issue 23): {args.family_events:,} events over {args.family_days} days, "
        f"seeds {args.seeds}; the last {LAST_WEEKS} weeks = {LAST_WEEKS // 2} origins x {FORECAST_HORIZON} days\n",
        flush=True,
    )
    targets: list[tuple[str, bool]] = []
    for profile in args.profiles:
        results = {}
        for seed in args.seeds:
            home = args.workdir / f"family-{profile}-{seed}"
            if not has_landing(home):
                shutil.rmtree(home, ignore_errors=True)
                run_timed(
                    [
                        PYTHON, "-m", "shop_pipeline.synth", "--events", str(args.family_events), "--days",
                        str(args.family_days), "--seed", str(seed), "--profile", profile, "--home", str(home),
                    ]
                )  # fmt: skip
            if not args.reuse_measured:
                for name in DERIVED_STATE:
                    shutil.rmtree(home / name, ignore_errors=True)
            out = args.workdir / f"family-{profile}-{seed}.json"
            if not (args.reuse_measured and out.is_file()):
                run_timed([PYTHON, str(Path(__file__).resolve()), "--family-measure", str(home), "--out", str(out)])
            results[seed] = json.loads(out.read_text())
        print(f"\n### --profile {profile} (`{load()}`)\n")
        header = ["candidate"]
        for seed in args.seeds:
            header += [f"seed {seed}: backtest WAPE (last origin)", f"seed {seed}: WAPE last 8 weeks"]
        lines = []
        for cand in (*CANDIDATES, *SERVED_ROWS):
            line = [cand]
            for seed in args.seeds:
                r = results[seed]
                last = r["runs"][-1]
                line += [
                    fmt(last["backtest_wape"].get(cand))
                    if cand not in SERVED_ROWS
                    else last["served_main" if cand == "served_main" else "served"],
                    fmt(r["product_wape"].get(cand)),
                ]
            lines.append(line)
        print(table(header, lines))
        print()
        seg_lines = []
        for seed in args.seeds:
            r = results[seed]
            tw, iw = r["total_wape"], r["intermittent_wape"]
            served = [run["served"] for run in r["runs"]]
            seg_lines.append(
                [
                    str(seed),
                    f"{r['products']:,}",
                    f"{r['daily_first_last_4w'][0]:,.0f} -> {r['daily_first_last_4w'][1]:,.0f}",
                    ", ".join(served),
                    ", ".join(f"{run['level'].get(run['served'], 1.0):.2f}" for run in r["runs"]),
                    ", ".join(f"{run['level_before']:.2f}" for run in r["runs"]),
                    fmt(tw["served"]),
                    fmt(tw["served_p50"]),
                    fmt(tw["served_before"]),
                    fmt(tw["served_main"]),
                    fmt(tw["total_last_value"]),
                    fmt(tw["total_mean_56"]),
                    f"{r['intermittent_rows']:,}",
                    fmt(iw.get("served")),
                    fmt(iw.get("croston")),
                    fmt(iw.get("seasonal_naive")),
                    f"{r['train_s_per_origin']:.1f}",
                ]
            )
            if profile == "cohort":
                best = min(tw["total_last_value"], tw["total_mean_56"])
                targets.append(
                    (
                        f"cohort seed {seed}: served daily-total WAPE over the last 8 weeks {tw['served']:.4f} <= "
                        f"best of last value / 56-day mean {best:.4f}",
                        tw["served"] <= best,
                    )
                )
            if iw.get("served") is not None:
                ok = iw["served"] < iw["croston"] and iw["served"] < iw["seasonal_naive"]
                targets.append(
                    (
                        f"{profile} seed {seed}: intermittent + lumpy items, served WAPE {iw['served']:.4f} below "
                        f"Croston {iw['croston']:.4f} and seasonal naive {iw['seasonal_naive']:.4f}",
                        ok,
                    )
                )
            pw = r["product_wape"]
            targets.append(
                (
                    f"{profile} seed {seed}: served product-day WAPE over the last 8 weeks {pw['served']:.4f} <= "
                    f"main's served {pw['served_main']:.4f} (before this fix {pw['served_before']:.4f})",
                    pw["served"] <= pw["served_main"],
                )
            )
            last = r["runs"][-1]["backtest_wape"]
            if profile == "default":
                gain = 1 - last["challenger"] / last["seasonal_naive"]
                targets.append(
                    (
                        f"default seed {seed}: challenger backtest WAPE {gain:.1%} below seasonal naive (>= 24%)",
                        gain >= 0.24,
                    )
                )
        print(
            table(
                [
                    "seed",
                    "products",
                    "units/day, first -> last 4 weeks",
                    "served at the 4 origins",
                    "level factor (expected = p50 x it) at the 4 origins",
                    "before: p50 x",
                    "daily total WAPE: served (sum of expected)",
                    "served, sum of p50",
                    "before (p50 scaled)",
                    "main",
                    "last value",
                    "56-day mean",
                    "intermittent+lumpy product-days",
                    "their WAPE: served",
                    "Croston",
                    "seasonal naive",
                    "training run s / origin",
                ],
                seg_lines,
            )
        )
        print(
            "\nby_segment's choice at the last origin: "
            + "; ".join(
                f"seed {seed}: " + ", ".join(f"{k}={v}" for k, v in results[seed]["runs"][-1]["segment_choice"].items())
                for seed in args.seeds
            )
        )
    print("\n### Targets (forecast family)\n")
    print(table(["target", "holds"], [[name, "yes" if ok else "NO"] for name, ok in targets]), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--scale-events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/shop-bench-models"))
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-quality", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("quality", "scale"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--family", action="store_true", help="only the forecast family benchmark (issue 23)")
    parser.add_argument("--family-events", type=int, default=150_000)
    parser.add_argument("--family-days", type=int, default=140)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--profiles", nargs="+", choices=FAMILY_PROFILES, default=list(FAMILY_PROFILES))
    parser.add_argument("--family-measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--reuse-measured", action="store_true", help="--family: print the JSON a previous run measured, if any"
    )
    args = parser.parse_args()
    if args.measure:
        _measure(args.measure, args.mode, args.out)
        return
    if args.family_measure:
        _family_measure(args.family_measure, args.out)
        return
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; {load()} at the start")
    print(f"command: python benchmarks/models.py {' '.join(sys.argv[1:])}".rstrip(), flush=True)
    if args.family:
        family(args)
        return
    if not args.skip_quality:
        quality(args)
    if not args.skip_scale:
        scale(args)


if __name__ == "__main__":
    main()
