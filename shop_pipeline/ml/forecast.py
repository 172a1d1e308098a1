"""Demand forecast: seasonal-naive and linear baselines, a gradient-boosting challenger with
an 80% interval, a rolling-origin backtest and the 14-day batch forecast (pure, no Dagster).

Framing (direct multi-horizon). One training example is (product p, origin day o, horizon h):
the target is p's units on day o + h; the features are

* the product's state *known at the end of the origin day* o, computed from `units` with the
  same definitions the feature table uses for the day after the origin (so at o + 1):
  units_lag_1 = units(o), units_lag_7 = units(o - 6), units_lag_14 = units(o - 13),
  units_rolling_mean_7 / _28 / _91 = mean units over the 7 / 28 / 91 days ending on o,
  views / carts rolling means over 7 days, days of history (counted up to 91), the seasonal-naive value for the
  target day and the mean of the last four same weekdays before the origin;
* what is known in advance about the target day o + h: horizon h, calendar (weekday and
  weekend flag, derived from the date itself so the SQL's weekday convention does not matter;
  day of year and month are left out: a 90-day history cannot learn them and a tree would
  only turn them into a time trend), shown price, list price, promotion flag and discount,
  discount vs the 28-day reference price *at the origin* (1 - shown_price / mean shown price
  over the 28 days ending on o, computed the same way in training and in the forecast, where
  the table's own discount_vs_ref of a future day is unknown), price vs list price, the
  category's ad spend and its ratio to the category's 28-day mean at the origin, category.

Training examples are limited for speed and bounded memory: origins every
`origin_step_days` over the `lookback_days` before the training end, every product that
has a row on the origin and the target day, then a seeded uniform sample of at most
`max_train_rows` (5000 products x 90 days trains in seconds on 2 cores).

Candidates:

* ``seasonal_naive``: the units on the last same weekday observed on or before the origin
  (t - 7 for h <= 7, t - 14 for h <= 14, ...). Fallback when that day has no row (a new
  product): the product's mean over the 91 days ending on the origin, else 0.
* ``linear`` (the product brief's): Pipeline(ColumnTransformer(imputed + scaled shown_price,
  is_promo, promo_discount_pct, ad_spend, units_rolling_mean_7 at the origin; one-hot
  weekday) -> Ridge(alpha=1)); negative predictions clipped to 0.
* ``challenger``: a HistGradientBoostingRegressor (squared error) Pipeline (category
  ordinal-encoded and used as a native categorical feature) fitted on log1p(units) inside a
  TransformedTargetRegressor, so p50 = expm1(E[log1p(units) | features]). On intermittent
  daily counts this centre lies between the median (which minimises absolute error, hence
  WAPE, and is 0 for most slow movers) and the mean (which a plain squared-error or Poisson
  fit chases, and which is dominated by the few fast movers: on the 1M-event sample shop a
  squared-error fit is 11% below seasonal-naive by WAPE, the log1p fit 25%). Quantile-loss
  HGB models were tried first and dropped: on 96%-zero targets they collapse to 0 for every
  row, even at q = 0.9.
  80% interval: split-conformal residuals by predicted level ("Mondrian" bins). The model is
  first fitted on examples whose target day is on or before a calibration origin
  (train_end - horizon); its log1p residuals on every product x horizon from that origin
  are grouped into up to ``interval_bins`` bins of the predicted level, and each bin keeps
  its 10% and 90% residual quantiles. The final model is then refitted on all examples, and
  p10 / p90 = expm1(log1p(p50) + q10 / q90 of the row's bin). With too little history for a
  calibration origin, in-sample residuals are used (narrower intervals; documented in
  ``FittedForecaster.interval_method``). The backtest measures the coverage.
  p10 <= p50 <= p90 and all >= 0 by construction. The baselines get their interval the same
  way (their own residuals from the same calibration origin), so a version that serves a
  baseline still has a measured 80% interval.

Backtest = serving. Each rolling-origin fold fits on the history up to its origin and forecasts
the future frame serving would have built on that origin (``future_at``: in the pipeline
features.tables.future_frames_as_known_at, the frame of sql/future_product_days.sql: the last
price paid x the planned promotion, planned or recent ad spend), through the same function as
the served forecast. Whatever the future frame assumes, the backtest metric that picks the
served candidate has seen it: a price assumption that hurts shows up there, not only in
production.

Fallbacks (bad input), never NaN in an output, never a crash inside scikit-learn:

* empty history, or no backtest fold that fits it: NotEnoughData (a ValueError) with one line a
  person reads; missing columns, a non-positive horizon: ValueError with a clear message;
* too little history to build ``MIN_TRAIN_ROWS`` training examples, or no unit sold in the
  training window: the fitted forecaster is in ``fallback`` mode: p50 = the seasonal-naive
  value (itself falling back to the product's mean, else 0) for challenger and linear alike,
  p10 / p90 = the 10% / 90% quantiles of a Poisson distribution with mean p50;
* a product with one day of history: its lags are missing (NaN, handled natively by the
  gradient-boosting model and imputed for the linear model), its seasonal-naive value is
  that day's units;
* a product in `future` without history: all origin features missing (the model predicts
  from price, promotion, calendar and category); seasonal-naive gives 0;
* a horizon longer than the history: training uses the horizons that fit in the history;
  longer horizons are predicted with the model (trees are constant beyond the largest
  horizon they saw).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from shop_pipeline.ml.common import metrics as M
from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.common.splits import Fold, as_date
from shop_pipeline.ml.common.threads import configure as configure_threads

CANDIDATES = ("seasonal_naive", "linear", "challenger")
BASELINES = ("seasonal_naive", "linear")

REQUIRED_HISTORY = (
    "product_id", "day", "category", "units", "shown_price", "list_price",
    "promo_discount_pct", "is_promo", "ad_spend",
)
OPTIONAL_HISTORY = ("brand", "views", "carts")
HISTORY_COLUMNS = (*REQUIRED_HISTORY, *OPTIONAL_HISTORY)  # all a forecast reads of the history
FUTURE_COLUMNS = (
    "product_id", "day", "category", "brand", "list_price", "promo_discount_pct", "is_promo",
    "shown_price", "day_of_week", "day_of_year", "month", "is_weekend", "ad_spend",
)
# what the model needs of the target day (the rest of FUTURE_COLUMNS is accepted, unused)
_TARGET_KNOWN = ("shown_price", "list_price", "promo_discount_pct", "is_promo", "ad_spend")

LINEAR_NUMERIC = ("shown_price", "is_promo", "promo_discount_pct", "ad_spend", "units_rolling_mean_7")
LINEAR_CATEGORICAL = ("day_of_week",)
CHALLENGER_CATEGORICAL = ("category",)
CHALLENGER_NUMERIC = (
    "horizon", "day_of_week", "is_weekend",
    "units_lag_1", "units_lag_7", "units_lag_14",
    "units_rolling_mean_7", "units_rolling_mean_28", "units_rolling_mean_91",
    "views_rolling_mean_7", "carts_rolling_mean_7", "history_days",
    "seasonal_naive", "same_weekday_mean_4w",
    "shown_price", "price_vs_list", "discount_vs_ref", "is_promo", "promo_discount_pct",
    "ad_spend", "ad_spend_ratio",
)
MIN_TRAIN_ROWS = 30
# history_days counts at most the longest window a feature reads: serving reads a trimmed
# history (120 days), training the whole one, and both must see the same value
HISTORY_DAYS_CAP = 91
SERVING_HISTORY_DAYS = 120  # the history a served forecast reads: every window of the features, and more
INTERVAL = (0.1, 0.9)


@dataclass(frozen=True)
class ForecastConfig:
    lookback_days: int = 56
    origin_step_days: int = 2
    max_train_rows: int = 150_000
    max_iter: int = 150
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 50
    l2_regularization: float = 1.0
    ridge_alpha: float = 1.0
    interval_bins: int = 10
    max_calibration_rows: int = 60_000


DEFAULT_CONFIG = ForecastConfig()


# ------------------------------------------------------------------------------ panel
@dataclass
class _Panel:
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


def _normalise_days(values) -> pd.Series:
    days = pd.to_datetime(pd.Series(values), errors="raise")
    if getattr(days.dt, "tz", None) is not None:
        days = days.dt.tz_convert(None)
    return days.dt.normalize()


def _check_history(history: pd.DataFrame) -> pd.DataFrame:
    if history is None or len(history) == 0:
        raise NotEnoughData("demand forecast: the history is empty (no product-day rows before the cut-off)")
    missing = [c for c in REQUIRED_HISTORY if c not in history.columns]
    if missing:
        raise ValueError(f"demand forecast: history lacks columns {missing}")
    h = history.loc[:, [c for c in (*REQUIRED_HISTORY, *OPTIONAL_HISTORY) if c in history.columns]].copy()
    h["day"] = _normalise_days(h["day"]).to_numpy()
    h["product_id"] = h["product_id"].astype(str)
    h["category"] = h["category"].fillna("unknown").astype(str)
    return h


def _build_panel(history: pd.DataFrame) -> _Panel:
    h = history.sort_values(["product_id", "day"], kind="stable")
    # the sorted distinct ids and each row's position among them (np.unique's answer, hashed: 10x faster)
    p_idx, uniques = pd.factorize(h["product_id"], sort=True)
    products = np.asarray(uniques, dtype=object)
    day0 = h["day"].min()
    d_idx = ((h["day"] - day0).dt.days).to_numpy()
    n_days = int(d_idx.max()) + 1
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
    return _Panel(
        products=products,
        index={p: i for i, p in enumerate(products)},
        category=last_cat.reindex(products).to_numpy(dtype=object),
        day0=day0,
        n_days=n_days,
        m=m,
        cum=cum,
    )


def _at(panel: _Panel, name: str, p: np.ndarray, d: np.ndarray) -> np.ndarray:
    ok = (p >= 0) & (d >= 0) & (d < panel.n_days)
    out = np.full(len(p), np.nan)
    out[ok] = panel.m[name][p[ok], d[ok]]
    return out


def _window_mean(panel: _Panel, name: str, p: np.ndarray, o: np.ndarray, width: int) -> np.ndarray:
    """Mean of the non-missing values over days (o - width, o]."""
    s, c = panel.cum[name]
    ok = (p >= 0) & (o >= 0) & (o < panel.n_days)
    out = np.full(len(p), np.nan)
    pp, hi = p[ok], o[ok] + 1
    lo = np.maximum(hi - width, 0)
    total, count = s[pp, hi] - s[pp, lo], c[pp, hi] - c[pp, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[ok] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def _design(panel: _Panel, p: np.ndarray, o: np.ndarray, h: np.ndarray, target: pd.DataFrame) -> pd.DataFrame:
    """Feature rows for (product row p or -1, origin index o, horizon h) and the target day's
    known-in-advance columns (`target`: category, day, shown_price, list_price, ...)."""
    p = np.asarray(p, dtype=np.int64)
    o = np.asarray(o, dtype=np.int64)
    h = np.asarray(h, dtype=np.int64)
    # the columns are gathered first and framed once (a column added to a frame costs more than
    # computing it when one product's 14 days are asked for online)
    X: dict[str, np.ndarray] = {"category": target["category"].astype(str).to_numpy(dtype=object)}
    X["horizon"] = h.astype(float)
    day = pd.DatetimeIndex(target["day"])
    X["day_of_week"] = day.dayofweek.to_numpy(dtype=float)  # 0 = Monday
    X["is_weekend"] = (day.dayofweek >= 5).astype(float)
    X["units_lag_1"] = _at(panel, "units", p, o)
    X["units_lag_7"] = _at(panel, "units", p, o - 6)
    X["units_lag_14"] = _at(panel, "units", p, o - 13)
    X["units_rolling_mean_7"] = _window_mean(panel, "units", p, o, 7)
    X["units_rolling_mean_28"] = _window_mean(panel, "units", p, o, 28)
    X["units_rolling_mean_91"] = _window_mean(panel, "units", p, o, 91)
    X["views_rolling_mean_7"] = _window_mean(panel, "views", p, o, 7)
    X["carts_rolling_mean_7"] = _window_mean(panel, "carts", p, o, 7)
    s, c = panel.cum["units"]
    hist = np.zeros(len(p))
    ok = (p >= 0) & (o >= 0)
    hist[ok] = c[p[ok], np.minimum(o[ok], panel.n_days - 1) + 1]
    X["history_days"] = np.minimum(hist, HISTORY_DAYS_CAP)
    sn_day = o + h - 7 * np.ceil(h / 7).astype(np.int64)
    same = np.column_stack([_at(panel, "units", p, sn_day - 7 * k) for k in range(4)])
    X["same_weekday_mean_4w"] = _nanmean_rows(same)
    sn = same[:, 0]
    sn = np.where(np.isnan(sn), X["units_rolling_mean_91"], sn)
    X["seasonal_naive"] = np.where(np.isnan(sn), 0.0, sn)
    shown = pd.to_numeric(target["shown_price"], errors="coerce").to_numpy(dtype=float)
    listp = pd.to_numeric(target["list_price"], errors="coerce").to_numpy(dtype=float)
    ref = _window_mean(panel, "shown_price", p, o, 28)
    with np.errstate(invalid="ignore", divide="ignore"):
        X["shown_price"] = shown
        X["price_vs_list"] = np.where(listp > 0, shown / listp, 1.0)
        X["discount_vs_ref"] = np.where(ref > 0, 1.0 - shown / ref, 0.0)
        X["is_promo"] = pd.to_numeric(target["is_promo"], errors="coerce").astype(float).to_numpy()
        X["promo_discount_pct"] = pd.to_numeric(target["promo_discount_pct"], errors="coerce").astype(float).to_numpy()
        ad = pd.to_numeric(target["ad_spend"], errors="coerce").to_numpy(dtype=float)
        ad_ref = _window_mean(panel, "ad_spend", p, o, 28)
        X["ad_spend"] = ad
        X["ad_spend_ratio"] = np.where(ad_ref > 0, ad / ad_ref, np.nan)
    return pd.DataFrame(X)


def _nanmean_rows(a: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(a)
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(ok, a, 0).sum(axis=1) / np.maximum(n, 1), np.nan)


def _panel_target(panel: _Panel, p: np.ndarray, t: np.ndarray) -> pd.DataFrame:
    """The known-in-advance columns of days already in the panel."""
    frame = pd.DataFrame({"category": panel.category[p], "day": panel.day_at(t)})
    for name in _TARGET_KNOWN:
        frame[name] = panel.m[name][p, t]
    return frame


# ----------------------------------------------------------------------------- models
def _linear_pipeline(cfg: ForecastConfig) -> Pipeline:
    pre = ColumnTransformer(
        [
            ("num", Pipeline([
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
            ]), list(LINEAR_NUMERIC)),
            ("weekday", OneHotEncoder(handle_unknown="ignore"), list(LINEAR_CATEGORICAL)),
        ]
    )
    return Pipeline([("features", pre), ("model", Ridge(alpha=cfg.ridge_alpha))])


def _hgb_pipeline(cfg: ForecastConfig, seed: int) -> TransformedTargetRegressor:
    pre = ColumnTransformer(
        [
            ("cat", OrdinalEncoder(
                handle_unknown="use_encoded_value", unknown_value=np.nan,
                encoded_missing_value=np.nan, max_categories=250,
            ), list(CHALLENGER_CATEGORICAL)),
            ("num", "passthrough", list(CHALLENGER_NUMERIC)),
        ]
    )
    model = HistGradientBoostingRegressor(
        loss="squared_error",
        max_iter=cfg.max_iter,
        learning_rate=cfg.learning_rate,
        max_leaf_nodes=cfg.max_leaf_nodes,
        min_samples_leaf=cfg.min_samples_leaf,
        l2_regularization=cfg.l2_regularization,
        categorical_features=[0],
        early_stopping=False,
        random_state=seed,
    )
    return TransformedTargetRegressor(
        regressor=Pipeline([("features", pre), ("model", model)]),
        func=np.log1p, inverse_func=np.expm1, check_inverse=False,
    )


@dataclass
class FittedForecaster:
    """What `fit_forecaster` returns: plain scikit-learn Pipelines plus the settings needed
    to rebuild the features. `pipelines` is empty in fallback mode."""

    as_of: dt.date
    horizon_days: int
    seed: int
    pipelines: dict[str, object]  # linear (Pipeline), challenger (TransformedTargetRegressor)
    fallback: bool
    fallback_reason: str | None
    training_rows: int
    training_window: tuple[dt.date, dt.date]
    fit_seconds: dict[str, float] = field(default_factory=dict)
    config: ForecastConfig = DEFAULT_CONFIG
    # conformal interval: bin edges on log1p(p50) and per-bin 10% / 90% log1p residual quantiles
    interval_edges: np.ndarray = field(default_factory=lambda: np.zeros(0))
    interval_lo: np.ndarray = field(default_factory=lambda: np.zeros(1))
    interval_hi: np.ndarray = field(default_factory=lambda: np.zeros(1))
    interval_method: str = "none"
    calibration_rows: int = 0
    # the baselines' intervals, conformal the same way (same origin, same bins): candidate -> (edges,
    # lo, hi); without one (fallback mode, an artifact saved before they existed) the Poisson interval
    baseline_intervals: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def features(self) -> dict[str, list[str]]:
        return {
            "linear": [*LINEAR_NUMERIC, *LINEAR_CATEGORICAL],
            "challenger": [*CHALLENGER_CATEGORICAL, *CHALLENGER_NUMERIC],
        }


def _training_triples(panel: _Panel, train_end: int, horizon: int, cfg: ForecastConfig, seed: int):
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


def _fit_on_panel(panel: _Panel, train_end: int, horizon: int, seed: int, cfg: ForecastConfig) -> FittedForecaster:
    configure_threads()  # the boosted trees run on OpenMP threads
    triples = _training_triples(panel, train_end, horizon, cfg, seed)
    p, o, h = triples[:, 0], triples[:, 1], triples[:, 2]
    y = panel.m["units"][p, o + h] if len(triples) else np.zeros(0)
    window = (panel.day_at([0])[0].date(), panel.day_at([train_end])[0].date())
    fitted = FittedForecaster(
        as_of=window[1], horizon_days=horizon, seed=seed, pipelines={}, fallback=False,
        fallback_reason=None, training_rows=len(y), training_window=window, config=cfg,
    )
    if len(y) < MIN_TRAIN_ROWS:
        fitted.fallback, fitted.fallback_reason = True, (
            f"only {len(y)} training examples (< {MIN_TRAIN_ROWS}): history too short for a model"
        )
        return fitted
    if y.sum() <= 0:
        fitted.fallback, fitted.fallback_reason = True, "no unit sold in the training window"
        return fitted
    X = _design(panel, p, o, h, _panel_target(panel, p, o + h))
    start = time.perf_counter()
    fitted.pipelines["linear"] = _linear_pipeline(cfg).fit(X, y)
    fitted.fit_seconds["linear"] = time.perf_counter() - start
    start = time.perf_counter()
    _calibrate(fitted, panel, train_end, horizon, seed, cfg, X, y, p, o, h)
    fitted.pipelines["challenger"] = _fit_hgb(cfg, seed, X, y)
    if fitted.interval_method == "in-sample residuals":
        _set_intervals(fitted, fitted.pipelines["challenger"], fitted.pipelines["linear"], X, np.log1p(y), cfg)
    fitted.fit_seconds["challenger"] = time.perf_counter() - start
    return fitted


def _fit_hgb(cfg: ForecastConfig, seed: int, X: pd.DataFrame, y: np.ndarray) -> TransformedTargetRegressor:
    """Fit the challenger; a feature missing on every training row (e.g. lag 14 in a short
    history) is set to 0 for the fit, which the binner needs and the trees then ignore."""
    empty = [c for c in CHALLENGER_NUMERIC if X[c].isna().all()]
    if empty:
        X = X.assign(**{c: 0.0 for c in empty})
    return _hgb_pipeline(cfg, seed).fit(X, y)


def _residual_bins(f: np.ndarray, z: np.ndarray, cfg: ForecastConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(edges, lo, hi): per-bin 10% / 90% quantiles of the residuals z - f, bins = quantiles of f."""
    r = z - f
    edges = np.unique(np.quantile(f, np.linspace(0, 1, cfg.interval_bins + 1)[1:-1]))
    b = np.searchsorted(edges, f, side="right")
    lo, hi = np.zeros(len(edges) + 1), np.zeros(len(edges) + 1)
    for k in range(len(edges) + 1):
        rk = r[b == k] if (b == k).any() else r
        lo[k], hi[k] = np.quantile(rk, INTERVAL[0]), np.quantile(rk, INTERVAL[1])
    return edges, np.minimum(lo, 0), np.maximum(hi, 0)


def _set_intervals(fitted: FittedForecaster, challenger, linear, X: pd.DataFrame, z: np.ndarray,
                   cfg: ForecastConfig) -> None:
    """The challenger's and the baselines' residual bins of their forecasts of X against z = log1p(units)."""
    fitted.interval_edges, fitted.interval_lo, fitted.interval_hi = _residual_bins(
        np.log1p(challenger.predict(X).clip(0)), z, cfg)
    fitted.baseline_intervals = {
        "linear": _residual_bins(np.log1p(_clean(linear.predict(X))), z, cfg),
        "seasonal_naive": _residual_bins(np.log1p(_clean(X["seasonal_naive"].to_numpy())), z, cfg),
    }


def _calibrate(fitted, panel, train_end, horizon, seed, cfg, X, y, p, o, h) -> None:
    """Split-conformal residuals from the calibration origin train_end - horizon."""
    c = train_end - horizon
    before = (o + h) <= c
    units = panel.m["units"]
    if c < 0 or before.sum() < MIN_TRAIN_ROWS or y[before].sum() <= 0:
        fitted.interval_method = "in-sample residuals"
        return
    present = np.flatnonzero(~np.isnan(units[:, c]))
    hs = np.arange(1, horizon + 1)
    cp, ch = np.repeat(present, len(hs)), np.tile(hs, len(present))
    keep = ~np.isnan(units[cp, c + ch])
    cp, ch = cp[keep], ch[keep]
    if len(cp) < MIN_TRAIN_ROWS:
        fitted.interval_method = "in-sample residuals"
        return
    if len(cp) > cfg.max_calibration_rows:
        pick = np.sort(np.random.default_rng(seed + 1).choice(len(cp), cfg.max_calibration_rows, replace=False))
        cp, ch = cp[pick], ch[pick]
    co = np.full(len(cp), c)
    X_before, y_before = X[before].reset_index(drop=True), y[before]
    cX = _design(panel, cp, co, ch, _panel_target(panel, cp, c + ch))
    _set_intervals(fitted, _fit_hgb(cfg, seed, X_before, y_before), _linear_pipeline(cfg).fit(X_before, y_before),
                   cX, np.log1p(units[cp, c + ch]), cfg)
    fitted.interval_method = "split-conformal residuals by predicted level"
    fitted.calibration_rows = len(cp)


def _poisson_interval(mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = np.maximum(mean, 1e-9)
    return stats.poisson.ppf(INTERVAL[0], mu).astype(float), stats.poisson.ppf(INTERVAL[1], mu).astype(float)


def _clean(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return np.maximum(np.where(np.isfinite(a), a, 0.0), 0.0)


def _predict(fitted: FittedForecaster, X: pd.DataFrame, candidates: tuple[str, ...] = CANDIDATES,
             ) -> dict[str, dict[str, np.ndarray]]:
    """candidate -> {p10, p50, p90} for each of `candidates` (seasonal_naive always); baselines
    carry no interval (p10 = p90 = NaN)."""
    sn = _clean(X["seasonal_naive"].to_numpy())
    none = np.full(len(X), np.nan)
    out = {"seasonal_naive": {"p50": sn, "p10": none, "p90": none}}
    if fitted.fallback or len(X) == 0:
        lo, hi = _poisson_interval(sn)
        out["linear"] = {"p50": sn, "p10": none, "p90": none}
        out["challenger"] = {"p50": sn, "p10": np.minimum(lo, sn), "p90": np.maximum(hi, sn)}
        return out
    pipes = fitted.pipelines
    if "linear" in candidates:
        out["linear"] = {"p50": _clean(pipes["linear"].predict(X)), "p10": none, "p90": none}
    if "challenger" not in candidates:
        return out
    p50 = _clean(pipes["challenger"].predict(X))
    p10, p90 = _binned_interval((fitted.interval_edges, fitted.interval_lo, fitted.interval_hi), p50)
    out["challenger"] = {"p50": p50, "p10": p10, "p90": p90}
    return out


def _binned_interval(bins: tuple[np.ndarray, np.ndarray, np.ndarray], p50: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p10, p90 = expm1(log1p(p50) + the 10% / 90% residual quantile of p50's bin), around p50."""
    edges, lo, hi = bins
    f = np.log1p(p50)
    b = np.searchsorted(edges, f, side="right")
    return np.minimum(_clean(np.expm1(f + lo[b])), p50), np.maximum(_clean(np.expm1(f + hi[b])), p50)


# ------------------------------------------------------------------------- public API
def _prepare(history: pd.DataFrame, as_of, horizon_days: int) -> tuple[pd.DataFrame, pd.Timestamp]:
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1 (got {horizon_days})")
    h = _check_history(history)
    if as_of is None:
        cut = h["day"].max()
    else:
        cut = pd.Timestamp(as_date(as_of))
        if h["day"].max() > cut:  # (filtering copies every column)
            h = h[h["day"] <= cut]
        if len(h) == 0:
            raise NotEnoughData(f"demand forecast: no history on or before as_of={cut.date()}")
    return h, cut


def fit_forecaster(
    history: pd.DataFrame, as_of=None, horizon_days: int = 14, seed: int = 0, config: ForecastConfig = DEFAULT_CONFIG
) -> FittedForecaster:
    """Fit the linear baseline and the challenger (p10 / p50 / p90) on days <= as_of
    (default: the last day of the history)."""
    h, cut = _prepare(history, as_of, horizon_days)
    panel = _build_panel(h)
    fitted = _fit_on_panel(panel, panel.day_index(cut), horizon_days, seed, config)
    fitted.as_of = cut.date()
    return fitted


@dataclass(frozen=True)
class PreparedOrigin:
    """The history's panel at a cut-off: built once, it answers many forecasts (the online API
    builds it when a snapshot loads, and answers each request from it)."""

    panel: _Panel
    cut: pd.Timestamp
    horizon_days: int


def prepare_origin(history: pd.DataFrame, as_of, horizon_days: int) -> PreparedOrigin:
    """The origin `as_of` of `history` (rows on days <= as_of count) for forecasts up to horizon_days ahead."""
    h, cut = _prepare(history, as_of, horizon_days)
    return PreparedOrigin(panel=_build_panel(h), cut=cut, horizon_days=horizon_days)


def forecast(
    fitted: FittedForecaster, history: pd.DataFrame, future: pd.DataFrame, as_of=None,
    horizon_days: int | None = None, candidate: str = "challenger",
) -> pd.DataFrame:
    """DataFrame(product_id, day, p10, p50, p90) for the rows of `future` whose day is in
    (as_of, as_of + horizon_days]; other rows are ignored. Origin features come from
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


def forecast_prepared(fitted: FittedForecaster, origin: PreparedOrigin, future: pd.DataFrame,
                      candidate: str = "challenger") -> pd.DataFrame:
    """`forecast` from an origin prepared once (prepare_origin): the same numbers, without
    building the history's panel again."""
    if candidate not in CANDIDATES:
        raise ValueError(f"unknown candidate {candidate!r}; one of {CANDIDATES}")
    fut = _future_rows(future, origin.cut, origin.horizon_days)
    if len(fut) == 0:
        columns = ["product_id", "day", "p10", "p50", "p90"]
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns}).astype(
            {"product_id": object, "day": "datetime64[ns]"}
        )
    out = _forecast_rows(fitted, origin.panel, origin.cut, fut, (candidate,))[candidate]
    return out.sort_values(["product_id", "day"], kind="stable").reset_index(drop=True)


def _future_rows(future: pd.DataFrame, cut: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    """The rows of `future` in (cut, cut + horizon_days], normalised, with their horizon."""
    missing = [c for c in ("product_id", "day", "category", *_TARGET_KNOWN) if c not in future.columns]
    if missing:
        raise ValueError(f"demand forecast: future lacks columns {missing}")
    fut = future.copy()
    fut["day"] = _normalise_days(fut["day"]).to_numpy()
    fut["product_id"] = fut["product_id"].astype(str)
    fut["category"] = fut["category"].fillna("unknown").astype(str)
    fut["horizon"] = (fut["day"] - cut).dt.days
    return fut[(fut["horizon"] >= 1) & (fut["horizon"] <= horizon_days)].reset_index(drop=True)


def _forecast_rows(fitted: FittedForecaster, panel: _Panel, cut: pd.Timestamp, fut: pd.DataFrame,
                   candidates: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """candidate -> DataFrame(product_id, day, p10, p50, p90) for the rows of `fut` (_future_rows),
    from the origin `cut` of `panel`: the one path of the served forecast and of the backtest."""
    index = panel.index  # a dict of every product: looked up per row, not turned into a Series per call
    p = np.fromiter((index.get(product, -1) for product in fut["product_id"]), dtype=np.int64, count=len(fut))
    o = np.full(len(fut), panel.day_index(cut))
    X = _design(panel, p, o, fut["horizon"].to_numpy(), fut)
    configure_threads()
    predicted = _predict(fitted, X, candidates)
    out = {}
    for candidate in candidates:
        pred = predicted[candidate]
        p50 = pred["p50"]
        if candidate == "challenger":
            p10, p90 = pred["p10"], pred["p90"]
        elif candidate in fitted.baseline_intervals and not fitted.fallback:
            p10, p90 = _binned_interval(fitted.baseline_intervals[candidate], p50)
        else:
            lo, hi = _poisson_interval(p50)
            p10, p90 = np.minimum(lo, p50), np.maximum(hi, p50)
        out[candidate] = pd.DataFrame({"product_id": fut["product_id"], "day": fut["day"],
                                       "p10": p10, "p50": p50, "p90": p90})
    return out


FutureAt = Callable[[dt.date], pd.DataFrame]


def recorded_future(history: pd.DataFrame) -> FutureAt:
    """origin -> the history's own rows after the origin as the future frame: the realised prices,
    promotions and ad spend, which a served forecast never has. Only for histories without a
    warehouse (synthetic tests of the model itself); the pipeline and the benchmarks backtest with
    features.tables.future_frames_as_known_at, the frames serving builds."""
    h = _check_history(history)

    def at_origin(origin: dt.date) -> pd.DataFrame:
        # the products of the origin's grid, as in the future frame
        cut = pd.Timestamp(origin)
        known = h.loc[h["day"] == cut, "product_id"]
        return h[(h["day"] > cut) & h["product_id"].isin(known)]

    return at_origin


@dataclass
class BacktestResult:
    """predictions: fold, train_end, candidate, product_id, category, day, horizon, actual,
    p10, p50, p90 (every candidate as served: the baselines with their own interval).
    metrics: candidate, fold ('all' = pooled over folds, else the fold number), category
    ('ALL' = every product), n, units, wape, mae, rmse, bias, coverage_80."""

    folds: list[Fold]
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    fit_seconds: dict[str, float]
    skipped_folds: list[tuple[Fold, str]]

    def overall(self) -> pd.DataFrame:
        """Pooled metrics per candidate (index: candidate)."""
        m = self.metrics
        return m[(m["fold"] == "all") & (m["category"] == "ALL")].set_index("candidate")

    def per_category(self) -> pd.DataFrame:
        m = self.metrics
        return m[(m["fold"] == "all") & (m["category"] != "ALL")].reset_index(drop=True)

    def wape_improvement(self, candidate: str = "challenger", baseline: str = "seasonal_naive") -> float:
        """1 - WAPE(candidate) / WAPE(baseline): 0.15 means 15% below the baseline."""
        o = self.overall()
        return float(1.0 - o.loc[candidate, "wape"] / o.loc[baseline, "wape"])

    def metrics_long(self) -> pd.DataFrame:
        """candidate, fold, category, metric, value (one row per number)."""
        return self.metrics.melt(
            id_vars=["candidate", "fold", "category"], var_name="metric", value_name="value"
        )


def _metric_rows(pred: pd.DataFrame, fold_label: str) -> list[dict]:
    rows = []
    for cand, g in pred.groupby("candidate", sort=False):
        for cat, gg in [("ALL", g), *sorted(g.groupby("category"), key=lambda kv: kv[0])]:
            has_interval = gg["p10"].notna().all() and len(gg) > 0
            m = M.forecast_metrics(
                gg["actual"], gg["p50"],
                gg["p10"] if has_interval else None, gg["p90"] if has_interval else None,
            )
            rows.append({"candidate": cand, "fold": fold_label, "category": cat, "n": len(gg),
                         "units": float(gg["actual"].sum()), **m})
    return rows


def backtest(
    history: pd.DataFrame, folds: list[Fold], horizon_days: int = 14, seed: int = 0,
    config: ForecastConfig = DEFAULT_CONFIG, *, future_at: FutureAt,
) -> BacktestResult:
    """Each fold goes through the serving path from its origin (train_end): fit every candidate
    on the history up to the origin (fit_forecaster), build the future frame as serving would
    have built it on that day (`future_at(origin)`: features.tables.future_frames_as_known_at in
    the pipeline), forecast it as `forecast` does (baselines with their own interval) and
    compare with the units the history records for those days. A train/serve skew (a future
    price the history never shows, a planned spend that does not exist) is in the metric that
    picks the served candidate.

    Folds with no training day or no test day in the history are skipped (listed in
    `skipped_folds`); NotEnoughData when every fold is skipped."""
    h = _check_history(history)
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1 (got {horizon_days})")
    last_day = h["day"].max()
    actuals = h[["product_id", "day", "units"]]
    preds, skipped = [], []
    fit_seconds = {c: 0.0 for c in CANDIDATES}
    for k, fold in enumerate(folds, start=1):
        cut = pd.Timestamp(fold.train_end)
        past = h[h["day"] <= cut]
        if len(past) == 0 or cut >= last_day:
            skipped.append((fold, "no training day" if len(past) == 0 else "no test day in the history"))
            continue
        panel = _build_panel(past)
        fitted = _fit_on_panel(panel, panel.day_index(cut), horizon_days, seed, config)
        for name, secs in fitted.fit_seconds.items():
            fit_seconds[name] += secs
        last_h = min(horizon_days, (pd.Timestamp(fold.test_end) - cut).days)
        fut = _future_rows(future_at(fold.train_end), cut, last_h)
        start = time.perf_counter()
        forecasts = _forecast_rows(fitted, panel, cut, fut, CANDIDATES)
        fit_seconds["seasonal_naive"] += time.perf_counter() - start
        known = fut[["product_id", "day", "category", "horizon"]].assign(fold=k, train_end=fold.train_end)
        scored = known.merge(actuals, on=["product_id", "day"], how="inner", validate="one_to_one")
        scored = scored.rename(columns={"units": "actual"})
        for cand in CANDIDATES:
            preds.append(scored.merge(forecasts[cand], on=["product_id", "day"], how="left", validate="one_to_one")
                         .assign(candidate=cand))
    if not preds:
        raise NotEnoughData(f"demand forecast: no backtest fold fits the history ({', '.join(r for _, r in skipped)})")
    predictions = pd.concat(preds, ignore_index=True)
    predictions = predictions[["fold", "train_end", "candidate", "product_id", "category", "day",
                               "horizon", "actual", "p10", "p50", "p90"]]
    rows = _metric_rows(predictions, "all")
    for k, g in predictions.groupby("fold"):
        rows += [r for r in _metric_rows(g, str(k)) if r["category"] == "ALL"]
    return BacktestResult(
        folds=list(folds), predictions=predictions, metrics=pd.DataFrame(rows),
        fit_seconds=fit_seconds, skipped_folds=skipped,
    )
