"""Scoring orders with a fitted order-risk model: risk_score, flagged, top_features.

top_features explains a score one feature at a time: how much the risk score drops when that
feature is set to its typical value (the training median); the three largest drops, as
"feature=value (+drop)" joined by "; ". Cheap and model-agnostic (not additive like SHAP).
By default only flagged orders are explained (others NULL).
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd

from shop_pipeline.features.order_features import read_order_features
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.html_report import markdown_table
from shop_pipeline.ml.common.spec import ModelSettings, Shown
from shop_pipeline.ml.order_risk.candidates import SCORE_BATCH_ROWS, FittedOrderRisk, model_scores
from shop_pipeline.ml.order_risk.data import as_date, feature_frame
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.scores import read_scores

TOP_FEATURES = 3
SCORE_COLUMNS = ddl.column_names("scoring.order_risk_scores")


def _format_value(value: float) -> str:
    return "NULL" if not np.isfinite(value) else f"{value:.4g}"


def explain(
    fitted: FittedOrderRisk, features: pd.DataFrame, scores: np.ndarray | None = None, top: int = TOP_FEATURES
) -> list[str]:
    """top_features of each row of `features` (what a contribution means: the module docstring)."""
    if len(features) == 0:
        return []
    values = feature_frame(features, fitted.columns).to_numpy(np.float64)
    return explained_values(fitted, values, scores, top)[1]


def explained_values(
    fitted: FittedOrderRisk, values: np.ndarray, scores: np.ndarray | None = None, top: int = TOP_FEATURES
) -> tuple[np.ndarray, list[str]]:
    """(risk scores, top_features) of rows already in the model's input form (float64, fitted.columns
    in order, NaN for missing: data.feature_row). Without `scores`, the rows are scored in the same
    model call as their variations (one call per block: what an online request costs)."""
    base = np.empty(len(values)) if scores is None else np.asarray(scores, dtype=np.float64)
    drops = np.empty((len(values), len(fitted.columns)))
    # Each row once per column with that column at its typical value, scored in one call per
    # block of rows: one call per column costs more than the predictions when few rows are new.
    n_columns = len(fitted.columns)
    variants = n_columns + (1 if scores is None else 0)  # the row itself last, when not scored yet
    rows_per_block = max(1, SCORE_BATCH_ROWS // variants)
    for start in range(0, len(values), rows_per_block):
        block = values[start : start + rows_per_block]
        typical = np.repeat(block[np.newaxis], variants, axis=0)  # (variant, row, feature)
        typical[np.arange(n_columns), :, np.arange(n_columns)] = fitted.medians[:, np.newaxis]
        stacked = pd.DataFrame(typical.reshape(-1, n_columns), columns=list(fitted.columns))
        varied = model_scores(fitted.candidate, fitted.pipeline, stacked).reshape(variants, len(block))
        if scores is None:
            base[start : start + len(block)] = varied[n_columns]
        drops[start : start + len(block)] = base[start : start + len(block), np.newaxis] - varied[:n_columns].T
    out = []
    for i in range(len(values)):
        order = np.argsort(-drops[i], kind="stable")[:top]
        parts = [
            f"{fitted.columns[j]}={_format_value(values[i, j])} ({drops[i, j]:+.3g})"
            for j in order
            if drops[i, j] > 1e-9
        ]
        out.append("; ".join(parts))
    return base, out


def _order_times(features: pd.DataFrame) -> np.ndarray:
    # cache=False: pandas' cache looks for repeated values by iterating over every timestamp in
    # Python (a third of a second per 5,000 orders), for times that are already datetimes
    return pd.to_datetime(features["order_time"], cache=False).to_numpy()


def features_hash(fitted: FittedOrderRisk, features: pd.DataFrame) -> np.ndarray:
    """A fingerprint (uint64) of each order's scored inputs: its time and the model's columns."""
    if len(features) == 0:
        return np.zeros(0, dtype=np.uint64)
    inputs = feature_frame(features, fitted.columns).assign(order_time=_order_times(features))
    return pd.util.hash_pandas_object(inputs, index=False).to_numpy(np.uint64)


def score_orders(
    fitted: FittedOrderRisk,
    features: pd.DataFrame,
    as_of: Any,
    model_version: str,
    explain_rows: str = "flagged",
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per order of `features` (columns SCORE_COLUMNS): risk_score (never NaN), flagged,
    top_features (explain_rows: "flagged" -> flagged rows only, "all", or "none"; NULL otherwise).

    `previous` (earlier output of this function, explained the same way) lends its risk_score
    and top_features to each order it scored with the same model_version and features_hash:
    scores and explanations are functions of the model and the order's own row, so the result
    is what scoring every order again gives, and a daily run scores only the new orders.
    attrs["scored_anew"] says how many orders were scored rather than lent.
    """
    if explain_rows not in ("flagged", "all", "none"):
        raise ValueError(f"explain_rows must be 'flagged', 'all' or 'none', got {explain_rows!r}")
    hashes = features_hash(fitted, features)
    scores = np.zeros(len(features))
    top = np.full(len(features), None, dtype=object)
    reused = np.zeros(len(features), dtype=bool)
    if previous is not None and len(previous) and len(features):
        # an earlier row lends itself when order, customer, model version and inputs all match
        earlier = previous[previous["model_version"] == model_version].drop_duplicates(["order_id", "customer_id"])
        earlier = earlier.set_index(["order_id", "customer_id", "features_hash"])
        position = earlier.index.get_indexer(
            pd.MultiIndex.from_arrays([features["order_id"].to_numpy(), features["customer_id"].to_numpy(), hashes])
        )
        reused = position >= 0
        scores[reused] = earlier["risk_score"].to_numpy(np.float64)[position[reused]]
        top[reused] = earlier["top_features"].to_numpy(object)[position[reused]]
    fresh = ~reused
    if fresh.any():
        scores[fresh] = fitted.scores(features.loc[fresh])
    flagged = scores >= fitted.threshold
    chosen = {
        "flagged": flagged,
        "all": np.ones(len(features), dtype=bool),
        "none": np.zeros(len(features), dtype=bool),
    }[explain_rows] & fresh
    if chosen.any():
        top[chosen] = explain(fitted, features.loc[chosen], scores[chosen])
    frame = pd.DataFrame(
        {
            "order_id": features["order_id"].to_numpy(),
            "customer_id": features["customer_id"].to_numpy(),
            "order_time": _order_times(features),
            "risk_score": scores,
            "flagged": flagged,
            "top_features": top,
            "model_version": model_version,
            "features_hash": hashes,
            "as_of": as_date(as_of),
        },
        columns=list(SCORE_COLUMNS),
    )
    frame.attrs["scored_anew"] = int(fresh.sum())
    return frame


def score_rows(fitted: FittedOrderRisk, features: pd.DataFrame, as_of: Any, model_version: str) -> pd.DataFrame:
    """score_orders of a chunk of features.order_features rows, each scored afresh (no `previous`: a lent
    score is the score scoring anew gives); the chunk scorer of distributed scoring (ModelSpec.score_rows)."""
    return score_orders(fitted, features, as_of, model_version)


def score_table(
    con: duckdb.DuckDBPyConnection,
    fitted: FittedOrderRisk,
    row: registry.RegistryRow,
    as_of: Any,
    settings: ModelSettings,
) -> pd.DataFrame:
    """The rows of scoring.order_risk_scores: every order of features.order_features, the orders the table
    already scored with this version and the same inputs keeping their score (score_orders' `previous`)."""
    return score_orders(
        fitted,
        read_order_features(con),
        as_of,
        row.version,
        previous=read_scores(con, "scoring.order_risk_scores", SCORE_COLUMNS),
    )


def describe_scores(scores: pd.DataFrame, row: registry.RegistryRow, validated: bool, settings: ModelSettings) -> Shown:
    # Run metadata keeps no customer id: Dagster's history is no place an erasure can reach.
    top = scores.sort_values("risk_score", ascending=False).head(10)
    return Shown(
        values={
            "orders_scored_anew": scores.attrs.get("scored_anew", 0),
            "validated": validated,
            "validation": "champion passed the gate"
            if validated
            else "UNVALIDATED: no chargeback labels to measure the isolation forest; land them in landing/labels",
            "flagged": int(scores["flagged"].sum()),
            "flagged_share": float(scores["flagged"].mean()) if len(scores) else 0.0,
        },
        markdown={"riskiest_orders": markdown_table(top[["order_id", "risk_score", "top_features"]])},
    )
