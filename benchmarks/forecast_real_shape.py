"""Demand forecast on the shape of a public invoice log: no catalog, prices that fall over time,
a few lines keyed at 20x the price (issue 14). Does the backtest say what serving then does?

The shop (shop_pipeline.synth.falling_prices) is generated, written as one Online Retail II CSV,
imported with the online_retail adapter and staged by `shop-pipeline run --groups
ingestion,staging` (its own process). Then, for each cut-off, two ways of choosing and serving
the forecast are measured against the generator's true units of the 14 days after the cut-off:

* before (the pipeline until issue 14): the backtest forecasts each fold from the history's own
  rows (the prices actually paid on the test days), picks the candidate with the best WAPE, and
  serving forecasts a future whose price is the list price = the highest price seen;
* now: each fold forecasts the future frame serving builds on the fold's origin
  (features.tables.future_frames_as_known_at: median of the last five prices paid x the
  planned discount, ad spend as planned at the origin), and serving forecasts
  future_product_days_frame: the same code path (what defs/demand_forecast.py runs).

Printed per cut-off and way: the served candidate, its backtest WAPE and 80% coverage, the WAPE
of the forecast it served on the next 14 days, their ratio (the issue's target: within 1.25x),
and the forecast's total units vs the true total.

Usage: python benchmarks/forecast_real_shape.py [--products 200] [--days 140] [--seed 7]
                                                [--workdir /tmp/shop-bench-forecast-shape]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
from pathlib import Path

from harness import load, table, timed

PYTHON = sys.executable
SHOP_PIPELINE = str(Path(sys.executable).with_name("shop-pipeline"))
HORIZON = 14
SEED = 42  # Modeling.seed
FOLDS = 3  # the demand forecast spec's backtest folds


def build_shop(args) -> tuple[Path, object, object]:
    from shop_pipeline.settings import ShopPaths
    from shop_pipeline.sources.importer import import_files
    from shop_pipeline.synth.falling_prices import (
        FallingPriceConfig,
        generate_falling_price_shop,
        write_invoices,
    )

    config = FallingPriceConfig(products=args.products, days=args.days, seed=args.seed)
    lines, truth = generate_falling_price_shop(config)
    home = args.workdir / f"shop-{args.products}x{args.days}-seed{args.seed}"
    shutil.rmtree(home, ignore_errors=True)
    paths = ShopPaths.at(home).ensure()
    source = args.workdir / "online_retail_ii.csv"
    write_invoices(lines, source)
    import_files("online_retail", [source], paths.landing)
    seconds, rss = timed(
        [SHOP_PIPELINE, "run", "--home", str(home), "--groups", "ingestion,staging"],
        env={"DAGSTER_HOME": str(home / "dagster_home")},
    )
    print(
        f"# {len(lines):,} invoice lines, {args.products} products, {args.days} days; staged in {seconds:.1f} s "
        f"({rss:,.0f} MiB); {load()}",
        flush=True,
    )
    return paths.warehouse, truth, config


def measure(con, truth, cutoff: dt.date) -> list[list[str]]:
    import pandas as pd

    from shop_pipeline.features.tables import (
        future_frames_as_known_at,
        future_product_days_frame,
        product_daily_sales_frame,
    )
    from shop_pipeline.ml.common.metrics import forecast_metrics
    from shop_pipeline.ml.common.splits import rolling_origin_folds
    from shop_pipeline.ml.demand_forecast.data import recorded_future
    from shop_pipeline.ml.demand_forecast.evaluate import backtest
    from shop_pipeline.ml.demand_forecast.fitting import fit_forecaster
    from shop_pipeline.ml.demand_forecast.score import forecast

    history = product_daily_sales_frame(con, cutoff)
    folds = rolling_origin_folds(
        cutoff, n_folds=FOLDS, horizon_days=HORIZON, step_days=7, first_day=min(history["day"])
    )
    fitted = fit_forecaster(history, as_of=cutoff, horizon_days=HORIZON, seed=SEED)
    future = future_product_days_frame(con, cutoff, HORIZON)
    highest_price = future.assign(shown_price=future["list_price"] * (1.0 - future["promo_discount_pct"]))
    actual = truth.assign(day=pd.to_datetime(truth["day"]))
    ways = {
        "before: history rows in the folds, highest price served": (recorded_future(history), highest_price),
        "now: serving frames in the folds and served": (future_frames_as_known_at(con, cutoff, HORIZON), future),
    }
    rows = []
    for way, (future_at, served_future) in ways.items():
        result = backtest(history, folds, HORIZON, seed=SEED, future_at=future_at)
        overall = result.overall()
        serving = str(overall["wape"].idxmin())
        served = forecast(fitted, history, served_future, as_of=cutoff, horizon_days=HORIZON, candidate=serving)
        scored = served.merge(actual, on=["product_id", "day"], how="inner")
        wape = forecast_metrics(scored["units"], scored["p50"])["wape"]
        backtest_wape = float(overall.loc[serving, "wape"])
        rows.append(
            [
                str(cutoff),
                way,
                serving,
                f"{backtest_wape:.3f}",
                f"{overall.loc[serving, 'coverage_80']:.1%}",
                f"{wape:.3f}",
                f"{wape / backtest_wape:.2f}x",
                f"{scored['p50'].sum():,.0f} / {scored['units'].sum():,.0f}",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--days", type=int, default=140)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/shop-bench-forecast-shape"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    import duckdb

    warehouse, truth, config = build_shop(args)
    last = config.start + dt.timedelta(days=config.days - 1)
    cutoffs = [last - dt.timedelta(days=HORIZON + 7 * k) for k in (4, 2, 0)]
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    rows = []
    for cutoff in cutoffs:
        rows += measure(con, truth, cutoff)
    con.close()
    print()
    print(
        table(
            [
                "cut-off",
                "backtest / serving",
                "served candidate",
                "backtest WAPE",
                "backtest coverage 80%",
                f"served WAPE, next {HORIZON} days",
                "served / backtest",
                "forecast / true units",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
