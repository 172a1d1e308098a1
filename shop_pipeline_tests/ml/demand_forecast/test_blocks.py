"""A block of products forecast with the shop's context equals the same products forecast with every
product at once: what lets a cluster score the forecast in blocks (ml/demand_forecast/blocks.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shop_pipeline.ml.demand_forecast.blocks import forecast_block, shop_context
from shop_pipeline.ml.demand_forecast.candidates import ForecastConfig
from shop_pipeline.ml.demand_forecast.data import DayRange, build_panel, check_history
from shop_pipeline.ml.demand_forecast.fitting import fit_forecaster
from shop_pipeline.ml.demand_forecast.score import forecast
from shop_pipeline.ml.demand_forecast.statistical import weekday_index
from shop_pipeline_tests.ml.demand_forecast.synthetic import effect_history

FAST = ForecastConfig(max_iter=40, max_train_rows=20_000)


@pytest.fixture(scope="module")
def shop():
    """A history whose products do not all span the same days: some stop selling (no rows) ten days
    before the cut-off, some start twenty days late; and a product new at the cut-off (future only)."""
    history, future = effect_history(n_products=24, days=70, seed=3)
    as_of = history["day"].max()
    products = sorted(history["product_id"].unique())
    stopped, started = set(products[:6]), set(products[6:12])
    history = history[
        ~(history["product_id"].isin(stopped) & (history["day"] > as_of - pd.Timedelta(days=10)))
        & ~(history["product_id"].isin(started) & (history["day"] < history["day"].min() + pd.Timedelta(days=20)))
    ].reset_index(drop=True)
    new = future[future["product_id"] == products[0]].assign(product_id="p-new")
    future = pd.concat([future, new], ignore_index=True)
    fitted = fit_forecaster(history, as_of, 14, seed=0, config=FAST)
    # blocks: the stopped products alone (their own rows end before the cut-off), the late starters
    # with the new product, the rest
    blocks = [stopped, started | {"p-new"}, set(products[12:])]
    return history, future, as_of.date(), fitted, blocks


def _context(history, as_of):
    h = check_history(history)
    units = h.assign(units=h["units"].fillna(0).clip(lower=0)).groupby("day")["units"].sum()
    return shop_context(DayRange.of(h), units, as_of, 14)


def test_the_shop_context_is_what_the_panel_of_every_product_gives(shop):
    history, _, as_of, _, _ = shop
    panel = build_panel(check_history(history))
    context = _context(history, as_of)
    assert context.days == DayRange(panel.day0, panel.day0 + pd.Timedelta(days=panel.n_days - 1))
    np.testing.assert_array_equal(context.season, weekday_index(panel, panel.day_index(as_of)))
    assert not np.allclose(context.season, 1.0)  # the shop has a weekday profile: the test can see it


@pytest.mark.parametrize("candidate", ["challenger", "ets_damped", "croston", "seasonal_naive"])
def test_blocks_of_products_forecast_as_every_product_at_once(shop, candidate):
    history, future, as_of, fitted, blocks = shop
    whole = forecast(fitted, history, future, as_of=as_of, horizon_days=14, candidate=candidate)
    context = _context(history, as_of)

    parts = [
        forecast_block(
            fitted,
            history[history["product_id"].isin(block)],
            future[future["product_id"].isin(block)],
            context,
            candidate,
            "v1",
        )
        for block in blocks
    ]
    got = pd.concat(parts, ignore_index=True).sort_values(["product_id", "day"]).reset_index(drop=True)

    assert got[["product_id", "day"]].equals(whole[["product_id", "day"]])
    assert set(got["model_version"]) == {"v1"} and set(got["as_of"]) == {as_of}
    for column in ("p10", "p50", "p90", "expected"):
        np.testing.assert_allclose(got[column], whole[column], rtol=1e-9, atol=1e-12, err_msg=column)
    assert (whole["p50"] > 0).any()


def test_a_block_without_history_rows_forecasts_its_new_products(shop):
    history, future, as_of, fitted, _ = shop
    context = _context(history, as_of)
    got = forecast_block(fitted, history.iloc[:0], future[future["product_id"] == "p-new"], context, "challenger", "v1")
    assert len(got) == 14 and np.isfinite(got[["p10", "p50", "p90", "expected"]].to_numpy()).all()


def test_the_fitted_model_is_not_the_fallback(shop):
    assert not shop[3].fallback, shop[3].fallback_reason
