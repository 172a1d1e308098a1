"""Demand-forecast evaluation: the rolling-origin backtest of every candidate, a saved model (the
champion) measured on the same folds, and the drift of the product-day features against the
champion's training window.

Backtest = serving: each fold fits on the history up to its origin and forecasts the future frame
serving would have built on that day (`future_at`) through the served path (score.forecast_rows),
so a price assumption that hurts shows in the metric that picks the served candidate.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.drift_reference import champion_reference
from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.common.lifecycle import serving_candidate
from shop_pipeline.ml.common.metrics import forecast_metrics
from shop_pipeline.ml.common.psi import psi_against
from shop_pipeline.ml.common.spec import DriftPart, Loader, TrainingRun
from shop_pipeline.ml.common.splits import Fold
from shop_pipeline.ml.demand_forecast.candidates import (
    CANDIDATES,
    DEFAULT_CONFIG,
    MODEL_NAME,
    SEGMENTED,
    FittedForecaster,
    ForecastConfig,
)
from shop_pipeline.ml.demand_forecast.data import DayRange, FutureAt, build_panel, check_history, future_rows
from shop_pipeline.ml.demand_forecast.fitting import fit_on_panel
from shop_pipeline.ml.demand_forecast.score import forecast, forecast_arrays
from shop_pipeline.ml.demand_forecast.statistical import SEGMENTS

SINGLE = tuple(c for c in CANDIDATES if c != SEGMENTED)  # every candidate but the per-segment choice
# a segment serves another candidate than the overall best only when that cuts the segment's absolute
# error by this much, on at least this many backtest rows (a choice on a few rows is noise)
SEGMENT_MIN_GAIN = 0.01
SEGMENT_MIN_ROWS = 100
SEGMENT_PRIOR = "challenger"  # by_segment on a fold with no earlier outcome to choose on (the spec's default)
# level calibration (nested_level): a factor outside these bounds is not believed (too few units behind it)
LEVEL_BOUNDS = (0.25, 4.0)


@dataclass
class BacktestResult:
    """predictions: fold, train_end, candidate, product_id, category, segment, day, horizon, actual,
    p10, p50, p90 (every candidate as served: the baselines with their own interval; segment = the
    product's demand segment at the fold's origin; by_segment's rows of a fold are chosen on earlier
    folds only, nested_by_segment). segment_choice: what the refit's by_segment serves per segment
    (chosen on every fold); fold_segment_choice: what each fold's by_segment rows used.
    metrics: candidate, fold ('all' = pooled over folds, else the fold number), category
    ('ALL' = every product), n, units, wape, mae, rmse, bias, coverage_80."""

    folds: list[Fold]
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    fit_seconds: dict[str, float]
    skipped_folds: list[tuple[Fold, str]]
    segment_choice: dict[str, str] = dataclasses.field(default_factory=dict)
    # the choice by_segment's rows of each fold were forecast with (nested: made on earlier folds only)
    fold_segment_choice: dict[int, dict[str, str]] = dataclasses.field(default_factory=dict)
    # per candidate: level_factor (sum of actuals / sum of p50 over every fold: what the refit would
    # multiply by), total_wape (WAPE of the daily totals of its rows), total_wape_level (the same with
    # each fold's rows multiplied by the factor learned on earlier folds, nested_level), wape_level (the
    # product-day WAPE of those rows)
    level: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

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

    def per_segment(self) -> pd.DataFrame:
        """candidate x segment: rows, units, WAPE pooled over folds (segment at each fold's origin)."""
        p = self.predictions
        g = p.assign(err=(p["actual"] - p["p50"]).abs()).groupby(["segment", "candidate"], observed=True)
        agg = g.agg(n=("err", "size"), units=("actual", "sum"), err=("err", "sum")).reset_index()
        agg["wape"] = agg["err"] / agg["units"].where(agg["units"] > 0)
        return agg.drop(columns="err")

    def metrics_long(self) -> pd.DataFrame:
        """candidate, fold, category, metric, value (one row per number)."""
        return self.metrics.melt(id_vars=["candidate", "fold", "category"], var_name="metric", value_name="value")


def _metric_rows(pred: pd.DataFrame, fold_label: str) -> list[dict]:
    rows = []
    for cand, g in pred.groupby("candidate", sort=False):
        for cat, gg in [("ALL", g), *sorted(g.groupby("category"), key=lambda kv: kv[0])]:
            has_interval = gg["p10"].notna().all() and len(gg) > 0
            m = forecast_metrics(
                gg["actual"],
                gg["p50"],
                gg["p10"] if has_interval else None,
                gg["p90"] if has_interval else None,
            )
            rows.append(
                {
                    "candidate": cand,
                    "fold": fold_label,
                    "category": cat,
                    "n": len(gg),
                    "units": float(gg["actual"].sum()),
                    **m,
                }
            )
    return rows


def backtest(
    history: pd.DataFrame,
    folds: list[Fold],
    horizon_days: int = 14,
    seed: int = 0,
    config: ForecastConfig = DEFAULT_CONFIG,
    *,
    future_at: FutureAt,
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
    h = check_history(history)
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1 (got {horizon_days})")
    last_day = h["day"].max()
    actuals = h[["product_id", "day", "units"]]
    preds, skipped = [], []
    fit_seconds = {c: 0.0 for c in CANDIDATES}
    for k, fold in enumerate(folds, start=1):
        origin = pd.Timestamp(fold.train_end)
        past = h[h["day"] <= origin]
        if len(past) == 0 or origin >= last_day:
            skipped.append((fold, "no training day" if len(past) == 0 else "no test day in the history"))
            continue
        panel = build_panel(past, DayRange.of(past))
        fitted = fit_on_panel(panel, panel.day_index(origin), horizon_days, seed, config)
        for name, secs in fitted.fit_seconds.items():
            fit_seconds[name] = fit_seconds.get(name, 0.0) + secs
        last_h = min(horizon_days, (pd.Timestamp(fold.test_end) - origin).days)
        fut = future_rows(future_at(fold.train_end), origin, last_h)
        start = time.perf_counter()
        forecasts, segment = forecast_arrays(fitted, panel, origin, fut, SINGLE)
        fit_seconds["seasonal_naive"] += time.perf_counter() - start
        known = fut[["product_id", "day", "category", "horizon"]].assign(
            fold=k, train_end=fold.train_end, segment=segment
        )
        # the rows with an actual (every candidate forecast every row of fut, in its order)
        at = known.reset_index(drop=True).merge(
            actuals, on=["product_id", "day"], how="left", validate="one_to_one", indicator=True
        )
        has = (at.pop("_merge") == "both").to_numpy()
        scored = at[has].rename(columns={"units": "actual"}).reset_index(drop=True)
        for cand in SINGLE:
            preds.append(scored.assign(candidate=cand, **{q: forecasts[cand][q][has] for q in ("p10", "p50", "p90")}))
    if not preds:
        raise NotEnoughData(f"demand forecast: no backtest fold fits the history ({', '.join(r for _, r in skipped)})")
    predictions = pd.concat(preds, ignore_index=True)
    segmented, fold_choice = nested_by_segment(predictions)
    choice = choose_by_segment(predictions)  # what the refit serves: chosen on every fold
    predictions = pd.concat([predictions, segmented], ignore_index=True)
    predictions = predictions[
        [
            "fold",
            "train_end",
            "candidate",
            "product_id",
            "category",
            "segment",
            "day",
            "horizon",
            "actual",
            "p10",
            "p50",
            "p90",
        ]
    ]
    rows = _metric_rows(predictions, "all")
    for k, g in predictions.groupby("fold"):
        rows += [r for r in _metric_rows(g, str(k)) if r["category"] == "ALL"]
    return BacktestResult(
        folds=list(folds),
        predictions=predictions,
        metrics=pd.DataFrame(rows),
        fit_seconds=fit_seconds,
        skipped_folds=skipped,
        segment_choice=choice,
        fold_segment_choice=fold_choice,
        level=nested_level(predictions),
    )


def nested_by_segment(predictions: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, dict[str, str]]]:
    """(by_segment's rows, the choice each fold used): nested rolling origin, so that by_segment is
    measured out of sample like every other candidate.

    The rows of fold k are those of the candidate chosen per segment (choose_by_segment) on the rows
    whose outcome was known at fold k's origin: the forecasts of earlier folds (earlier origins) for
    days up to fold k's origin. Never on fold k's own rows, nor on a day after its origin. The first
    fold (nothing known yet) serves the default candidate (SEGMENT_PRIOR) on every segment. The
    choice the refit serves is made on every fold (`backtest`), like the choice of the served candidate."""
    pieces, used = [], {}
    origins = predictions.groupby("fold", sort=True)["train_end"].first()
    for fold, origin in origins.items():
        earlier = predictions[(predictions["fold"] < fold) & (predictions["day"] <= pd.Timestamp(origin))]
        choice = choose_by_segment(earlier) if len(earlier) else {"*": SEGMENT_PRIOR}
        g = predictions[predictions["fold"] == fold]
        chosen = g["candidate"].to_numpy() == g["segment"].map(choice).fillna(choice["*"]).to_numpy()
        pieces.append(g[chosen].assign(candidate=SEGMENTED))
        used[int(fold)] = choice
    return pd.concat(pieces, ignore_index=True), used


def level_factor(actual: float, p50: float) -> float:
    """sum of actuals / sum of p50, within LEVEL_BOUNDS; 1 when nothing was forecast or sold."""
    if not (p50 > 0 and actual > 0):
        return 1.0
    return float(min(max(actual / p50, LEVEL_BOUNDS[0]), LEVEL_BOUNDS[1]))


def total_wape(rows: pd.DataFrame, p50: pd.Series | None = None) -> float:
    """WAPE of the daily totals: the rows summed per fold and day (the shop's units that day as the
    candidate forecast them from that fold's origin), pooled over folds."""
    daily = rows.assign(p50=rows["p50"] if p50 is None else p50).groupby(["fold", "day"])[["actual", "p50"]].sum()
    units = daily["actual"].sum()
    return float((daily["actual"] - daily["p50"]).abs().sum() / units) if units > 0 else float("nan")


def nested_level(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per candidate: level_factor, total_wape, total_wape_level (BacktestResult.level).

    A forecast chosen on product-day WAPE leans towards the median of each product-day, which on
    intermittent items is below the mean: its daily totals run low, and the shop's total is what an
    analyst plans with. The level calibration multiplies a candidate's p50 (into `expected`) by the ratio of
    the units sold to the units it forecast on the backtest. Measured out of sample like by_segment
    (nested rolling origin): the rows of fold k are multiplied by the factor of the earlier folds' rows
    known at fold k's origin (1 on the first fold), so total_wape_level says what the calibration would
    have done on folds it had not seen."""
    out = []
    origins = predictions.groupby("fold", sort=True)["train_end"].first()
    for candidate, rows in predictions.groupby("candidate", sort=False):
        scaled = rows["p50"].copy()
        for fold, origin in origins.items():
            known = rows[(rows["fold"] < fold) & (rows["day"] <= pd.Timestamp(origin))]
            in_fold = (rows["fold"] == fold).to_numpy()
            scaled[in_fold] = rows["p50"][in_fold] * level_factor(known["actual"].sum(), known["p50"].sum())
        out.append(
            {
                "candidate": candidate,
                "level_factor": level_factor(rows["actual"].sum(), rows["p50"].sum()),
                "total_wape": total_wape(rows),
                "total_wape_level": total_wape(rows, scaled),
                "wape_level": float((rows["actual"] - scaled).abs().sum() / max(rows["actual"].sum(), 1e-9)),
            }
        )
    return pd.DataFrame(out).set_index("candidate")


def choose_by_segment(predictions: pd.DataFrame) -> dict[str, str]:
    """segment -> the candidate by_segment serves on it: the overall best (pooled WAPE; "*") unless
    another candidate cuts the segment's absolute error by SEGMENT_MIN_GAIN on SEGMENT_MIN_ROWS rows or
    more. by_segment is measured on rows this choice has not seen (nested_by_segment)."""
    err = (predictions["actual"] - predictions["p50"]).abs()
    p = predictions.assign(err=err)
    total = p.groupby("candidate", sort=False)["err"].sum()
    order = [c for c in SINGLE if c in total.index]
    best = min(order, key=lambda c: (total[c], order.index(c)))
    by_segment = p.groupby(["segment", "candidate"], sort=False)["err"].agg(["sum", "size"])
    choice = {"*": best}
    for segment in SEGMENTS:
        if segment not in by_segment.index.get_level_values(0):
            continue
        seg = by_segment.loc[segment]
        if seg["size"].max() < SEGMENT_MIN_ROWS:
            continue
        candidate = min((c for c in order if c in seg.index), key=lambda c: (seg.loc[c, "sum"], order.index(c)))
        if seg.loc[candidate, "sum"] < (1 - SEGMENT_MIN_GAIN) * seg.loc[best, "sum"]:
            choice[segment] = candidate
    return choice


def backtest_saved_model(
    fitted: FittedForecaster,
    history: pd.DataFrame,
    folds: list[Fold],
    horizon_days: int,
    future_at: FutureAt,
    candidate: str = "challenger",
) -> dict[str, float]:
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
        predicted = forecast(
            fitted, past, future_at(fold.train_end), as_of=fold.train_end, horizon_days=last_h, candidate=candidate
        )
        actual = test[["product_id", "day", "units"]].assign(day=lambda f: pd.to_datetime(f["day"]).dt.date)
        predicted = predicted.assign(day=pd.to_datetime(predicted["day"]).dt.date)
        pieces.append(actual.merge(predicted, on=["product_id", "day"], how="inner"))
    if not pieces:
        return {}
    joined = pd.concat(pieces, ignore_index=True)
    return forecast_metrics(joined["units"], joined["p50"], joined["p10"], joined["p90"])


def evaluate_saved(run: TrainingRun, fitted: FittedForecaster, row: registry.RegistryRow) -> dict[str, float]:
    """A saved version (the champion) on the folds of this training run, with the candidate it serves."""
    measured = run.details
    return backtest_saved_model(
        fitted,
        measured.history,
        measured.result.folds,
        measured.horizon_days,
        measured.future_at,
        candidate=serving_candidate(row, "challenger"),
    )


# ---------------------------------------------------------------------------- drift
#
# Product-day features (features.product_daily_sales): the rows of days train_start..train_end of
# the champion vs the rows of the last window_days days of the table. No champion (or no rows): not
# measured. The champion's reference is binned at its first measurement and kept
# (ml/common/drift_reference.py).

DRIFT_FEATURES = ("units", "views", "conversion", "shown_price", "discount_vs_ref")
_PRODUCT_DAYS = (
    "SELECT " + ", ".join(DRIFT_FEATURES) + " FROM features.product_daily_sales WHERE day BETWEEN $first AND $last"
)


def drift(con: duckdb.DuckDBPyConnection, load: Loader, window_days: int, bins: int, notes: list[str]) -> DriftPart:
    """PSI of DRIFT_FEATURES (as product_day.<feature>), the champion's training window against the latest days."""
    del load  # the product-day features need no model
    champion = registry.champion(con, MODEL_NAME)
    last_day = con.execute("SELECT max(day) FROM features.product_daily_sales").fetchone()[0]
    if champion is None or champion.train_end is None or last_day is None:
        notes.append(f"product-day features: no {MODEL_NAME} champion or no feature rows: not measured")
        return DriftPart([])
    first_current = last_day - dt.timedelta(days=window_days - 1)

    def product_days(first: Any, last: Any) -> pd.DataFrame:
        return con.execute(_PRODUCT_DAYS, {"first": first, "last": last}).df().add_prefix("product_day.")

    columns = [f"product_day.{c}" for c in DRIFT_FEATURES]
    reference = champion_reference(
        con,
        MODEL_NAME,
        champion.version,
        bins,
        columns,
        lambda: product_days(champion.train_start or champion.train_end, champion.train_end),
    )
    rows = psi_against(reference, product_days(first_current, last_day))
    return DriftPart(rows, f"{champion.train_start}..{champion.train_end}", f"{first_current}..{last_day}")
