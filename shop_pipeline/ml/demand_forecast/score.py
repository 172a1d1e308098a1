"""Demand-forecast scoring: the batch and online forecast of a fitted forecaster from an origin.

`forecast` / `forecast_prepared` answer the rows of a future frame (what is assumed about the
forecast days: last price x planned promotion, planned or recent ad spend) within the horizon.
Products without history are forecast from price, promotion, calendar and category; an output
never holds NaN. `score_table` is the batch: the rows of scoring.demand_forecasts.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from shop_pipeline.features.tables import future_product_days_frame, read_product_daily_sales
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.html_report import markdown_table
from shop_pipeline.ml.common.lifecycle import serving_candidate
from shop_pipeline.ml.common.spec import ModelSettings, Shown
from shop_pipeline.ml.common.threads import configure as configure_threads
from shop_pipeline.ml.demand_forecast.candidates import (
    CANDIDATES,
    MODEL_CANDIDATES,
    SEGMENTED,
    FittedForecaster,
    binned_interval,
    poisson_interval,
    predict_candidates,
)
from shop_pipeline.ml.demand_forecast.data import (
    HISTORY_COLUMNS,
    SERVING_HISTORY_DAYS,
    Panel,
    PreparedOrigin,
    design_matrix,
    future_rows,
    prepare_origin,
)
from shop_pipeline.ml.demand_forecast.statistical import STAT_METHODS, forecast_methods

# what the forecast assumes about the coming days (sql/future_product_days.sql), shown in the UI
FUTURE_ASSUMPTIONS = (
    "price: median of each product's last 5 prices paid before the cut-off (its promotion taken off), x (1 - the "
    "planned discount in raw.promotions); ad spend: the plan in raw.ad_spend, else the category's mean daily spend "
    "over the last 28 days"
)


def forecast(
    fitted: FittedForecaster,
    history: pd.DataFrame,
    future: pd.DataFrame,
    as_of=None,
    horizon_days: int | None = None,
    candidate: str = "challenger",
) -> pd.DataFrame:
    """DataFrame(product_id, day, p10, p50, p90, expected) for the rows of `future` whose day is in
    (as_of, as_of + horizon_days]; other rows are ignored. `expected` = p50 x the candidate's level
    factor (FittedForecaster.level; 1 without one): the number to sum over products for totals. Origin features come from
    `history` on days <= as_of (default: the forecaster's as_of). `candidate` may name a
    baseline (a version may serve one when it forecast best); its interval is conformal like the
    challenger's (residuals from the same calibration origin), else (fallback mode) the Poisson 80%
    interval around its mean.

    `future` holds what is assumed about the forecast days (features.tables.future_product_days_frame:
    last price seen x planned promotion, planned or recent ad spend); a what-if is the same frame
    with other prices, promotions or ad spend."""
    horizon_days = fitted.horizon_days if horizon_days is None else horizon_days
    as_of = fitted.as_of if as_of is None else as_of
    return forecast_prepared(fitted, prepare_origin(history, as_of, horizon_days), future, candidate)


def forecast_prepared(
    fitted: FittedForecaster, origin: PreparedOrigin, future: pd.DataFrame, candidate: str = "challenger"
) -> pd.DataFrame:
    """`forecast` from an origin prepared once (prepare_origin): the same numbers, without
    building the history's panel again."""
    if candidate not in CANDIDATES:
        raise ValueError(f"unknown candidate {candidate!r}; one of {CANDIDATES}")
    fut = future_rows(future, origin.day, origin.horizon_days)
    if len(fut) == 0:
        columns = ["product_id", "day", "p10", "p50", "p90", "expected"]
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns}).astype(
            {"product_id": object, "day": "datetime64[ns]"}
        )
    out = forecast_rows(fitted, origin.panel, origin.day, fut, (candidate,), origin.season)[candidate]
    return out.sort_values(["product_id", "day"], kind="stable").reset_index(drop=True)


def forecast_rows(
    fitted: FittedForecaster,
    panel: Panel,
    origin: pd.Timestamp,
    fut: pd.DataFrame,
    candidates: tuple[str, ...],
    season: np.ndarray | None = None,
) -> dict[str, pd.DataFrame]:
    """candidate -> DataFrame(product_id, day, p10, p50, p90, expected) for the rows of `fut` (future_rows),
    from the origin `origin` of `panel`: the one path of the served forecast and of the backtest
    (`season`: PreparedOrigin.season)."""
    arrays, _segment = forecast_arrays(fitted, panel, origin, fut, candidates, season)
    return {
        candidate: pd.DataFrame({"product_id": fut["product_id"], "day": fut["day"], **arrays[candidate]})
        for candidate in candidates
    }


def segment_default(fitted: FittedForecaster) -> str:
    """What by_segment serves on a segment its choice does not name."""
    return fitted.segment_choice.get("*", "seasonal_naive" if fitted.fallback else "challenger")


def forecast_arrays(
    fitted: FittedForecaster,
    panel: Panel,
    origin: pd.Timestamp,
    fut: pd.DataFrame,
    candidates: tuple[str, ...],
    season: np.ndarray | None = None,
) -> tuple[dict[str, dict[str, np.ndarray]], np.ndarray]:
    """({candidate: {p10, p50, p90, expected}}, the demand segment of each row at the origin): forecast_rows'
    numbers. p10 / p50 / p90 are each product-day's quantiles as the candidate forecasts them; expected is
    p50 x the candidate's level factor (FittedForecaster.level, 1 when it has none): a sum of medians runs
    below the total on intermittent items, a sum of `expected` is calibrated to the units sold."""
    index = panel.index  # a dict of every product: looked up per row, not turned into a Series per call
    p = np.fromiter((index.get(product, -1) for product in fut["product_id"]), dtype=np.int64, count=len(fut))
    o = panel.day_index(origin)
    horizons = fut["horizon"].to_numpy()
    needed = set(candidates)
    if SEGMENTED in needed:
        needed |= {*fitted.segment_choice.values(), segment_default(fitted)} - {"*"}
    X = design_matrix(panel, p, np.full(len(fut), o), horizons, fut)
    configure_threads()
    predicted = predict_candidates(fitted, X, tuple(c for c in MODEL_CANDIDATES if c in needed))
    statistical, segment = forecast_methods(
        panel, p, o, horizons, tuple(c for c in STAT_METHODS if c in needed), season
    )
    # a product unknown at the origin: the seasonal-naive fallback (its 91-day mean, else 0), not 0
    for name, values in statistical.items():
        predicted[name] = {"p50": np.where(p >= 0, values, predicted["seasonal_naive"]["p50"])}
    out = {}
    for candidate in sorted(needed - {SEGMENTED}, key=CANDIDATES.index):
        pred = predicted[candidate]
        p50 = pred["p50"]
        if candidate == "challenger":
            p10, p90 = pred["p10"], pred["p90"]
        elif candidate in fitted.baseline_intervals and (not fitted.fallback or candidate in STAT_METHODS):
            p10, p90 = binned_interval(fitted.baseline_intervals[candidate], p50)
        else:
            lo, hi = poisson_interval(p50)
            p10, p90 = np.minimum(lo, p50), np.maximum(hi, p50)
        out[candidate] = {"p10": p10, "p50": p50, "p90": p90}
    if SEGMENTED in candidates:
        chosen = pd.Series(segment).map(fitted.segment_choice).fillna(segment_default(fitted)).to_numpy()
        out[SEGMENTED] = {
            q: np.select([chosen == c for c in out], [out[c][q] for c in out], default=np.nan)
            for q in ("p10", "p50", "p90")
        }
    # the level calibration touches `expected` only: p50 stays each product-day's median forecast
    for candidate in out:
        out[candidate]["expected"] = out[candidate]["p50"] * fitted.level.get(candidate, 1.0)
    return out, segment


def score_table(
    con: duckdb.DuckDBPyConnection,
    fitted: FittedForecaster,
    row: registry.RegistryRow,
    as_of: dt.date,
    settings: ModelSettings,
) -> pd.DataFrame:
    """The rows of scoring.demand_forecasts: every product's p10 / p50 / p90 and expected for the next
    forecast_horizon_days after as_of, by the candidate version `row` serves."""
    horizon = settings.forecast_horizon_days
    history = read_product_daily_sales(con, as_of, as_of - dt.timedelta(days=SERVING_HISTORY_DAYS), HISTORY_COLUMNS)
    future = future_product_days_frame(con, as_of, horizon)
    forecasts = forecast(
        fitted, history, future, as_of=as_of, horizon_days=horizon, candidate=serving_candidate(row, "challenger")
    )
    return forecasts.assign(model_version=row.version, as_of=as_of)


def describe_scores(
    forecasts: pd.DataFrame, row: registry.RegistryRow, validated: bool, settings: ModelSettings
) -> Shown:
    daily = forecasts.groupby("day")[["p10", "p50", "p90", "expected"]].sum().reset_index().round(1)
    return Shown(
        values={
            "serving_candidate": serving_candidate(row, "challenger"),
            "future_assumptions": FUTURE_ASSUMPTIONS,
            "units_next_days_p50": float(forecasts["p50"].sum()),
            "units_next_days_expected": float(forecasts["expected"].sum()),
        },
        markdown={"daily_totals": markdown_table(daily)},
    )
