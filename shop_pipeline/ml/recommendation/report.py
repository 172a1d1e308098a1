"""Recommendation report: plots as PNG bytes (matplotlib Agg; no display) and tables.

recall_curve_png        recall@K for K = 1 .. max K, one line per candidate (held-out window)
metrics_table_markdown  the candidates' metrics at each K, NDCG@10 against most-popular
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from shop_pipeline.ml.common.plots import figure_png, png_markdown
from shop_pipeline.ml.common.spec import ModelSettings, Report, Shown, TrainedVersion, TrainingRun
from shop_pipeline.ml.recommendation.candidates import GATE_METRIC, MOST_POPULAR
from shop_pipeline.ml.recommendation.evaluate import KS, recall_curves
from shop_pipeline.ml.recommendation.metrics import METRIC_NAMES


def recall_curve_png(
    curves: Mapping[str, np.ndarray], title: str = "Recall@K on the held-out window", marks: tuple[int, ...] = (10, 20)
) -> bytes:
    """PNG of each candidate's recall@1..len(curve) (e.g. evaluate.recall_curves(evaluation)).

    A candidate whose curve is all NaN (no evaluated user) is drawn as nothing but still named
    in the legend, so an empty test window shows up as an empty plot, not an error."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, curve in curves.items():
        values = np.asarray(curve, dtype=float)
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, label=name)
    for k in marks:
        ax.axvline(k, color="grey", ls=":", lw=1)
    ax.set(xlabel="K (length of the recommendation list)", ylabel="recall@K", title=title)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure_png(fig)


def metrics_table_markdown(
    metrics: dict[str, dict[str, float]], ks: tuple[int, ...] = KS, reference: str = MOST_POPULAR
) -> str:
    """Markdown: one row per candidate, NDCG / recall / precision / hit rate / coverage at each k,
    and NDCG@10 relative to `reference`."""
    names = [f"{m}_at_{k}" for k in ks for m in METRIC_NAMES]
    header = ["candidate", *names, f"{GATE_METRIC} vs {reference}"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    base = metrics.get(reference, {}).get(GATE_METRIC)

    def fmt(v: Any) -> str:
        return "-" if v is None or math.isnan(v) else f"{v:.4f}"

    for name, values in metrics.items():
        gain = values.get(GATE_METRIC)
        rel = "-" if not base or gain is None or math.isnan(gain) else f"{gain / base:.2f}x"
        lines.append("| " + " | ".join([name, *(fmt(values.get(n)) for n in names), rel]) + " |")
    return "\n".join(lines)


def training_report(run: TrainingRun, trained: TrainedVersion, as_of: dt.date, settings: ModelSettings) -> Report:
    """The report of a training run (train.training_run) and what the training asset shows."""
    recommendation = run.details
    title = f"Recommendations {trained.version} (as of {as_of})"
    if recommendation.evaluation is None:
        return Report(
            title,
            [
                (
                    "Not measured",
                    f"{recommendation.unmeasured_reason}.\n\nThis version serves **{run.serving_candidate}** "
                    "unmeasured: the gate cannot promote it, and scoring serves it marked unvalidated while no measured model "
                    "is champion.",
                    None,
                )
            ],
            Shown(values={"unmeasured_reason": recommendation.unmeasured_reason}),
        )
    table = metrics_table_markdown(trained.metrics)
    png = recall_curve_png(recall_curves(recommendation.evaluation))
    summary = recommendation.evaluation.summary()
    sections = [
        (
            "Held-out window",
            f"{summary['evaluated_users']} customers evaluated on their {summary['target_event']} "
            f"events after {summary['split_day']}; this version serves **{run.serving_candidate}**.\n\n{table}",
            None,
        ),
        ("Recall@K", "", png),
    ]
    return Report(
        title,
        sections,
        Shown(markdown={"metrics": table, "recall_at_k": png_markdown(png, "recall@K")}, json={"held_out": summary}),
    )
