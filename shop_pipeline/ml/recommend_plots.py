"""Recommendation plots as PNG bytes (matplotlib Agg; no Dagster, no display).

recall_curve_png    recall@K for K = 1 .. max K, one line per candidate (held-out window)
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from shop_pipeline.ml.common.plots import figure_png
import numpy as np


def recall_curve_png(curves: Mapping[str, np.ndarray], title: str = "Recall@K on the held-out window",
                     marks: tuple[int, ...] = (10, 20)) -> bytes:
    """PNG of each candidate's recall@1..len(curve) (e.g. recommend.recall_curves(evaluation)).

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
