"""Demand-forecast candidates and the fitted forecaster (pure scikit-learn).

    seasonal_naive  units on the last same weekday on or before the origin; a new product: its
                    91-day mean, else 0.
    last_value, mean_7, mean_28, mean_56, ets_damped, croston, tsb, adida
                    the statistical family, per series over the last 112 days (statistical.py).
    linear          baseline: imputed + scaled price, promotion, ad spend
                    and 7-day mean, one-hot weekday -> Ridge; clipped at 0.
    challenger      HistGradientBoostingRegressor on log1p(units) (TransformedTargetRegressor),
                    category as a native categorical feature. The log1p centre sits between the
                    median (0 for most slow movers) and the mean (dominated by fast movers),
                    which suits WAPE on intermittent daily counts; quantile-loss models collapse
                    to 0 on such targets and were dropped.
    by_segment      per demand segment of the series at the origin (smooth / erratic / intermittent /
                    lumpy / no demand / no history, statistical.classify), the candidate with the best
                    backtest WAPE on that segment (evaluate.choose_by_segment); FittedForecaster.segment_choice.
                    Measured out of sample: each backtest fold's choice is made on earlier folds
                    (evaluate.nested_by_segment).

Level calibration: the served forecast's `expected` (the units to sum for totals) is its p50 multiplied
by sum(actual) / sum(p50) of its backtest rows when that cuts the WAPE of the backtest's daily totals
out of sample (evaluate.nested_level, FittedForecaster.level): a per-product-day WAPE choice leans to
medians, whose sum runs below the shop's total on intermittent items. p10 / p50 / p90 stay as forecast.

80% interval: split-conformal log1p residuals binned by predicted level (train.calibrate), for
the baselines too, so a version that serves a baseline still has a measured interval; the
Poisson 10% / 90% quantiles around the point forecast in fallback mode. p10 <= p50 <= p90, all
>= 0. FittedForecaster travels to the registry as a plain dict (its to_artifact / from_artifact).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from shop_pipeline.ml.demand_forecast.statistical import STAT_METHODS, STAT_WINDOW

MODEL_NAME = "demand_forecast"  # in the registry; the assets are demand_forecast_model, _champion
SEGMENTED = "by_segment"
MODEL_CANDIDATES = ("seasonal_naive", "linear", "challenger")  # what predict_candidates answers from X
# simpler first: a tie serves the simpler one
CANDIDATES = ("seasonal_naive", *STAT_METHODS, "linear", "challenger", SEGMENTED)
BASELINES = ("seasonal_naive", "linear")
GATE_METRIC = "wape"  # pooled over the backtest folds; lower is better
HIGHER_IS_BETTER = False
METRICS = ("wape", "mae", "rmse", "bias", "coverage_80")

LINEAR_NUMERIC = ("shown_price", "is_promo", "promo_discount_pct", "ad_spend", "units_rolling_mean_7")
LINEAR_CATEGORICAL = ("day_of_week",)
CHALLENGER_CATEGORICAL = ("category",)
CHALLENGER_NUMERIC = (
    "horizon",
    "day_of_week",
    "is_weekend",
    "units_lag_1",
    "units_lag_7",
    "units_lag_14",
    "units_rolling_mean_7",
    "units_rolling_mean_28",
    "units_rolling_mean_91",
    "views_rolling_mean_7",
    "carts_rolling_mean_7",
    "history_days",
    "seasonal_naive",
    "same_weekday_mean_4w",
    "shown_price",
    "price_vs_list",
    "discount_vs_ref",
    "is_promo",
    "promo_discount_pct",
    "ad_spend",
    "ad_spend_ratio",
)
MIN_TRAIN_ROWS = 30
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


def linear_pipeline(cfg: ForecastConfig) -> Pipeline:
    pre = ColumnTransformer(
        [
            (
                "num",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                        ("scale", StandardScaler()),
                    ]
                ),
                list(LINEAR_NUMERIC),
            ),
            ("weekday", OneHotEncoder(handle_unknown="ignore"), list(LINEAR_CATEGORICAL)),
        ]
    )
    return Pipeline([("features", pre), ("model", Ridge(alpha=cfg.ridge_alpha))])


def challenger_pipeline(cfg: ForecastConfig, seed: int) -> TransformedTargetRegressor:
    pre = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                    max_categories=250,
                ),
                list(CHALLENGER_CATEGORICAL),
            ),
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
        func=np.log1p,
        inverse_func=np.expm1,
        check_inverse=False,
    )


def fit_challenger(cfg: ForecastConfig, seed: int, X: pd.DataFrame, y: np.ndarray) -> TransformedTargetRegressor:
    """Fit the challenger; a feature missing on every training row (e.g. lag 14 in a short
    history) is set to 0 for the fit, which the binner needs and the trees then ignore."""
    empty = [c for c in CHALLENGER_NUMERIC if X[c].isna().all()]
    if empty:
        X = X.assign(**{c: 0.0 for c in empty})
    return challenger_pipeline(cfg, seed).fit(X, y)


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
    # by_segment: demand segment -> the candidate it serves ("*": any other segment), from the backtest
    segment_choice: dict[str, str] = field(default_factory=dict)
    # level calibration: candidate -> the factor its p50 is multiplied by for `expected` (the served
    # candidate's, when it cut the backtest's daily-total WAPE out of sample; evaluate.nested_level)
    level: dict[str, float] = field(default_factory=dict)

    @property
    def features(self) -> dict[str, list[str]]:
        statistical = [f"units_last_{STAT_WINDOW}_days"]
        out = {
            "linear": [*LINEAR_NUMERIC, *LINEAR_CATEGORICAL],
            "challenger": [*CHALLENGER_CATEGORICAL, *CHALLENGER_NUMERIC],
            **{name: statistical for name in STAT_METHODS},
        }
        chosen = set(self.segment_choice.values())
        out[SEGMENTED] = sorted({f for name in chosen for f in out.get(name, ["seasonal_naive"])}) or statistical
        return out

    def to_artifact(self) -> dict[str, Any]:
        """Plain dict of scikit-learn objects, numbers, strings and arrays (what skops saves)."""
        return {
            "as_of": self.as_of.isoformat(),
            "horizon_days": int(self.horizon_days),
            "seed": int(self.seed),
            "pipelines": dict(self.pipelines),
            "fallback": bool(self.fallback),
            "fallback_reason": self.fallback_reason or "",
            "training_rows": int(self.training_rows),
            "training_window": [d.isoformat() for d in self.training_window],
            "config": dataclasses.asdict(self.config),
            "interval_edges": np.asarray(self.interval_edges, dtype=np.float64),
            "interval_lo": np.asarray(self.interval_lo, dtype=np.float64),
            "interval_hi": np.asarray(self.interval_hi, dtype=np.float64),
            "interval_method": self.interval_method,
            "calibration_rows": int(self.calibration_rows),
            "baseline_intervals": {
                name: {
                    "edges": np.asarray(edges, dtype=np.float64),
                    "lo": np.asarray(lo, dtype=np.float64),
                    "hi": np.asarray(hi, dtype=np.float64),
                }
                for name, (edges, lo, hi) in self.baseline_intervals.items()
            },
            "segment_choice": dict(self.segment_choice),
            "level": {name: float(f) for name, f in self.level.items()},
        }

    @classmethod
    def from_artifact(cls, artifact: dict[str, Any]) -> FittedForecaster:
        start, end = (dt.date.fromisoformat(d) for d in artifact["training_window"])
        return cls(
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
            baseline_intervals={
                name: (np.asarray(b["edges"]), np.asarray(b["lo"]), np.asarray(b["hi"]))
                for name, b in artifact.get("baseline_intervals", {}).items()
            },
            segment_choice=dict(artifact.get("segment_choice", {})),  # absent before by_segment existed
            level={name: float(f) for name, f in artifact.get("level", {}).items()},  # absent before: none
        )


def residual_bins(
    predicted_log: np.ndarray,
    actual_log: np.ndarray,
    cfg: ForecastConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(edges, lo, hi): per-bin 10% / 90% quantiles of the residuals actual_log - predicted_log
    (log1p units), bins = quantiles of predicted_log."""
    f = predicted_log
    r = actual_log - f
    edges = np.unique(np.quantile(f, np.linspace(0, 1, cfg.interval_bins + 1)[1:-1]))
    b = np.searchsorted(edges, f, side="right")
    lo, hi = np.zeros(len(edges) + 1), np.zeros(len(edges) + 1)
    for k in range(len(edges) + 1):
        rk = r[b == k] if (b == k).any() else r
        lo[k], hi[k] = np.quantile(rk, INTERVAL[0]), np.quantile(rk, INTERVAL[1])
    return edges, np.minimum(lo, 0), np.maximum(hi, 0)


def set_intervals(
    fitted: FittedForecaster, challenger, linear, X: pd.DataFrame, actual_log: np.ndarray, cfg: ForecastConfig
) -> None:
    """The challenger's and the baselines' residual bins of their forecasts of X against
    actual_log = log1p(units)."""
    fitted.interval_edges, fitted.interval_lo, fitted.interval_hi = residual_bins(
        np.log1p(challenger.predict(X).clip(0)), actual_log, cfg
    )
    fitted.baseline_intervals.update(
        {
            "linear": residual_bins(np.log1p(non_negative(linear.predict(X))), actual_log, cfg),
            "seasonal_naive": residual_bins(np.log1p(non_negative(X["seasonal_naive"].to_numpy())), actual_log, cfg),
        }
    )


def poisson_interval(mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = np.maximum(mean, 1e-9)
    return stats.poisson.ppf(INTERVAL[0], mu).astype(float), stats.poisson.ppf(INTERVAL[1], mu).astype(float)


def non_negative(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return np.maximum(np.where(np.isfinite(a), a, 0.0), 0.0)


def predict_candidates(
    fitted: FittedForecaster,
    X: pd.DataFrame,
    candidates: tuple[str, ...] = MODEL_CANDIDATES,
) -> dict[str, dict[str, np.ndarray]]:
    """candidate -> {p10, p50, p90} for each of `candidates` (seasonal_naive always); baselines
    carry no interval (p10 = p90 = NaN)."""
    sn = non_negative(X["seasonal_naive"].to_numpy())
    none = np.full(len(X), np.nan)
    out = {"seasonal_naive": {"p50": sn, "p10": none, "p90": none}}
    if fitted.fallback or len(X) == 0:
        lo, hi = poisson_interval(sn)
        out["linear"] = {"p50": sn, "p10": none, "p90": none}
        out["challenger"] = {"p50": sn, "p10": np.minimum(lo, sn), "p90": np.maximum(hi, sn)}
        return out
    pipes = fitted.pipelines
    if "linear" in candidates:
        out["linear"] = {"p50": non_negative(pipes["linear"].predict(X)), "p10": none, "p90": none}
    if "challenger" not in candidates:
        return out
    p50 = non_negative(pipes["challenger"].predict(X))
    p10, p90 = binned_interval((fitted.interval_edges, fitted.interval_lo, fitted.interval_hi), p50)
    out["challenger"] = {"p50": p50, "p10": p10, "p90": p90}
    return out


def binned_interval(bins: tuple[np.ndarray, np.ndarray, np.ndarray], p50: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """p10, p90 = expm1(log1p(p50) + the 10% / 90% residual quantile of p50's bin), around p50."""
    edges, lo, hi = bins
    f = np.log1p(p50)
    b = np.searchsorted(edges, f, side="right")
    return np.minimum(non_negative(np.expm1(f + lo[b])), p50), np.maximum(non_negative(np.expm1(f + hi[b])), p50)
