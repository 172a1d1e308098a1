"""Propensity report: plots as PNG bytes (matplotlib Agg; no display), tables and the sections
of the HTML report.

calibration_png             reliability diagram: mean predicted p vs observed rate per bin
lift_png                    cumulative lift (buyers captured vs random) by share targeted
importance_png              permutation importance (ROC-AUC drop) on a seeded held-out sample
metrics_table_markdown      p_purchase candidates, then the value models' count metrics
propensity_report_sections  all of it for one training run (train.PropensityRun)
training_report             the report and what the training asset shows
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.inspection import permutation_importance
from sklearn.metrics import roc_auc_score

from shop_pipeline.ml.common.plots import figure_png, png_markdown
from shop_pipeline.ml.common.spec import ModelSettings, Report, Shown, TrainedVersion, TrainingRun
from shop_pipeline.ml.propensity.candidates import (
    CANDIDATE_COLUMNS,
    GATE_METRIC,
    HISTORICAL_RATE,
    RANDOM,
    VALUE_CANDIDATES,
    VALUE_MIN_IMPROVEMENT,
    VALUE_SELECTION_METRIC,
)
from shop_pipeline.ml.propensity.data import feature_matrix
from shop_pipeline.ml.propensity.evaluate import value_row_name
from shop_pipeline.ml.propensity.train import metrics_rows


def calibration_points(
    y: np.ndarray,
    p: np.ndarray,
    n_bins: int = 10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean predicted, observed rate, count) per quantile bin of p (empty bins dropped)."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    count = np.bincount(idx, minlength=max(len(edges) - 1, 1)).astype(float)
    mp = np.bincount(idx, weights=p, minlength=len(count))
    oy = np.bincount(idx, weights=y, minlength=len(count))
    keep = count > 0
    return mp[keep] / count[keep], oy[keep] / count[keep], count[keep]


def calibration_png(
    y: np.ndarray, scores: Mapping[str, np.ndarray], n_bins: int = 10, title: str = "Calibration (held-out window)"
) -> bytes:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfect")
    for name, p in scores.items():
        mp, oy, _ = calibration_points(y, p, n_bins)
        ax.plot(mp, oy, "o-", ms=4, label=name)
    ax.set(xlabel="mean predicted p_purchase", ylabel="observed purchase rate", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return figure_png(fig)


def lift_curve(y: np.ndarray, p: np.ndarray, points: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """(share targeted, cumulative lift) when customers are targeted by descending p."""
    y = np.asarray(y, float)
    order = np.argsort(-np.asarray(p, float), kind="stable")
    cum = np.cumsum(y[order])
    n, base = len(y), max(y.mean(), 1e-12)
    share = np.linspace(1.0 / points, 1.0, points)
    k = np.maximum((share * n).astype(int), 1)
    return share, (cum[k - 1] / k) / base


def lift_png(
    y: np.ndarray, scores: Mapping[str, np.ndarray], title: str = "Cumulative lift (held-out window)"
) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, p in scores.items():
        share, lift = lift_curve(y, p)
        ax.plot(share * 100, lift, label=name)
    ax.axhline(1.0, color="grey", ls="--", lw=1, label="random targeting")
    ax.axvline(10, color="grey", ls=":", lw=1)
    ax.set(xlabel="% of customers targeted (highest p first)", ylabel="lift", title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure_png(fig)


def permutation_importances(
    model: Any,
    X: np.ndarray,
    y: np.ndarray,
    names: list[str],
    seed: int = 0,
    sample: int = 5000,
    n_repeats: int = 5,
) -> list[tuple[str, float, float]]:
    """[(feature, mean ROC-AUC drop, std)] sorted by importance, on <= `sample` seeded rows."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    if len(y) > sample:
        idx = np.sort(rng.choice(len(y), sample, replace=False))
        X, y = X[idx], y[idx]
    if len(np.unique(y)) < 2:
        return [(n, 0.0, 0.0) for n in names]

    def auc(est, X_, y_):
        return roc_auc_score(y_, est.predict_proba(X_)[:, 1])

    r = permutation_importance(model, X, y, scoring=auc, n_repeats=n_repeats, random_state=seed)
    out = [(n, float(m), float(s)) for n, m, s in zip(names, r.importances_mean, r.importances_std, strict=True)]
    return sorted(out, key=lambda t: -t[1])


def importance_png(
    importances: list[tuple[str, float, float]], title: str = "Permutation importance (ROC-AUC drop)"
) -> bytes:
    items = list(reversed(importances[:20]))
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(items) + 1.2))
    ax.barh([i[0] for i in items], [i[1] for i in items], xerr=[i[2] for i in items], color="#4c72b0")
    ax.set(xlabel="mean decrease in ROC-AUC when the feature is shuffled", title=title)
    ax.grid(axis="x", alpha=0.3)
    return figure_png(fig)


CLASSIFICATION_COLUMNS = ("roc_auc", "pr_auc", "brier", "lift_at_top_decile", "f1", "threshold")
VALUE_COLUMNS = (
    "orders_mae",
    "orders_rmse",
    "orders_total_error_pct",
    "orders_buys_again_auc",
    "spend_mae",
    "spend_rmse",
    "spend_total_error_pct",
)


def metrics_table_markdown(rows: dict[str, dict[str, float]]) -> str:
    """Two tables: p_purchase candidates (classification), value models (count metrics)."""

    def table(names, items) -> str:
        head = "| candidate | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names) + "\n"
        return head + "".join(
            f"| {cand} | " + " | ".join(f"{m[k]:.4f}" if k in m and np.isfinite(m[k]) else "-" for k in names) + " |\n"
            for cand, m in items
        )

    value_names = {value_row_name(c) for c in (*VALUE_CANDIDATES, HISTORICAL_RATE)}
    classifiers = [(c, m) for c, m in rows.items() if c not in value_names]
    values = [(c, m) for c, m in rows.items() if c in value_names]
    out = table((*CLASSIFICATION_COLUMNS, "orders_mae"), classifiers)
    if values:
        out += "\n" + table(VALUE_COLUMNS, values)
    return out


def propensity_report_sections(
    run: Any,
    seed: int = 0,
    gate_markdown: str | None = None,
) -> tuple[list[tuple[str, str, bytes | None]], dict[str, bytes]]:
    """Report sections (for html_report.write_html_report) and the PNGs by name (for Dagster
    metadata) of a `train.PropensityRun`."""
    plan = run.plan
    y = run.test_labels
    scores = {c: e.test_scores for c, e in run.evaluations.items() if c != RANDOM}
    chosen = run.evaluations[run.serving_candidate]
    imps = permutation_importances(
        chosen.model,
        feature_matrix(run.test_frame, CANDIDATE_COLUMNS[run.serving_candidate]),
        y,
        list(CANDIDATE_COLUMNS[run.serving_candidate]),
        seed=seed,
    )
    pngs = {
        "calibration": calibration_png(y, scores),
        "lift": lift_png(y, scores),
        "feature_importance": importance_png(imps),
    }
    windows = (
        f"- mode: **{plan.mode}**\n- as_of: {plan.as_of}, horizon: {plan.horizon_days} days "
        f"(held-out window: {plan.eval_horizon_days} days)\n"
        f"- {plan.note}\n- customers in the held-out evaluation: {len(y)} "
        f"(base rate {float(y.mean()):.3f})\n"
        f"- p_purchase served by **{run.serving_candidate}** (best held-out {GATE_METRIC} of "
        f"{', '.join(run.evaluated_candidates)})\n"
        f"- expected orders / spend served by **{run.value_candidate}** (lowest held-out "
        f"{VALUE_SELECTION_METRIC}; a more complex model must cut it by "
        f"{VALUE_MIN_IMPROVEMENT:.0%}), spend per order "
        f"{'Gamma-Gamma' if run.fitted.value.gamma_gamma is not None else 'shrunk average order value'}\n"
    )
    imp_md = "| feature | ROC-AUC drop | std |\n|---|---:|---:|\n" + "".join(
        f"| {n} | {m:.4f} | {s:.4f} |\n" for n, m, s in imps
    )
    sections: list[tuple[str, str, bytes | None]] = [
        ("Windows", windows, None),
        (
            "Candidates on the held-out window (p_purchase, then the value models' count metrics)",
            metrics_table_markdown(metrics_rows(run)),
            None,
        ),
    ]
    if gate_markdown:
        sections.append(("Promotion gate", gate_markdown, None))
    sections += [
        (
            "Calibration",
            "Mean predicted probability against the observed purchase rate, per decile of the prediction.",
            pngs["calibration"],
        ),
        (
            "Lift",
            "Buyers found when targeting the highest-scored customers first, relative to random targeting.",
            pngs["lift"],
        ),
        (f"Feature importance ({run.serving_candidate})", imp_md, pngs["feature_importance"]),
    ]
    return sections, pngs


def training_report(run: TrainingRun, trained: TrainedVersion, as_of: dt.date, settings: ModelSettings) -> Report:
    """The report of a training run (train.training_run) and what the training asset shows."""
    propensity = run.details
    plan = propensity.plan
    sections, pngs = propensity_report_sections(propensity, seed=settings.seed)
    shown = Shown(
        values={
            "value_model": propensity.value_candidate,
            "competed_candidates": ", ".join(propensity.evaluated_candidates),
            "window_mode": plan.mode,
            "windows": plan.note,
            "held_out_window": f"{plan.eval_label_window[0]} .. {plan.eval_label_window[1]}",
        },
        markdown={
            "metrics": metrics_table_markdown(trained.metrics),
            "calibration": png_markdown(pngs["calibration"], "calibration"),
            "lift": png_markdown(pngs["lift"], "lift"),
            "feature_importance": png_markdown(pngs["feature_importance"], "feature importance"),
        },
    )
    return Report(f"Purchase propensity {trained.version} (as of {as_of})", sections, shown)
