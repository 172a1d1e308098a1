"""Forecast report: plots as PNG bytes (matplotlib, Agg backend; pure, no Dagster) and the training
run's report (`training_report`).

The plots read a backtest's ``predictions`` frame (see ``evaluate.BacktestResult``): fold,
candidate, product_id, category, day, actual, p10, p50, p90.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import datetime as dt

import matplotlib.pyplot as plt
import pandas as pd

from shop_pipeline.ml.common.html_report import markdown_table
from shop_pipeline.ml.common.plots import figure_png, png_markdown
from shop_pipeline.ml.common.spec import ModelSettings, Report, Shown, TrainedVersion, TrainingRun
from shop_pipeline.ml.demand_forecast.candidates import METRICS
from shop_pipeline.ml.demand_forecast.score import FUTURE_ASSUMPTIONS

COLORS = {"seasonal_naive": "tab:orange", "linear": "tab:green", "challenger": "tab:blue", "by_segment": "tab:purple"}
PLOTTED = tuple(COLORS)  # the candidates the forecast-vs-actual panels draw


def _fold(predictions: pd.DataFrame, fold: int | None) -> pd.DataFrame:
    if len(predictions) == 0:
        return predictions
    fold = predictions["fold"].max() if fold is None else fold
    return predictions[predictions["fold"] == fold]


def _empty(title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.text(0.5, 0.5, "no data", ha="center", va="center")
    ax.set_axis_off()
    ax.set_title(title)
    return figure_png(fig, dpi=90)


def _panel(ax, g: pd.DataFrame, title: str) -> None:
    """Actual vs every candidate's p50 (summed over rows per day), challenger interval shaded."""
    g = g[g["candidate"].isin(PLOTTED)]  # a dozen lines would hide the actual
    daily = g.groupby(["candidate", "day"], sort=True)[["actual", "p10", "p50", "p90"]].sum(min_count=1)
    actual = None
    for cand, d in daily.groupby(level="candidate"):
        d = d.droplevel("candidate")
        actual = d["actual"]
        ax.plot(d.index, d["p50"], label=cand, color=COLORS.get(cand), lw=1.2, ls="-" if cand == "challenger" else "--")
        if cand == "challenger" and d["p10"].notna().all():
            ax.fill_between(d.index, d["p10"], d["p90"], color=COLORS["challenger"], alpha=0.15, label="80% interval")
    if actual is not None:
        ax.plot(actual.index, actual, color="black", lw=1.6, marker="o", ms=3, label="actual")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.tick_params(axis="y", labelsize=7)


def plot_top_products(predictions: pd.DataFrame, n: int = 6, fold: int | None = None) -> bytes:
    """Forecast vs actual for the n best-selling products of a fold (default: the last).
    The interval of a single product is its own p10 / p90; per-category sums of p10 / p90
    are drawn as a rough band only (quantiles do not add up)."""
    g = _fold(predictions, fold)
    if len(g) == 0:
        return _empty("forecast vs actual: top products")
    top = g[g["candidate"] == g["candidate"].iloc[0]].groupby("product_id")["actual"].sum().nlargest(n).index
    cols = min(3, len(top))
    rows = -(-len(top) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3 * rows), squeeze=False, layout="constrained")
    for ax, pid in zip(axes.ravel(), top):
        _panel(ax, g[g["product_id"] == pid], f"{pid}")
    for ax in axes.ravel()[len(top) :]:
        ax.set_axis_off()
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"forecast vs actual, top {len(top)} products (fold {g['fold'].iloc[0]})", fontsize=10)
    return figure_png(fig, dpi=90)


def plot_categories(predictions: pd.DataFrame, fold: int | None = None, max_categories: int = 12) -> bytes:
    """Daily units per category: actual vs each candidate (summed over products)."""
    g = _fold(predictions, fold)
    if len(g) == 0:
        return _empty("forecast vs actual per category")
    cats = (
        g[g["candidate"] == g["candidate"].iloc[0]].groupby("category")["actual"].sum().nlargest(max_categories).index
    )
    cols = min(3, len(cats))
    rows = -(-len(cats) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3 * rows), squeeze=False, layout="constrained")
    for ax, cat in zip(axes.ravel(), cats):
        _panel(ax, g[g["category"] == cat], str(cat))
    for ax in axes.ravel()[len(cats) :]:
        ax.set_axis_off()
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"forecast vs actual per category (fold {g['fold'].iloc[0]}; band = summed p10 / p90)", fontsize=10)
    return figure_png(fig, dpi=90)


def plot_wape_by_horizon(predictions: pd.DataFrame) -> bytes:
    """WAPE per horizon day for every candidate, pooled over folds."""
    if len(predictions) == 0:
        return _empty("WAPE by horizon")
    p = predictions.assign(err=(predictions["actual"] - predictions["p50"]).abs())
    agg = p.groupby(["candidate", "horizon"])[["err", "actual"]].sum()
    wape = (agg["err"] / agg["actual"].where(agg["actual"] > 0)).unstack("candidate")
    fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
    for cand in wape.columns:
        ax.plot(wape.index, wape[cand], marker="o", ms=3, label=cand, color=COLORS.get(cand))
    ax.set_xlabel("horizon (days)")
    ax.set_ylabel("WAPE")
    ax.legend(fontsize=7)
    ax.set_title("WAPE by horizon (all folds)", fontsize=10)
    return figure_png(fig, dpi=90)


def training_report(run: TrainingRun, trained: TrainedVersion, as_of: dt.date, settings: ModelSettings) -> Report:
    """The backtest's tables and plots, for the HTML report and the training asset."""
    result = run.details.result
    serving = run.serving_candidate
    improvement = result.wape_improvement("challenger", "seasonal_naive")
    overall = result.overall().join(result.level) if len(result.level) else result.overall()
    shown = [c for c in (*METRICS, "total_wape", "total_wape_level", "wape_level") if c in overall.columns]
    table = markdown_table(overall.reset_index()[["candidate", *shown]].round(4))
    factor = run.fitted.level.get(serving)
    level = (
        f"its `expected` (the units to sum for totals) = p50 x {factor:.3f} (that cut the daily totals' WAPE out "
        "of sample; p50 stays the median)"
        if factor is not None
        else "its `expected` = p50 (a level calibration did not cut the daily totals' WAPE out of sample)"
    )
    per_category = markdown_table(
        result.per_category()[["candidate", "category", "wape", "mae", "bias"]].round(4), limit=60
    )
    segments = result.per_segment().pivot(index="candidate", columns="segment", values="wape").round(4)
    per_segment = markdown_table(segments.reset_index())
    choice = ", ".join(f"{k}: {v}" for k, v in result.segment_choice.items())
    pngs = {
        "top_products": plot_top_products(result.predictions),
        "categories": plot_categories(result.predictions),
        "wape_by_horizon": plot_wape_by_horizon(result.predictions),
    }
    sections = [
        (
            "Backtest",
            f"{len(result.folds)} folds, horizon {run.details.horizon_days} days; challenger WAPE "
            f"{improvement:.1%} below seasonal-naive; this version serves **{serving}** (best WAPE), {level}; "
            "total_wape = WAPE of the daily totals, total_wape_level / wape_level = with the level calibration "
            f"learned on earlier folds.\n\n{table}",
            None,
        ),
        (
            "Per demand segment",
            f"WAPE per candidate and demand segment (ADI / CV2 at each fold's origin); by_segment serves {choice}."
            f"\n\n{per_segment}",
            None,
        ),
        ("Per category", per_category, None),
        ("Forecast vs actual, top products", "", pngs["top_products"]),
        ("Forecast vs actual, per category", "", pngs["categories"]),
        ("WAPE by horizon", "", pngs["wape_by_horizon"]),
    ]
    shown = Shown(
        values={
            "future_assumptions": FUTURE_ASSUMPTIONS + " (each backtest fold forecasts them as of its origin)",
            "folds": ", ".join(f"{f.test_start}..{f.test_end}" for f in result.folds),
            "wape_improvement_vs_seasonal_naive": float(improvement),
            "segment_choice": choice,
        },
        markdown={
            "metrics": table,
            "per_category": per_category,
            "per_segment": per_segment,
            "forecast_vs_actual": png_markdown(pngs["top_products"], "forecast vs actual"),
            "per_category_plot": png_markdown(pngs["categories"], "per category"),
        },
    )
    return Report(f"Demand forecast {trained.version} (as of {as_of})", sections, shown)
