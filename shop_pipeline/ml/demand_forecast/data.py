"""Demand-forecast inputs: the product x day panel of a history, the feature rows of
(product, origin day, horizon) and the future frames (pure numpy / pandas).

Framing (direct multi-horizon): one example is (product p, origin day o, horizon h), its target
p's units on day o + h. Its features are what is known at the end of day o, with the feature
table's definitions (lags, 7 / 28 / 91-day rolling means, views and carts, days of history, the
seasonal-naive value and the mean of the last four same weekdays), and what is known in advance
about day o + h: horizon, weekday and weekend flag (from the date itself), shown and list price,
promotion, discount against the 28-day reference price at the origin, ad spend and its ratio to
the 28-day mean, category. Day of year and month are left out: 90 days cannot learn them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shop_pipeline.features.tables import FUTURE_PRODUCT_DAYS
from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.common.splits import as_date

REQUIRED_HISTORY = (
    "product_id",
    "day",
    "category",
    "units",
    "shown_price",
    "list_price",
    "promo_discount_pct",
    "is_promo",
    "ad_spend",
)
OPTIONAL_HISTORY = ("brand", "views", "carts")
HISTORY_COLUMNS = (*REQUIRED_HISTORY, *OPTIONAL_HISTORY)  # all a forecast reads of the history
FUTURE_COLUMNS = FUTURE_PRODUCT_DAYS  # the columns of features.tables' future frame
# what the model needs of the target day (the rest of FUTURE_COLUMNS is accepted, unused)
_TARGET_KNOWN = ("shown_price", "list_price", "promo_discount_pct", "is_promo", "ad_spend")
# history_days counts at most the longest window a feature reads: serving reads a trimmed
# history (120 days), training the whole one, and both must see the same value
HISTORY_DAYS_CAP = 91
SERVING_HISTORY_DAYS = 120  # the history a served forecast reads: every window of the features, and more


@dataclass
class Panel:
    """Dense product x day matrices of one history frame (NaN where a product has no row)."""

    products: np.ndarray  # (P,) product ids
    index: dict  # product id -> row
    category: np.ndarray  # (P,) last known category
    day0: pd.Timestamp
    n_days: int
    m: dict  # name -> (P, D) float matrix
    cum: dict  # name -> ((P, D + 1) cumulative sum with NaN as 0, (P, D + 1) cumulative count)

    def day_index(self, day) -> int:
        return int((pd.Timestamp(day) - self.day0).days)

    def day_at(self, idx) -> pd.DatetimeIndex:
        return self.day0 + pd.to_timedelta(np.asarray(idx), unit="D")


def normalise_days(values) -> pd.Series:
    days = pd.to_datetime(pd.Series(values), errors="raise")
    if getattr(days.dt, "tz", None) is not None:
        days = days.dt.tz_convert(None)
    return days.dt.normalize()


def check_history(history: pd.DataFrame) -> pd.DataFrame:
    if history is None or len(history) == 0:
        raise NotEnoughData("demand forecast: the history is empty (no product-day rows before the cut-off)")
    missing = [c for c in REQUIRED_HISTORY if c not in history.columns]
    if missing:
        raise ValueError(f"demand forecast: history lacks columns {missing}")
    h = history.loc[:, [c for c in (*REQUIRED_HISTORY, *OPTIONAL_HISTORY) if c in history.columns]].copy()
    h["day"] = normalise_days(h["day"]).to_numpy()
    h["product_id"] = h["product_id"].astype(str)
    h["category"] = h["category"].fillna("unknown").astype(str)
    return h


def history_until(history: pd.DataFrame, as_of, horizon_days: int) -> tuple[pd.DataFrame, pd.Timestamp]:
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1 (got {horizon_days})")
    h = check_history(history)
    if as_of is None:
        origin = h["day"].max()
    else:
        origin = pd.Timestamp(as_date(as_of))
        if h["day"].max() > origin:  # (filtering copies every column)
            h = h[h["day"] <= origin]
        if len(h) == 0:
            raise NotEnoughData(f"demand forecast: no history on or before as_of={origin.date()}")
    return h, origin


@dataclass(frozen=True)
class DayRange:
    """The days a panel spans, first to last inclusive. A product's features at an origin read only
    its own rows and the range (a window or lag outside it is NaN), so a panel of some products built
    with the range of every product's panel gives those products the same features."""

    first: pd.Timestamp
    last: pd.Timestamp

    @classmethod
    def of(cls, history: pd.DataFrame) -> DayRange:
        """The range of a history's rows (`day` normalised, as check_history leaves it)."""
        days = pd.to_datetime(history["day"])
        return cls(pd.Timestamp(days.min()), pd.Timestamp(days.max()))

    @property
    def n_days(self) -> int:
        return int((self.last - self.first).days) + 1


def build_panel(history: pd.DataFrame, days: DayRange | None = None) -> Panel:
    """The panel of `history` (checked) over `days` (None: the rows' own range, DayRange.of).
    ValueError when a row lies outside `days`; a history without rows gives a panel without products."""
    h = history.sort_values(["product_id", "day"], kind="stable")
    days = DayRange.of(h) if days is None else days
    if len(h) and (h["day"].min() < days.first or h["day"].max() > days.last):
        raise ValueError(
            f"demand forecast: history rows from {h['day'].min().date()} to {h['day'].max().date()} lie outside "
            f"the panel's days {days.first.date()}..{days.last.date()}"
        )
    # the sorted distinct ids and each row's position among them (np.unique's answer, hashed: 10x faster)
    p_idx, uniques = pd.factorize(h["product_id"], sort=True)
    products = np.asarray(uniques, dtype=object)
    day0 = days.first
    d_idx = ((h["day"] - day0).dt.days).to_numpy()
    n_days = days.n_days
    m = {}
    for name in ("units", "views", "carts", *_TARGET_KNOWN):
        mat = np.full((len(products), n_days), np.nan)
        if name in h.columns:
            mat[p_idx, d_idx] = pd.to_numeric(h[name], errors="coerce").astype(float).to_numpy()
        m[name] = mat
    m["units"] = np.where(np.isnan(m["units"]), np.nan, np.maximum(m["units"], 0.0))
    present = np.zeros((len(products), n_days), dtype=bool)
    present[p_idx, d_idx] = True
    # rows that exist but whose units are NULL count as 0 sold (the grid is complete)
    m["units"] = np.where(present & np.isnan(m["units"]), 0.0, m["units"])
    cum = {}
    for name in ("units", "views", "carts", "shown_price", "ad_spend"):
        mat = m[name]
        ok = ~np.isnan(mat)
        s = np.zeros((len(products), n_days + 1))
        c = np.zeros((len(products), n_days + 1))
        np.cumsum(np.where(ok, mat, 0.0), axis=1, out=s[:, 1:])
        np.cumsum(ok, axis=1, out=c[:, 1:])
        cum[name] = (s, c)
    last_cat = h.groupby("product_id", sort=True)["category"].last()
    return Panel(
        products=products,
        index={p: i for i, p in enumerate(products)},
        category=last_cat.reindex(products).to_numpy(dtype=object),
        day0=day0,
        n_days=n_days,
        m=m,
        cum=cum,
    )


def values_at(panel: Panel, name: str, product_rows: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Panel values of `name` at (product row, day index) pairs; NaN outside the panel (row -1)."""
    ok = (product_rows >= 0) & (days >= 0) & (days < panel.n_days)
    out = np.full(len(product_rows), np.nan)
    out[ok] = panel.m[name][product_rows[ok], days[ok]]
    return out


def window_mean(panel: Panel, name: str, product_rows: np.ndarray, origins: np.ndarray, width: int) -> np.ndarray:
    """Mean of the non-missing values over the days (origin - width, origin] of each product row."""
    s, c = panel.cum[name]
    ok = (product_rows >= 0) & (origins >= 0) & (origins < panel.n_days)
    out = np.full(len(product_rows), np.nan)
    pp, hi = product_rows[ok], origins[ok] + 1
    lo = np.maximum(hi - width, 0)
    total, count = s[pp, hi] - s[pp, lo], c[pp, hi] - c[pp, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[ok] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def design_matrix(
    panel: Panel, product_rows: np.ndarray, origins: np.ndarray, horizons: np.ndarray, target_days: pd.DataFrame
) -> pd.DataFrame:
    """Feature rows for (product row in the panel or -1, origin day index, horizon) and the target
    day's known-in-advance columns (`target_days`: category, day, shown_price, list_price, ...)."""
    p = np.asarray(product_rows, dtype=np.int64)
    o = np.asarray(origins, dtype=np.int64)
    h = np.asarray(horizons, dtype=np.int64)
    # the columns are gathered first and framed once (a column added to a frame costs more than
    # computing it when one product's 14 days are asked for online)
    X: dict[str, np.ndarray] = {"category": target_days["category"].astype(str).to_numpy(dtype=object)}
    X["horizon"] = h.astype(float)
    day = pd.DatetimeIndex(target_days["day"])
    X["day_of_week"] = day.dayofweek.to_numpy(dtype=float)  # 0 = Monday
    X["is_weekend"] = (day.dayofweek >= 5).astype(float)
    X["units_lag_1"] = values_at(panel, "units", p, o)
    X["units_lag_7"] = values_at(panel, "units", p, o - 6)
    X["units_lag_14"] = values_at(panel, "units", p, o - 13)
    X["units_rolling_mean_7"] = window_mean(panel, "units", p, o, 7)
    X["units_rolling_mean_28"] = window_mean(panel, "units", p, o, 28)
    X["units_rolling_mean_91"] = window_mean(panel, "units", p, o, 91)
    X["views_rolling_mean_7"] = window_mean(panel, "views", p, o, 7)
    X["carts_rolling_mean_7"] = window_mean(panel, "carts", p, o, 7)
    _s, c = panel.cum["units"]
    hist = np.zeros(len(p))
    ok = (p >= 0) & (o >= 0)
    hist[ok] = c[p[ok], np.minimum(o[ok], panel.n_days - 1) + 1]
    X["history_days"] = np.minimum(hist, HISTORY_DAYS_CAP)
    sn_day = o + h - 7 * np.ceil(h / 7).astype(np.int64)
    same = np.column_stack([values_at(panel, "units", p, sn_day - 7 * k) for k in range(4)])
    X["same_weekday_mean_4w"] = _nanmean_rows(same)
    sn = same[:, 0]
    sn = np.where(np.isnan(sn), X["units_rolling_mean_91"], sn)
    X["seasonal_naive"] = np.where(np.isnan(sn), 0.0, sn)
    shown = pd.to_numeric(target_days["shown_price"], errors="coerce").to_numpy(dtype=float)
    listp = pd.to_numeric(target_days["list_price"], errors="coerce").to_numpy(dtype=float)
    ref = window_mean(panel, "shown_price", p, o, 28)
    with np.errstate(invalid="ignore", divide="ignore"):
        X["shown_price"] = shown
        X["price_vs_list"] = np.where(listp > 0, shown / listp, 1.0)
        X["discount_vs_ref"] = np.where(ref > 0, 1.0 - shown / ref, 0.0)
        X["is_promo"] = pd.to_numeric(target_days["is_promo"], errors="coerce").astype(float).to_numpy()
        X["promo_discount_pct"] = (
            pd.to_numeric(target_days["promo_discount_pct"], errors="coerce").astype(float).to_numpy()
        )
        ad = pd.to_numeric(target_days["ad_spend"], errors="coerce").to_numpy(dtype=float)
        ad_ref = window_mean(panel, "ad_spend", p, o, 28)
        X["ad_spend"] = ad
        X["ad_spend_ratio"] = np.where(ad_ref > 0, ad / ad_ref, np.nan)
    return pd.DataFrame(X)


def _nanmean_rows(a: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(a)
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(ok, a, 0).sum(axis=1) / np.maximum(n, 1), np.nan)


def known_target_days(panel: Panel, product_rows: np.ndarray, days: np.ndarray) -> pd.DataFrame:
    """The known-in-advance columns (design_matrix's `target_days`) of days already in the panel."""
    frame = pd.DataFrame({"category": panel.category[product_rows], "day": panel.day_at(days)})
    for name in _TARGET_KNOWN:
        frame[name] = panel.m[name][product_rows, days]
    return frame


@dataclass(frozen=True)
class PreparedOrigin:
    """The history's panel at a cut-off: built once, it answers many forecasts (the online API
    builds it when a snapshot loads, and answers each request from it)."""

    panel: Panel
    day: pd.Timestamp  # the origin (the cut-off day)
    horizon_days: int
    # the shop's weekday index at the origin (statistical.weekday_index of every product's panel), when
    # the panel holds only some products (a block scored on a cluster); None: computed from the panel
    season: np.ndarray | None = None


def prepare_origin(
    history: pd.DataFrame, as_of, horizon_days: int, days: DayRange | None = None, season: np.ndarray | None = None
) -> PreparedOrigin:
    """The origin `as_of` of `history` (rows on days <= as_of count) for forecasts up to horizon_days ahead.

    `days` and `season` (a block of products: ml/demand_forecast/blocks.py) are what the panel of every
    product would give: its day range and the shop's weekday index at the origin; None: this history's
    own (then the history must not be empty)."""
    if days is not None and len(history) == 0:
        h, origin = check_history_columns(history), pd.Timestamp(as_date(as_of))
    else:
        h, origin = history_until(history, as_of, horizon_days)
    panel = build_panel(h, DayRange.of(h) if days is None else days)
    return PreparedOrigin(panel=panel, day=origin, horizon_days=horizon_days, season=season)


def check_history_columns(history: pd.DataFrame) -> pd.DataFrame:
    """An empty history with the columns check_history gives (a block of products none of which has rows)."""
    missing = [c for c in REQUIRED_HISTORY if c not in history.columns]
    if missing:
        raise ValueError(f"demand forecast: history lacks columns {missing}")
    h = history.loc[:, [c for c in HISTORY_COLUMNS if c in history.columns]].copy()
    h["day"] = pd.Series(pd.to_datetime(h["day"]), dtype="datetime64[ns]")
    h["product_id"] = h["product_id"].astype(str)
    h["category"] = h["category"].astype(str)
    return h


def future_rows(future: pd.DataFrame, origin: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    """The rows of `future` in (origin, origin + horizon_days], normalised, with their horizon."""
    missing = [c for c in ("product_id", "day", "category", *_TARGET_KNOWN) if c not in future.columns]
    if missing:
        raise ValueError(f"demand forecast: future lacks columns {missing}")
    fut = future.copy()
    fut["day"] = normalise_days(fut["day"]).to_numpy()
    fut["product_id"] = fut["product_id"].astype(str)
    fut["category"] = fut["category"].fillna("unknown").astype(str)
    fut["horizon"] = (fut["day"] - origin).dt.days
    return fut[(fut["horizon"] >= 1) & (fut["horizon"] <= horizon_days)].reset_index(drop=True)


FutureAt = Callable[[dt.date], pd.DataFrame]


def recorded_future(history: pd.DataFrame) -> FutureAt:
    """origin -> the history's own rows after the origin as the future frame: the realised prices,
    promotions and ad spend, which a served forecast never has. Only for histories without a
    warehouse (synthetic tests of the model itself); the pipeline and the benchmarks backtest with
    features.tables.future_frames_as_known_at, the frames serving builds."""
    h = check_history(history)

    def at_origin(origin: dt.date) -> pd.DataFrame:
        # the products of the origin's grid, as in the future frame
        day = pd.Timestamp(origin)
        known = h.loc[h["day"] == day, "product_id"]
        return h[(h["day"] > day) & h["product_id"].isin(known)]

    return at_origin
