"""The level calibration: the `expected` units of a candidate whose daily totals run low are its p50
scaled by the ratio of units sold to units forecast on the backtest, measured on folds the ratio has not
seen; p10 / p50 / p90 stay as forecast (issue 23)."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from shop_pipeline.ml.common.splits import Fold
from shop_pipeline.ml.demand_forecast.evaluate import BacktestResult, nested_level
from shop_pipeline.ml.demand_forecast.fitting import fit_forecaster
from shop_pipeline.ml.demand_forecast.score import forecast
from shop_pipeline.ml.demand_forecast.train import served_level
from shop_pipeline_tests.ml.demand_forecast.synthetic import weekly_history
from shop_pipeline_tests.ml.demand_forecast.test_forecast import _future_for

ORIGINS = ("2025-03-01", "2025-03-15", "2025-03-29")  # folds 14 days apart: each knows every earlier day


def _rows(ratio: float) -> pd.DataFrame:
    """3 folds x 14 days x 5 products, actual 4, p50 = 4 x ratio (a 'low' candidate: ratio 0.5)."""
    pieces = []
    for fold, origin in enumerate(ORIGINS, start=1):
        day = pd.Timestamp(origin) + pd.to_timedelta(np.repeat(np.arange(1, 15), 5), unit="D")
        pieces.append(pd.DataFrame({"fold": fold, "train_end": pd.Timestamp(origin).date(), "day": day, "actual": 4.0}))
    rows = pd.concat(pieces, ignore_index=True)
    return rows.assign(p50=rows["actual"] * ratio)


def test_level_is_learned_on_earlier_folds_only():
    level = nested_level(
        pd.concat([_rows(0.5).assign(candidate="low"), _rows(1.0).assign(candidate="right")], ignore_index=True)
    )
    low = level.loc["low"]
    assert low["level_factor"] == pytest.approx(2.0)
    assert low["total_wape"] == pytest.approx(0.5)
    # fold 1 knows nothing (factor 1: half the units missing), folds 2 and 3 are scaled by 2 (exact)
    assert low["total_wape_level"] == pytest.approx(0.5 / 3)
    assert low["wape_level"] == pytest.approx(0.5 / 3)
    assert level.loc["right"][["level_factor", "total_wape", "total_wape_level"]].tolist() == [1.0, 0.0, 0.0]


def test_the_level_is_served_only_when_it_cut_the_daily_totals_error():
    # "noisy" is 10% high, then 10% low, then 10% high: a level learned on earlier folds makes it worse
    noisy = _rows(1.0)
    noisy["p50"] *= noisy["fold"].map({1: 1.1, 2: 0.9, 3: 1.1})
    predictions = pd.concat([_rows(0.5).assign(candidate="low"), noisy.assign(candidate="noisy")], ignore_index=True)
    result = _result(predictions)
    assert served_level(result, "low") == {"low": pytest.approx(2.0)}
    assert result.level.loc["noisy", "total_wape_level"] > result.level.loc["noisy", "total_wape"]
    assert served_level(result, "noisy") == {}
    assert served_level(result, "absent") == {}


def _result(predictions: pd.DataFrame) -> BacktestResult:
    metrics = pd.DataFrame({"candidate": ["last_value"], "fold": "all", "category": "ALL", "wape": 0.1})
    return BacktestResult(
        folds=[Fold(*[pd.Timestamp(o).date()] * 3) for o in ORIGINS],
        predictions=predictions,
        metrics=metrics,
        fit_seconds={},
        skipped_folds=[],
        level=nested_level(predictions),
    )


def test_the_level_scales_the_served_candidates_expected_units_alone():
    """A shop sums `expected` for its totals; p10 / p50 / p90 (what each product-day is judged on) and
    every other candidate are as forecast."""
    history = weekly_history(n_products=3, days=21)
    fitted = fit_forecaster(history, None, 14)
    future = _future_for(history, ["p0", "p1", "p2"], 14)
    scaled = dataclasses.replace(fitted, level={"mean_7": 2.0})
    for candidate, factor in (("mean_7", 2.0), ("last_value", 1.0)):
        base = forecast(fitted, history, future, candidate=candidate)
        out = forecast(scaled, history, future, candidate=candidate)
        pd.testing.assert_frame_equal(out[["p10", "p50", "p90"]], base[["p10", "p50", "p90"]])
        assert np.allclose(out["expected"], factor * base["p50"])
        assert out["expected"].sum() > 0
    assert type(fitted).from_artifact(scaled.to_artifact()).level == {"mean_7": 2.0}
