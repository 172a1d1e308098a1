"""Demand-forecast training run: the rolling-origin backtest of every candidate, the served one chosen by
its pooled WAPE, and the final fit up to the cut-off (`training_run` -> TrainingRun).

Backtest = serving: each fold forecasts the future frame serving would have built on its origin
(features.tables.future_frames_as_known_at), through the served path (evaluate.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from shop_pipeline.features.tables import future_frames_as_known_at, product_daily_sales_frame, read_product_daily_sales
from shop_pipeline.ml.common.promotion import select_serving
from shop_pipeline.ml.common.spec import ModelSettings, TrainingRun
from shop_pipeline.ml.common.splits import rolling_origin_folds
from shop_pipeline.ml.demand_forecast.candidates import CANDIDATES, GATE_METRIC, HIGHER_IS_BETTER, METRICS
from shop_pipeline.ml.demand_forecast.data import FutureAt
from shop_pipeline.ml.demand_forecast.evaluate import BacktestResult, backtest
from shop_pipeline.ml.demand_forecast.fitting import fit_forecaster

BACKTEST_FOLDS = 3
FOLD_STEP_DAYS = 7
LEVEL_METRICS = ("total_wape", "total_wape_level", "wape_level")
LEVEL_MIN_GAIN = 0.02  # a calibration that cuts the daily totals' WAPE by less is noise, not served


@dataclass
class ForecastRun:
    """What the backtest measured (for the report and for measuring the champion on the same folds)."""

    history: pd.DataFrame
    result: BacktestResult
    future_at: FutureAt
    horizon_days: int


def training_history(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame:
    """The product-day grid up to as_of: the audited features.product_daily_sales when it runs to
    as_of (the same rows as the query, read instead of computed again), else computed."""
    try:
        return read_product_daily_sales(con, as_of, dt.date.min)
    except ValueError:  # the table is for another cut-off
        return product_daily_sales_frame(con, as_of)


def metrics_by_candidate(result: BacktestResult) -> dict[str, dict[str, float]]:
    """METRICS of every candidate, with total_wape and total_wape_level (the WAPE of the daily totals,
    raw and level-calibrated out of sample: evaluate.nested_level)."""
    overall, level = result.overall(), result.level
    return {
        candidate: {
            **{m: float(overall.loc[candidate, m]) for m in METRICS},
            **({k: float(level.loc[candidate, k]) for k in LEVEL_METRICS} if candidate in level.index else {}),
        }
        for candidate in overall.index
    }


def served_level(result: BacktestResult, serving: str) -> dict[str, float]:
    """{serving: factor} when the level calibration, measured out of sample (evaluate.nested_level), cut
    the served candidate's daily-total WAPE by LEVEL_MIN_GAIN; else {} (expected = p50). The factor
    scales the forecast's `expected` column only: p50 stays the product-day median the candidate was
    chosen for, so the calibration cannot cost product-day accuracy (score.forecast_arrays)."""
    level = result.level
    if serving not in level.index:
        return {}
    row = level.loc[serving]
    if row["total_wape_level"] < (1 - LEVEL_MIN_GAIN) * row["total_wape"]:
        return {serving: float(row["level_factor"])}
    return {}


def training_run(con: duckdb.DuckDBPyConnection, as_of: dt.date, settings: ModelSettings) -> TrainingRun:
    """Backtest every candidate over BACKTEST_FOLDS folds before the cut-off, refit up to it, and serve the
    candidate with the best pooled WAPE (a tie: the simpler one). by_segment is measured out of sample
    (each fold's choice per demand segment made on earlier folds, evaluate.nested_by_segment); what the
    refit's by_segment serves is chosen on every fold. NotEnoughData when no fold fits."""
    horizon, seed = settings.forecast_horizon_days, settings.seed
    history = training_history(con, as_of)
    first_day = min(history["day"])
    folds = rolling_origin_folds(
        as_of, n_folds=BACKTEST_FOLDS, horizon_days=horizon, step_days=FOLD_STEP_DAYS, first_day=first_day
    )
    # every fold forecasts the future frame serving would have built on its origin
    future_at = future_frames_as_known_at(con, as_of, horizon)
    result = backtest(history, folds, horizon_days=horizon, seed=seed, future_at=future_at)
    fitted = fit_forecaster(history, as_of=as_of, horizon_days=horizon, seed=seed)
    fitted.segment_choice = dict(result.segment_choice)  # what by_segment serves, chosen on every fold
    metrics = metrics_by_candidate(result)
    serving = select_serving(metrics, list(CANDIDATES), GATE_METRIC, higher_is_better=HIGHER_IS_BETTER)
    fitted.level = served_level(result, serving)
    return TrainingRun(
        serving_candidate=serving,
        fitted=fitted,
        metrics=metrics,
        parameters={
            **vars(fitted.config),
            "horizon_days": horizon,
            "seed": seed,
            "segment_choice": ", ".join(f"{k}: {v}" for k, v in fitted.segment_choice.items()),
            "level_factor": fitted.level.get(serving, 1.0),
        },
        features=fitted.features.get(serving, ["seasonal_naive"]),
        held_out=(result.folds[0].test_start, result.folds[-1].test_end),
        train_start=first_day,
        train_end=as_of,
        notes=fitted.fallback_reason or "",
        champion_window_start=result.folds[0].test_start,
        details=ForecastRun(history, result, future_at, horizon),
    )
