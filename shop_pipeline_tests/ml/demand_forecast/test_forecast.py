import numpy as np
import pandas as pd
import pytest

from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.common.plots import png_markdown
from shop_pipeline.ml.common.splits import rolling_origin_folds
from shop_pipeline.ml.demand_forecast.candidates import CANDIDATES, ForecastConfig
from shop_pipeline.ml.demand_forecast.data import recorded_future
from shop_pipeline.ml.demand_forecast.evaluate import backtest
from shop_pipeline.ml.demand_forecast.fitting import fit_forecaster
from shop_pipeline.ml.demand_forecast.report import plot_categories, plot_top_products, plot_wape_by_horizon
from shop_pipeline.ml.demand_forecast.score import forecast
from shop_pipeline_tests.ml.demand_forecast.synthetic import effect_history, weekly_history

FAST = ForecastConfig(max_iter=80, max_train_rows=40_000)


@pytest.fixture(scope="module")
def effect():
    history, future = effect_history()
    folds = rolling_origin_folds(history["day"].max(), n_folds=3, horizon_days=14, step_days=7)
    return history, future, backtest(history, folds, 14, seed=0, config=FAST, future_at=recorded_future(history))


def test_seasonal_naive_is_exact_on_a_weekly_series():
    history = weekly_history()
    folds = rolling_origin_folds(history["day"].max(), n_folds=2, horizon_days=14, step_days=7)
    result = backtest(history, folds, 14, seed=0, config=FAST, future_at=recorded_future(history))
    sn = result.predictions[result.predictions["candidate"] == "seasonal_naive"]
    assert len(sn) == 2 * 3 * 14
    np.testing.assert_array_equal(sn["p50"].to_numpy(), sn["actual"].to_numpy())
    assert result.overall().loc["seasonal_naive", "wape"] == 0.0


def test_backtest_never_trains_on_test_days(effect):
    _, _, result = effect
    p = result.predictions
    assert (pd.to_datetime(p["day"]) > pd.to_datetime(p["train_end"])).all()
    assert p["horizon"].between(1, 14).all()
    assert set(p["fold"]) == {1, 2, 3}


def test_challenger_beats_seasonal_naive_and_linear(effect):
    _, _, result = effect
    overall = result.overall()
    assert result.wape_improvement("challenger", "seasonal_naive") >= 0.15, overall
    assert overall.loc["challenger", "wape"] < overall.loc["linear", "wape"], overall
    # per category rows exist for every candidate, and metric_long is tidy
    assert set(result.per_category()["category"]) == {"c0", "c1", "c2", "c3"}
    assert {"candidate", "fold", "category", "metric", "value"} <= set(result.metrics_long().columns)


def test_interval_covers_roughly_80_percent(effect):
    _, _, result = effect
    cov = result.overall().loc["challenger", "coverage_80"]
    assert 0.65 <= cov <= 0.95, cov
    ch = result.predictions[result.predictions["candidate"] == "challenger"]
    assert (ch["p10"] <= ch["p50"]).all() and (ch["p50"] <= ch["p90"]).all() and (ch["p10"] >= 0).all()


def test_forecast_output_shape_ranges_and_determinism(effect):
    history, future, _ = effect
    as_of = history["day"].max()
    fitted = fit_forecaster(history, as_of, 14, seed=3, config=FAST)
    assert not fitted.fallback and fitted.interval_method.startswith("split-conformal")
    out = forecast(fitted, history, future, as_of, 14)
    assert list(out.columns) == ["product_id", "day", "p10", "p50", "p90", "expected"]
    assert len(out) == history["product_id"].nunique() * 14
    assert not out[["p10", "p50", "p90", "expected"]].isna().any().any()
    assert (out["expected"] == out["p50"]).all()  # no level calibration on a bare fit
    assert (out["p10"] >= 0).all() and (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()
    again = forecast(fit_forecaster(history, as_of, 14, seed=3, config=FAST), history, future, as_of, 14)
    pd.testing.assert_frame_equal(out, again)
    # a later horizon and rows outside (as_of, as_of + horizon] are ignored
    assert forecast(fitted, history, future, as_of, 7)["day"].max() == as_of + pd.Timedelta(days=7)


def test_forecast_uses_nothing_after_as_of(effect):
    history, _future, _ = effect
    as_of = history["day"].max() - pd.Timedelta(days=14)
    fitted = fit_forecaster(history, as_of, 14, seed=0, config=FAST)
    fut = history[history["day"] > as_of]
    base = forecast(fitted, history, fut, as_of, 14)
    changed = history.copy()
    changed.loc[changed["day"] > as_of, "units"] = 1000.0
    refit = fit_forecaster(changed, as_of, 14, seed=0, config=FAST)
    pd.testing.assert_frame_equal(base, forecast(refit, changed, fut, as_of, 14))


def test_empty_history_is_a_clear_error():
    with pytest.raises(ValueError, match="history is empty"):
        fit_forecaster(weekly_history().iloc[:0], None, 14)
    with pytest.raises(ValueError, match="lacks columns"):
        fit_forecaster(weekly_history().drop(columns=["units"]), None, 14)
    with pytest.raises(ValueError, match="no history on or before"):
        fit_forecaster(weekly_history(), "2020-01-01", 14)


def _future_for(history, products, days, category="c0"):
    last = history["day"].max()
    rows = [
        {
            "product_id": p,
            "day": last + pd.Timedelta(days=d),
            "category": category,
            "brand": "b",
            "list_price": 10.0,
            "promo_discount_pct": 0.0,
            "is_promo": 0,
            "shown_price": 10.0,
            "ad_spend": 100.0,
        }
        for p in products
        for d in range(1, days + 1)
    ]
    f = pd.DataFrame(rows)
    day = pd.DatetimeIndex(f["day"])
    return f.assign(
        day_of_week=day.dayofweek,
        day_of_year=day.dayofyear,
        month=day.month,
        is_weekend=(day.dayofweek >= 5).astype(int),
    )


def test_one_day_of_history_falls_back_without_nan():
    history = weekly_history(n_products=2, days=1)
    fitted = fit_forecaster(history, None, 14)
    assert fitted.fallback and "history too short" in fitted.fallback_reason
    out = forecast(fitted, history, _future_for(history, ["p0", "p1", "new"], 14))
    assert len(out) == 3 * 14 and not out[["p10", "p50", "p90"]].isna().any().any()
    # seasonal-naive falls back to the product's mean (its one day), 0 for an unknown product
    first = history.set_index("product_id")["units"]
    assert (out[out["product_id"] == "p0"]["p50"] == first["p0"]).all()
    assert (out[out["product_id"] == "new"][["p10", "p50", "p90"]] == 0).all().all()


def test_category_without_sales_and_horizon_longer_than_history():
    history, future = effect_history(n_products=12, days=10, seed=1)
    history.loc[history["category"] == "c1", "units"] = 0.0  # a category with no sales
    fitted = fit_forecaster(history, None, 14, config=FAST)  # 10 days < 14-day horizon
    assert not fitted.fallback
    out = forecast(fitted, history, future, None, 14)
    assert len(out) == 12 * 14 and np.isfinite(out[["p10", "p50", "p90"]].to_numpy()).all()
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()
    # a backtest whose folds do not fit the history says so
    with pytest.raises(NotEnoughData, match="no backtest fold fits"):
        backtest(
            history,
            rolling_origin_folds(history["day"].max(), 3, 14, 7),
            14,
            config=FAST,
            future_at=recorded_future(history),
        )


def test_all_zero_history_falls_back_to_zero():
    history = weekly_history(n_products=2, days=30).assign(units=0.0)
    fitted = fit_forecaster(history, None, 14)
    assert fitted.fallback and "no unit sold" in fitted.fallback_reason
    out = forecast(fitted, history, _future_for(history, ["p0"], 14))
    assert (out[["p10", "p50", "p90"]] == 0).all().all()


def test_plots_are_png(effect):
    _, _, result = effect
    for png in (
        plot_top_products(result.predictions, n=4),
        plot_categories(result.predictions),
        plot_wape_by_horizon(result.predictions),
        plot_top_products(result.predictions.iloc[:0]),
    ):
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    md = png_markdown(png, "forecast [top]")
    assert md.startswith("![forecast (top)](data:image/png;base64,")


def test_a_fortnight_is_not_enough_data_for_a_14_day_forecast():
    history = weekly_history(n_products=3, days=14)
    first, last = history["day"].min(), history["day"].max()
    with pytest.raises(NotEnoughData, match=r"14 days of data \(2025-.*\) are fewer than a 14-day horizon") as caught:
        rolling_origin_folds(last, 3, 14, 7, first_day=first)
    assert "\n" not in str(caught.value)
    # one day more: one fold, whose model falls back to seasonal-naive (too few training examples)
    history = weekly_history(n_products=3, days=15)
    folds = rolling_origin_folds(history["day"].max(), 3, 14, 7, first_day=history["day"].min())
    result = backtest(history, folds, 14, config=FAST, future_at=recorded_future(history))
    assert len(folds) == 1 and set(result.predictions["candidate"]) == set(CANDIDATES)
    with pytest.raises(NotEnoughData, match="history is empty"):
        fit_forecaster(history.iloc[:0], None, 14)


def test_the_backtest_forecasts_the_future_it_is_given_for_each_origin(effect):
    history, _, _ = effect
    folds = rolling_origin_folds(history["day"].max(), n_folds=2, horizon_days=14, step_days=7)
    asked = []

    def doubled_price(origin):
        # a future whose price is twice the price paid: what serving would have assumed on that origin
        asked.append(origin)
        future = recorded_future(history)(origin)
        return future.assign(shown_price=2 * future["shown_price"])

    recorded = backtest(history, folds, 14, config=FAST, future_at=recorded_future(history))
    skewed = backtest(history, folds, 14, config=FAST, future_at=doubled_price)
    assert asked == [f.train_end for f in folds]
    keys = ["fold", "candidate", "product_id", "day"]
    both = recorded.predictions.merge(skewed.predictions, on=keys, suffixes=("", "_skewed"))
    assert len(both) == len(recorded.predictions) == len(skewed.predictions)
    assert (both["actual"] == both["actual_skewed"]).all()
    linear = both[both["candidate"] == "linear"]
    # the price moved the linear forecast (and its metric); seasonal-naive ignores prices
    assert not np.allclose(linear["p50"], linear["p50_skewed"])
    naive = both[both["candidate"] == "seasonal_naive"]
    np.testing.assert_array_equal(naive["p50"], naive["p50_skewed"])
    assert skewed.overall().loc["linear", "wape"] != recorded.overall().loc["linear", "wape"]
