"""Propensity scoring: p_purchase, churn_risk, expected orders and spend, and a segment per
customer (scoring.customer_scores; never NaN; `score_table` for the batch).

Segments use the p_purchase quantiles of the final fit, stored with the model, so that they mean
the same from one scoring run to the next: new (tenure below NEW_CUSTOMER_DAYS), champions (80th
percentile and up), loyal (median and up), at_risk (below, but has bought), hibernating.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd

from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.html_report import markdown_table
from shop_pipeline.ml.common.spec import ModelSettings, Shown
from shop_pipeline.ml.propensity.candidates import FittedPropensity, purchase_probability
from shop_pipeline.ml.propensity.data import as_date, feature_matrix
from shop_pipeline.sql import ddl

SEGMENTS = ("new", "champions", "loyal", "at_risk", "hibernating")
NEW_CUSTOMER_DAYS = 30
SCORE_COLUMNS = ddl.column_names("scoring.customer_scores")


def assign_segments(
    p: np.ndarray, tenure_days: np.ndarray, frequency: np.ndarray, thresholds: tuple[float, float]
) -> np.ndarray:
    q50, q80 = thresholds
    tenure = np.nan_to_num(tenure_days, nan=0.0)
    freq = np.nan_to_num(frequency, nan=0.0)
    conds = [tenure < NEW_CUSTOMER_DAYS, p >= q80, p >= q50, freq >= 1]
    return np.select(conds, list(SEGMENTS[:4]), default=SEGMENTS[4])


def score_customers(fitted: FittedPropensity, features: pd.DataFrame, as_of: Any, model_version: str) -> pd.DataFrame:
    """Score every customer of `features` (features at `as_of`); one row per customer,
    columns SCORE_COLUMNS, p_purchase in [0, 1], no NaN."""
    as_of = as_date(as_of)
    p = purchase_probability(fitted.classifier, feature_matrix(features, fitted.columns))
    freq = features["frequency"].to_numpy(np.float64, na_value=np.nan)
    exp_orders = fitted.value.expected_orders(features, p)
    exp_spend = exp_orders * fitted.value.value_per_order(
        freq, features["avg_order_value"].to_numpy(np.float64, na_value=np.nan)
    )
    segment = assign_segments(
        p, features["tenure_days"].to_numpy(np.float64, na_value=np.nan), freq, fitted.segment_thresholds
    )
    return pd.DataFrame(
        {
            "customer_id": features["customer_id"].to_numpy(),
            "p_purchase": p,
            "churn_risk": 1.0 - p,
            "expected_orders": np.nan_to_num(exp_orders, nan=0.0),
            "expected_spend": np.nan_to_num(exp_spend, nan=0.0),
            "segment": pd.Categorical(segment, categories=list(SEGMENTS)).astype(str),
            "model_version": model_version,
            "as_of": pd.Timestamp(as_of).date(),
        },
        columns=list(SCORE_COLUMNS),
    )


def score_table(
    con: duckdb.DuckDBPyConnection,
    fitted: FittedPropensity,
    row: registry.RegistryRow,
    as_of: Any,
    settings: ModelSettings,
) -> pd.DataFrame:
    """The rows of scoring.customer_scores: every customer of features.customer_features."""
    features = con.execute("SELECT * FROM features.customer_features").df()
    return score_customers(fitted, features, as_of, row.version)


def describe_scores(scores: pd.DataFrame, row: registry.RegistryRow, validated: bool, settings: ModelSettings) -> Shown:
    segments = scores.groupby("segment").agg(customers=("customer_id", "size"), mean_p=("p_purchase", "mean"))
    return Shown(
        values={
            "mean_p_purchase": float(scores["p_purchase"].mean()),
            "expected_spend_total": float(scores["expected_spend"].sum()),
        },
        markdown={"segments": markdown_table(segments.reset_index().round(3))},
    )
