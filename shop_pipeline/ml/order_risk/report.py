"""Order-risk plots and tables for the report and the Dagster metadata (matplotlib Agg, no Dagster).

pr_curves_png           precision-recall curve of each candidate on the held-out window, with
                        its average precision in the legend and the fraud base rate as the floor
metrics_table_markdown  the candidates' metrics as a Markdown table
run_pngs                the plots of a training run (train.RiskRun) by name
training_report         the report and what the training asset shows
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import precision_recall_curve

from shop_pipeline.ml.common.metrics import pr_auc
from shop_pipeline.ml.common.plots import figure_png, png_markdown
from shop_pipeline.ml.common.spec import ModelSettings, Report, Shown, TrainedVersion, TrainingRun
from shop_pipeline.ml.order_risk.metrics import RISK_METRICS


def pr_curves_png(
    y: np.ndarray, scores: Mapping[str, np.ndarray], title: str = "Precision-recall (held-out window)"
) -> bytes:
    """One curve per candidate. A window without both classes has no curve: the plot says so
    instead (an empty evaluation window, or no fraud in it)."""
    y = np.asarray(y, dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    if len(y) == 0 or y.min() == y.max():
        ax.text(
            0.5,
            0.5,
            f"no precision-recall curve:\n{len(y)} labelled orders, {int(y.sum())} fraudulent",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    else:
        for name, s in scores.items():
            precision, recall, _ = precision_recall_curve(y, np.asarray(s, dtype=float))
            ax.step(recall, precision, where="post", label=f"{name} (AP {pr_auc(y, s):.3f})")
        ax.axhline(y.mean(), color="grey", ls="--", lw=1, label=f"base rate {y.mean():.3%}")
        ax.legend(fontsize=8, loc="upper right")
    ax.set(
        xlabel="recall (share of fraud found)",
        ylabel="precision (share of alerts that are fraud)",
        title=title,
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    ax.grid(alpha=0.3)
    return figure_png(fig)


def metrics_table_markdown(rows: dict[str, dict[str, float]]) -> str:
    names = [*RISK_METRICS, "n_orders", "n_fraud"]
    head = "| candidate | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names) + "\n"
    body = ""
    for cand, m in rows.items():
        cells = []
        for k in names:
            v = m.get(k)
            if v is None or not np.isfinite(v):
                cells.append("-")
            elif k in ("n_orders", "n_fraud"):
                cells.append(f"{v:,.0f}")
            else:
                cells.append(f"{v:.4f}")
        body += f"| {cand} | " + " | ".join(cells) + " |\n"
    return head + body


def run_pngs(run) -> dict[str, bytes]:
    """The PNGs of a train.RiskRun by name (for MetadataValue.md / the HTML report)."""
    scores = {c: e.test_scores for c, e in run.evaluations.items() if e.model is not None}
    return {"precision_recall": pr_curves_png(run.eval_labels, scores)}


def training_report(run: TrainingRun, trained: TrainedVersion, as_of: dt.date, settings: ModelSettings) -> Report:
    """The report of a training run (train.training_run) and what the training asset shows."""
    risk = run.details
    table = metrics_table_markdown(trained.metrics)
    pngs = run_pngs(risk)
    sections = [
        (
            "Comparison",
            f"{risk.note}\n\nThis version serves **{risk.serving_candidate}** ({risk.mode}).\n\n{table}",
            None,
        ),
        ("Precision-recall on the held-out days", "", pngs["precision_recall"]),
    ]
    shown = Shown(
        values={
            "held_out_window": f"{risk.windows.eval_window[0]} .. {risk.windows.eval_window[1]}",
            "labelled_orders": risk.labelled_orders,
            "note": risk.note,
        },
        markdown={"metrics": table, "precision_recall": png_markdown(pngs["precision_recall"], "precision-recall")},
    )
    return Report(f"Order risk {trained.version} (as of {as_of})", sections, shown)
