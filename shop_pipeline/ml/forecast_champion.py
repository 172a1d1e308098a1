"""The forecaster as a registry artifact, and a saved model measured on backtest folds.

skops saves scikit-learn objects, numbers and arrays, not our dataclasses: a fitted
forecaster travels as a plain dict and is rebuilt from it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from shop_pipeline.ml.forecast import FittedForecaster, ForecastConfig, FutureAt, forecast
from shop_pipeline.ml.common.metrics import forecast_metrics
from shop_pipeline.ml.common.splits import Fold


def to_artifact(fitted: FittedForecaster) -> dict[str, Any]:
    return {
        "as_of": fitted.as_of.isoformat(),
        "horizon_days": int(fitted.horizon_days),
        "seed": int(fitted.seed),
        "pipelines": dict(fitted.pipelines),
        "fallback": bool(fitted.fallback),
        "fallback_reason": fitted.fallback_reason or "",
        "training_rows": int(fitted.training_rows),
        "training_window": [d.isoformat() for d in fitted.training_window],
        "config": dataclasses.asdict(fitted.config),
        "interval_edges": np.asarray(fitted.interval_edges, dtype=np.float64),
        "interval_lo": np.asarray(fitted.interval_lo, dtype=np.float64),
        "interval_hi": np.asarray(fitted.interval_hi, dtype=np.float64),
        "interval_method": fitted.interval_method,
        "calibration_rows": int(fitted.calibration_rows),
        "baseline_intervals": {name: {"edges": np.asarray(edges, dtype=np.float64), "lo": np.asarray(lo, dtype=np.float64),
                                      "hi": np.asarray(hi, dtype=np.float64)}
                               for name, (edges, lo, hi) in fitted.baseline_intervals.items()},
    }


def from_artifact(artifact: dict[str, Any]) -> FittedForecaster:
    start, end = (dt.date.fromisoformat(d) for d in artifact["training_window"])
    return FittedForecaster(
        as_of=dt.date.fromisoformat(artifact["as_of"]),
        horizon_days=int(artifact["horizon_days"]),
        seed=int(artifact["seed"]),
        pipelines=dict(artifact["pipelines"]),
        fallback=bool(artifact["fallback"]),
        fallback_reason=artifact["fallback_reason"] or None,
        training_rows=int(artifact["training_rows"]),
        training_window=(start, end),
        config=ForecastConfig(**artifact["config"]),
        interval_edges=np.asarray(artifact["interval_edges"]),
        interval_lo=np.asarray(artifact["interval_lo"]),
        interval_hi=np.asarray(artifact["interval_hi"]),
        interval_method=artifact["interval_method"],
        calibration_rows=int(artifact["calibration_rows"]),
        # absent from artifacts saved before the baselines had intervals: they fall back to Poisson
        baseline_intervals={name: (np.asarray(b["edges"]), np.asarray(b["lo"]), np.asarray(b["hi"]))
                            for name, b in artifact.get("baseline_intervals", {}).items()},
    )


def backtest_saved_model(fitted: FittedForecaster, history: pd.DataFrame, folds: list[Fold], horizon_days: int,
                         future_at: FutureAt, candidate: str = "challenger") -> dict[str, float]:
    """Pooled metrics of an already fitted forecaster's `candidate` (e.g. the champion's) on the backtest folds.

    Each fold forecasts from the history up to its train_end and the future frame serving would
    have built on that day (`future_at`), exactly like the candidates of the backtest. A champion
    trained on later data has seen these days: its numbers are optimistic, which only makes the
    gate stricter.
    """
    days = pd.to_datetime(history["day"]).dt.date
    pieces = []
    for fold in folds:
        past = history[days <= fold.train_end]
        test = history[(days > fold.train_end) & (days <= fold.test_end)]
        if past.empty or test.empty:
            continue
        last_h = min(horizon_days, (fold.test_end - fold.train_end).days)
        predicted = forecast(fitted, past, future_at(fold.train_end), as_of=fold.train_end,
                             horizon_days=last_h, candidate=candidate)
        actual = test[["product_id", "day", "units"]].assign(day=lambda f: pd.to_datetime(f["day"]).dt.date)
        predicted = predicted.assign(day=pd.to_datetime(predicted["day"]).dt.date)
        pieces.append(actual.merge(predicted, on=["product_id", "day"], how="inner"))
    if not pieces:
        return {}
    joined = pd.concat(pieces, ignore_index=True)
    return forecast_metrics(joined["units"], joined["p50"], joined["p10"], joined["p90"])
