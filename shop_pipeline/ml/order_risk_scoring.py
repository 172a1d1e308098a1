"""Scoring orders with a fitted order-risk model: risk_score, flagged, top_features (no Dagster).

See ml/order_risk.py for what the threshold and the explanations mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from shop_pipeline.ml import order_risk_data as D
from shop_pipeline.ml.order_risk_models import FittedOrderRisk, model_scores

TOP_FEATURES = 3
SCORE_COLUMNS = ("order_id", "customer_id", "order_time", "risk_score", "flagged", "top_features",
                 "model_version", "as_of")

def _format_value(value: float) -> str:
    return "NULL" if not np.isfinite(value) else f"{value:.4g}"


def explain(fitted: FittedOrderRisk, features: pd.DataFrame, scores: np.ndarray | None = None,
            top: int = TOP_FEATURES) -> list[str]:
    """top_features of each row of `features` (what a contribution means: ml/order_risk.py)."""
    if len(features) == 0:
        return []
    X = D.feature_frame(features, fitted.columns)
    base = fitted.scores(features) if scores is None else np.asarray(scores, dtype=np.float64)
    drops = np.empty((len(X), len(fitted.columns)))
    for j, column in enumerate(fitted.columns):
        typical = X.copy()
        typical[column] = fitted.medians[j]
        drops[:, j] = base - model_scores(fitted.candidate, fitted.pipeline, typical)
    values = X.to_numpy(np.float64)
    out = []
    for i in range(len(X)):
        order = np.argsort(-drops[i], kind="stable")[:top]
        parts = [f"{fitted.columns[j]}={_format_value(values[i, j])} ({drops[i, j]:+.3g})"
                 for j in order if drops[i, j] > 1e-9]
        out.append("; ".join(parts))
    return out


def score_orders(fitted: FittedOrderRisk, features: pd.DataFrame, as_of: Any, model_version: str,
                 explain_rows: str = "flagged") -> pd.DataFrame:
    """One row per order of `features` (columns SCORE_COLUMNS): risk_score (never NaN), flagged,
    top_features (explain_rows: "flagged" -> flagged rows only, "all", or "none"; NULL otherwise)."""
    if explain_rows not in ("flagged", "all", "none"):
        raise ValueError(f"explain_rows must be 'flagged', 'all' or 'none', got {explain_rows!r}")
    scores = fitted.scores(features) if len(features) else np.zeros(0)
    flagged = scores >= fitted.threshold
    top = np.full(len(features), None, dtype=object)
    chosen = {"flagged": flagged, "all": np.ones(len(features), dtype=bool),
              "none": np.zeros(len(features), dtype=bool)}[explain_rows]
    if chosen.any():
        top[chosen] = explain(fitted, features.loc[chosen], scores[chosen])
    return pd.DataFrame({
        "order_id": features["order_id"].to_numpy(),
        "customer_id": features["customer_id"].to_numpy(),
        "order_time": pd.to_datetime(features["order_time"]).to_numpy(),
        "risk_score": scores,
        "flagged": flagged,
        "top_features": top,
        "model_version": model_version,
        "as_of": D.as_date(as_of),
    }, columns=list(SCORE_COLUMNS))
