"""The statistical forecast family: per-series methods over the last STAT_WINDOW days of each product,
vectorised across products (pure numpy), and the demand segments of Syntetos & Boylan (2005).

    last_value    units on the origin day
    mean_7/28/56  the mean of the last 7 / 28 / 56 days
    ets_damped    exponential smoothing with an additive damped trend (Gardner & McKenzie, ETS(A,Ad,N))
                  on the series divided by the shop's weekday index, the parameters (alpha, beta, phi) of
                  each series chosen on a small grid by its one-step-ahead squared error
    croston       Croston (1972): smoothed demand size / smoothed interval between demands (alpha 0.1)
    tsb           Teunter, Syntetos & Babai (2011): smoothed demand probability x smoothed size (0.1 / 0.1)
    adida         Nikolopoulos et al. (2011): the series summed into buckets of its mean interval between
                  demands (ADI, 1..28 days), simple exponential smoothing of the buckets (0.1), / bucket size

Why not a library: each method is a recursion over time that runs once for all products as numpy
vectors (a 112-day window x 20,000 products in well under a second). statsforecast has them all but
pulls numba, whose JIT compiles each model on a process's first call (tens of seconds on a 2-core
machine, paid again by every Dagster run process); statsmodels' ExponentialSmoothing / ETSModel fits
one series per call (milliseconds each: minutes for a catalog, per fold) and has no Croston, TSB or
ADIDA. docs/models.md says the same.

Each row's window is the STAT_WINDOW days ending on the origin (a day without a row in the grid, e.g.
before the product's first day, does not count); STAT_WINDOW <= the history serving reads
(data.SERVING_HISTORY_DAYS), so the backtest and the served forecast see the same days.

Segments (ADI = valid days / days with a sale, CV2 = squared coefficient of variation of the sizes of
the sales) with the classic cut-offs 1.32 and 0.49: smooth, erratic (CV2 high), intermittent (ADI
high), lumpy (both); no_demand (nothing sold in the window) and no_history (a product unknown at the
origin).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shop_pipeline.ml.demand_forecast.data import Panel

STAT_WINDOW = 112
STAT_METHODS = ("last_value", "mean_7", "mean_28", "mean_56", "ets_damped", "croston", "tsb", "adida")
SEGMENTS = ("smooth", "erratic", "intermittent", "lumpy", "no_demand", "no_history")
ADI_CUT, CV2_CUT = 1.32, 0.49
ALPHA_INTERMITTENT = 0.1  # Croston / TSB size, ADIDA smoothing
BETA_TSB = 0.1  # TSB probability
ADIDA_MAX_BUCKET = 28
# the damped-trend grid: every combination is run for every series, each series keeps its best
ETS_ALPHA = (0.05, 0.1, 0.2, 0.4, 0.7)
ETS_BETA = (0.02, 0.1)
ETS_PHI = (0.8, 0.95)


def window(panel: Panel, rows: np.ndarray, origin: int, width: int = STAT_WINDOW) -> np.ndarray:
    """(len(rows), width) units of the days (origin - width, origin]; NaN where the grid has no row
    (or before the panel's first day)."""
    lo = origin - width + 1
    out = np.full((len(rows), width), np.nan)
    first = max(lo, 0)
    if origin >= 0 and len(rows):
        out[:, first - lo :] = panel.m["units"][rows, first : origin + 1]
    return out


SEASON_DAYS = 56  # the days up to the origin the shop's weekday index reads


def weekday_index(panel: Panel, origin: int, width: int = SEASON_DAYS) -> np.ndarray:
    """(7,) the shop's units per weekday over the `width` days up to the origin, relative to their mean
    (Monday first); 1 where nothing sold."""
    lo = max(origin - width + 1, 0)
    units = np.nansum(panel.m["units"][:, lo : origin + 1], axis=0)
    return weekday_index_of(panel.day_at(np.arange(lo, origin + 1)), units)


def weekday_index_of(days, units: np.ndarray) -> np.ndarray:
    """weekday_index from the shop's units of each of `days` (every day of the window, 0 where nothing sold):
    what a cluster computes once for every block of products (ml/demand_forecast/blocks.py)."""
    dow = pd.DatetimeIndex(days).dayofweek.to_numpy()
    total = np.bincount(dow, weights=np.asarray(units, dtype=float), minlength=7)
    count = np.bincount(dow, minlength=7)
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    if not np.isfinite(mean).all() or np.nanmean(mean) <= 0:
        return np.ones(7)
    return np.clip(mean / mean.mean(), 0.2, 5.0)


def classify(Y: np.ndarray) -> np.ndarray:
    """Segment name of each row of a window (module docstring)."""
    valid = ~np.isnan(Y)
    sold = valid & (Y > 0)
    n_valid, n_sold = valid.sum(axis=1), sold.sum(axis=1)
    sizes = np.where(sold, Y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        adi = n_valid / n_sold
        mean = sizes.sum(axis=1) / n_sold
        var = (np.where(sold, (Y - mean[:, None]) ** 2, 0.0)).sum(axis=1) / n_sold
        cv2 = var / mean**2
    high_adi, high_cv2 = adi >= ADI_CUT, cv2 >= CV2_CUT
    out = np.where(high_adi, np.where(high_cv2, "lumpy", "intermittent"), np.where(high_cv2, "erratic", "smooth"))
    return np.where(n_sold == 0, "no_demand", out).astype(object)


def last_value(Y: np.ndarray) -> np.ndarray:
    last = Y[:, -1]
    return np.where(np.isnan(last), 0.0, last)


def window_mean(Y: np.ndarray, width: int) -> np.ndarray:
    part = Y[:, -width:]
    n = (~np.isnan(part)).sum(axis=1)
    return np.where(n > 0, np.nansum(part, axis=1) / np.maximum(n, 1), 0.0)


def croston(Y: np.ndarray, alpha: float = ALPHA_INTERMITTENT) -> np.ndarray:
    """Croston's per-period demand: smoothed size / smoothed interval, both updated on demand periods
    only, initialised with the first demand and its position (1-based) in the valid days."""
    n = len(Y)
    z, p, q = np.full(n, np.nan), np.full(n, np.nan), np.ones(n)
    for t in range(Y.shape[1]):
        y = Y[:, t]
        valid = ~np.isnan(y)
        dem = valid & (y > 0)
        first = dem & np.isnan(z)
        later = dem & ~first
        z = np.where(first, y, np.where(later, z + alpha * (y - z), z))
        p = np.where(first, q, np.where(later, p + alpha * (q - p), p))
        q = np.where(dem, 1.0, np.where(valid, q + 1.0, q))
    with np.errstate(invalid="ignore", divide="ignore"):
        f = z / p
    return np.where(np.isfinite(f), f, 0.0)


def tsb(Y: np.ndarray, alpha: float = ALPHA_INTERMITTENT, beta: float = BETA_TSB) -> np.ndarray:
    """TSB: the demand probability is smoothed every valid period (so it decays while nothing sells),
    the size on demand periods; forecast probability x size. Initialised on the first valid day."""
    n = len(Y)
    d, z = np.full(n, np.nan), np.full(n, np.nan)
    for t in range(Y.shape[1]):
        y = Y[:, t]
        valid = ~np.isnan(y)
        dem = (valid & (y > 0)).astype(float)
        d = np.where(valid, np.where(np.isnan(d), dem, d + beta * (dem - d)), d)
        first = (dem > 0) & np.isnan(z)
        z = np.where(first, y, np.where((dem > 0) & ~first, z + alpha * (y - z), z))
    f = d * z
    return np.where(np.isfinite(f), f, 0.0)


def ses_level(B: np.ndarray, alpha: float) -> np.ndarray:
    """Simple exponential smoothing level after the last column (NaN = no observation), initialised
    with the first observation."""
    level = np.full(len(B), np.nan)
    for t in range(B.shape[1]):
        b = B[:, t]
        ok = ~np.isnan(b)
        level = np.where(ok, np.where(np.isnan(level), b, level + alpha * (b - level)), level)
    return np.where(np.isnan(level), 0.0, level)


def adida(Y: np.ndarray, alpha: float = ALPHA_INTERMITTENT) -> np.ndarray:
    """ADIDA: buckets of k = round(ADI) days (1..ADIDA_MAX_BUCKET) ending on the origin, SES of the
    bucket sums, / k. A bucket with any day off the grid is not observed."""
    valid = ~np.isnan(Y)
    n_sold = (valid & (Y > 0)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        adi = valid.sum(axis=1) / n_sold
    k = np.where(n_sold > 0, np.clip(np.rint(adi), 1, ADIDA_MAX_BUCKET), 1).astype(int)
    out = np.zeros(len(Y))
    width = Y.shape[1]
    for size in np.unique(k):
        rows = np.flatnonzero(k == size)
        m = width // size
        part = Y[rows][:, width - m * size :].reshape(len(rows), m, size)
        buckets = np.where(np.isnan(part).any(axis=2), np.nan, part.sum(axis=2))
        out[rows] = ses_level(buckets, alpha) / size
    return out


def ets_damped(Y: np.ndarray, season: np.ndarray, dow: np.ndarray, horizons: np.ndarray) -> np.ndarray:
    """(n, len(horizons)) damped-trend forecasts of Y / season[dow] x the target days' season.

    `dow`: (width + max horizon,) weekday of each window day then of each horizon day (origin + h).
    Per series and grid point: level l and trend b from the first valid day (l = y, b = 0), updated
    on valid days only; the grid point with the smallest one-step squared error is kept."""
    width = Y.shape[1]
    s_hist = season[dow[:width]]
    Z = Y / s_hist[None, :]
    grid = np.array([(a, b, f) for a in ETS_ALPHA for b in ETS_BETA for f in ETS_PHI])
    a, b, phi = (grid[:, i][:, None] for i in range(3))
    n = len(Y)
    level = np.full((len(grid), n), np.nan)
    trend = np.zeros((len(grid), n))
    sse = np.zeros((len(grid), n))
    for t in range(width):
        z = Z[:, t]
        ok = ~np.isnan(z)
        started = ~np.isnan(level)
        pred = level + phi * trend
        err = np.where(started & ok, z - pred, 0.0)
        sse += err**2
        new_level = np.where(started, pred + a * err, z)
        new_trend = np.where(started, phi * trend + a * b * err, 0.0)
        level = np.where(ok, new_level, level)
        trend = np.where(ok, new_trend, trend)
    best = np.argmin(sse, axis=0)
    cols = np.arange(n)
    lvl, trd, ph = level[best, cols], trend[best, cols], grid[best, 2]
    lvl = np.where(np.isnan(lvl), 0.0, lvl)
    damp = np.stack([np.sum(ph[:, None] ** np.arange(1, h + 1)[None, :], axis=1) for h in horizons], axis=1)
    s_future = season[dow[width + horizons - 1]]
    return np.maximum((lvl[:, None] + trd[:, None] * damp) * s_future[None, :], 0.0)


def forecast_methods(
    panel: Panel,
    rows: np.ndarray,
    origin: int,
    horizons: np.ndarray,
    methods: tuple[str, ...],
    season: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({method: p50 of each row}, segment of each row) for rows (product row in the panel or -1) x
    horizons from the origin day index. A product unknown at the origin: 0 from every method, segment
    no_history. `season`: the shop's weekday index at the origin when the panel holds only some of the
    shop's products (None: weekday_index of this panel)."""
    rows = np.asarray(rows, dtype=np.int64)
    horizons = np.asarray(horizons, dtype=np.int64)
    products, inverse = np.unique(rows, return_inverse=True)
    known = products >= 0
    Y = np.full((len(products), STAT_WINDOW), np.nan)
    Y[known] = window(panel, products[known], origin)
    segment = classify(Y)
    segment[~known] = "no_history"
    per_product: dict[str, np.ndarray] = {}
    for name in methods:
        if name == "last_value":
            per_product[name] = last_value(Y)
        elif name.startswith("mean_"):
            per_product[name] = window_mean(Y, int(name.split("_")[1]))
        elif name == "croston":
            per_product[name] = croston(Y)
        elif name == "tsb":
            per_product[name] = tsb(Y)
        elif name == "adida":
            per_product[name] = adida(Y)
    out = {name: np.where(known, v, 0.0)[inverse] for name, v in per_product.items()}
    if "ets_damped" in methods:
        hs = np.unique(horizons)
        dow = panel.day_at(np.arange(origin - STAT_WINDOW + 1, origin + int(hs.max()) + 1)).dayofweek.to_numpy()
        grid = ets_damped(Y, weekday_index(panel, origin) if season is None else season, dow, hs)
        grid[~known] = 0.0
        out["ets_damped"] = grid[inverse, np.searchsorted(hs, horizons)]
    return out, segment[inverse]
