"""The served forecast of a block of products, equal to the forecast of every product at once (pure pandas).

A product's forecast reads its own history rows and future rows, and two things of the whole shop:

- the panel's day range (`data.DayRange`): a lag or window at the origin that falls outside the panel is
  NaN, so a block whose own rows end before the cut-off would get other features than the same products
  in the panel of every product;
- the shop's weekday index at the origin (`statistical.weekday_index`): the damped-trend method divides
  each series by it, and it sums every product's units.

`ShopContext` holds both, computed once for the shop (on a cluster, by the driver:
ml/demand_forecast/spark_score.py); `forecast_block` forecasts any block of products with it. The
driver's own path (score.score_table) is the same forecast with the context of the whole history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shop_pipeline.ml.demand_forecast.candidates import FittedForecaster
from shop_pipeline.ml.demand_forecast.data import DayRange, prepare_origin
from shop_pipeline.ml.demand_forecast.score import forecast_prepared
from shop_pipeline.ml.demand_forecast.statistical import SEASON_DAYS, weekday_index_of


@dataclass(frozen=True)
class ShopContext:
    """What a block of products needs from the whole shop to forecast as the whole shop would."""

    days: DayRange  # the day range of the history of every product
    season: np.ndarray  # (7,) the shop's weekday index at the origin
    as_of: dt.date
    horizon_days: int


def season_days(days: DayRange, as_of: dt.date) -> pd.DatetimeIndex:
    """The days the weekday index at `as_of` reads: the SEASON_DAYS up to it, not before the panel's first day."""
    origin = pd.Timestamp(as_of)
    first = max(origin - pd.Timedelta(days=SEASON_DAYS - 1), days.first)
    return pd.date_range(first, origin, freq="D")


def shop_context(days: DayRange, daily_units: pd.Series, as_of: dt.date, horizon_days: int) -> ShopContext:
    """The context from the history's day range and the shop's units per day (index: day; a missing day
    sold nothing; units as the panel counts them: NULL as 0, a negative value as 0)."""
    window = season_days(days, as_of)
    units = pd.Series(daily_units, dtype=float)
    units.index = pd.DatetimeIndex(units.index).normalize()
    return ShopContext(
        days, weekday_index_of(window, units.reindex(window, fill_value=0.0).to_numpy()), as_of, horizon_days
    )


def forecast_block(
    fitted: FittedForecaster,
    history: pd.DataFrame,
    future: pd.DataFrame,
    context: ShopContext,
    candidate: str,
    model_version: str,
) -> pd.DataFrame:
    """The scoring.demand_forecasts rows of the products of `future` (each product's history rows all in
    `history`, which may hold no row at all: products new at the origin), as score.score_table gives them."""
    origin = prepare_origin(history, context.as_of, context.horizon_days, context.days, context.season)
    forecasts = forecast_prepared(fitted, origin, future, candidate)
    return forecasts.assign(model_version=model_version, as_of=context.as_of)
