"""Demand-forecast fitting: the linear baseline and the challenger, with their intervals.

Examples: origins every `origin_step_days` over the `lookback_days` before the training end,
every product with a row on the origin and the target day, then a seeded sample of at most
`max_train_rows` (bounded time and memory).

Interval calibration: the models are first fitted on the examples whose target day is on or
before the calibration origin (train_end - horizon); their residuals on every product x horizon
from that origin give the bins. Too little history for that origin: in-sample residuals (narrower;
recorded in FittedForecaster.interval_method).

Fallback mode (fewer than MIN_TRAIN_ROWS examples, or nothing sold): no model; the linear and boosted
candidates forecast the seasonal-naive value with the Poisson interval.

The statistical family (statistical.py) has nothing to fit; its intervals are calibrated the same way
(its forecasts from the calibration origin against the units sold after it), in fallback mode too.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from shop_pipeline.ml.common.threads import configure as configure_threads
from shop_pipeline.ml.demand_forecast.candidates import (
    DEFAULT_CONFIG,
    MIN_TRAIN_ROWS,
    FittedForecaster,
    ForecastConfig,
    fit_challenger,
    linear_pipeline,
    residual_bins,
    set_intervals,
)
from shop_pipeline.ml.demand_forecast.data import (
    DayRange,
    Panel,
    build_panel,
    design_matrix,
    history_until,
    known_target_days,
)
from shop_pipeline.ml.demand_forecast.statistical import STAT_METHODS, forecast_methods


def training_triples(panel: Panel, train_end: int, horizon: int, cfg: ForecastConfig, seed: int) -> np.ndarray:
    """(product row, origin day index, horizon) of the training examples, one row each (module docstring)."""
    origins = np.arange(train_end - 1, max(train_end - 1 - cfg.lookback_days, -1), -cfg.origin_step_days)
    units = panel.m["units"]
    parts = []
    for o in origins:
        hs = np.arange(1, min(horizon, train_end - o) + 1)
        if len(hs) == 0:
            continue
        at_origin = np.flatnonzero(~np.isnan(units[:, o]))
        if len(at_origin) == 0:
            continue
        pp = np.repeat(at_origin, len(hs))
        hh = np.tile(hs, len(at_origin))
        keep = ~np.isnan(units[pp, o + hh])
        parts.append(np.column_stack([pp[keep], np.full(keep.sum(), o), hh[keep]]))
    if not parts:
        return np.zeros((0, 3), dtype=np.int64)
    triples = np.concatenate(parts).astype(np.int64)
    if len(triples) > cfg.max_train_rows:
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(len(triples), size=cfg.max_train_rows, replace=False))
        triples = triples[pick]
    return triples


def fit_on_panel(panel: Panel, train_end: int, horizon: int, seed: int, cfg: ForecastConfig) -> FittedForecaster:
    """Every model fitted on the examples whose target day is before day index train_end
    (the fallback mode when they are too few or sold nothing)."""
    configure_threads()  # the boosted trees run on OpenMP threads
    triples = training_triples(panel, train_end, horizon, cfg, seed)
    p, o, h = triples[:, 0], triples[:, 1], triples[:, 2]
    y = panel.m["units"][p, o + h] if len(triples) else np.zeros(0)
    window = (panel.day_at([0])[0].date(), panel.day_at([train_end])[0].date())
    fitted = FittedForecaster(
        as_of=window[1],
        horizon_days=horizon,
        seed=seed,
        pipelines={},
        fallback=False,
        fallback_reason=None,
        training_rows=len(y),
        training_window=window,
        config=cfg,
    )
    start = time.perf_counter()
    calibrate_statistical(fitted, panel, train_end, horizon, seed, cfg)
    fitted.fit_seconds["statistical"] = time.perf_counter() - start
    if len(y) < MIN_TRAIN_ROWS:
        fitted.fallback, fitted.fallback_reason = (
            True,
            (f"only {len(y)} training examples (< {MIN_TRAIN_ROWS}): history too short for a model"),
        )
        return fitted
    if y.sum() <= 0:
        fitted.fallback, fitted.fallback_reason = True, "no unit sold in the training window"
        return fitted
    X = design_matrix(panel, p, o, h, known_target_days(panel, p, o + h))
    start = time.perf_counter()
    fitted.pipelines["linear"] = linear_pipeline(cfg).fit(X, y)
    fitted.fit_seconds["linear"] = time.perf_counter() - start
    start = time.perf_counter()
    calibrate(fitted, panel, train_end, horizon, seed, cfg, X, y, origins=o, horizons=h)
    fitted.pipelines["challenger"] = fit_challenger(cfg, seed, X, y)
    if fitted.interval_method == "in-sample residuals":
        set_intervals(fitted, fitted.pipelines["challenger"], fitted.pipelines["linear"], X, np.log1p(y), cfg)
    fitted.fit_seconds["challenger"] = time.perf_counter() - start
    return fitted


def calibrate(
    fitted: FittedForecaster,
    panel: Panel,
    train_end: int,
    horizon: int,
    seed: int,
    cfg: ForecastConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    origins: np.ndarray,
    horizons: np.ndarray,
) -> None:
    """Split-conformal residuals from the calibration origin train_end - horizon: the models fitted
    on the training examples (X, y at origins + horizons) whose target day is on or before it,
    measured on every product x horizon from it."""
    c = train_end - horizon
    before = (origins + horizons) <= c
    units = panel.m["units"]
    if c < 0 or before.sum() < MIN_TRAIN_ROWS or y[before].sum() <= 0:
        fitted.interval_method = "in-sample residuals"
        return
    pairs = calibration_pairs(units, c, horizon, cfg.max_calibration_rows, seed + 1)
    if pairs is None:
        fitted.interval_method = "in-sample residuals"
        return
    cp, ch = pairs
    co = np.full(len(cp), c)
    X_before, y_before = X[before].reset_index(drop=True), y[before]
    cX = design_matrix(panel, cp, co, ch, known_target_days(panel, cp, c + ch))
    set_intervals(
        fitted,
        fit_challenger(cfg, seed, X_before, y_before),
        linear_pipeline(cfg).fit(X_before, y_before),
        cX,
        np.log1p(units[cp, c + ch]),
        cfg,
    )
    fitted.interval_method = "split-conformal residuals by predicted level"
    fitted.calibration_rows = len(cp)


def calibration_pairs(
    units: np.ndarray, c: int, horizon: int, max_rows: int, sample_seed: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The (product, horizon) pairs measured from the calibration origin `c`: every product with a
    row at `c` and at `c + h`, a seeded sample of `max_rows` of them when there are more; None when
    fewer than MIN_TRAIN_ROWS."""
    present = np.flatnonzero(~np.isnan(units[:, c]))
    hs = np.arange(1, horizon + 1)
    cp, ch = np.repeat(present, len(hs)), np.tile(hs, len(present))
    keep = ~np.isnan(units[cp, c + ch])
    cp, ch = cp[keep], ch[keep]
    if len(cp) < MIN_TRAIN_ROWS:
        return None
    if len(cp) > max_rows:
        pick = np.sort(np.random.default_rng(sample_seed).choice(len(cp), max_rows, replace=False))
        cp, ch = cp[pick], ch[pick]
    return cp, ch


def calibrate_statistical(
    fitted: FittedForecaster, panel: Panel, train_end: int, horizon: int, seed: int, cfg: ForecastConfig
) -> None:
    """fitted.baseline_intervals of every statistical method: its residual bins from the calibration
    origin train_end - horizon over every product x horizon with a row (none when that origin is
    before the panel or fewer than MIN_TRAIN_ROWS rows: the Poisson interval then)."""
    c = train_end - horizon
    if c < 0:
        return
    units = panel.m["units"]
    pairs = calibration_pairs(units, c, horizon, cfg.max_calibration_rows, seed + 2)
    if pairs is None:
        return
    cp, ch = pairs
    predicted, _segment = forecast_methods(panel, cp, c, ch, STAT_METHODS)
    actual_log = np.log1p(units[cp, c + ch])
    for name, p50 in predicted.items():
        fitted.baseline_intervals[name] = residual_bins(np.log1p(np.maximum(p50, 0.0)), actual_log, cfg)


def fit_forecaster(
    history: pd.DataFrame, as_of=None, horizon_days: int = 14, seed: int = 0, config: ForecastConfig = DEFAULT_CONFIG
) -> FittedForecaster:
    """Fit the linear baseline and the challenger (p10 / p50 / p90) on days <= as_of
    (default: the last day of the history)."""
    h, origin = history_until(history, as_of, horizon_days)
    panel = build_panel(h, DayRange.of(h))
    fitted = fit_on_panel(panel, panel.day_index(origin), horizon_days, seed, config)
    fitted.as_of = origin.date()
    return fitted
