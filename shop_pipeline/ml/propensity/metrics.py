"""Count metrics of a customer-value model on a held-out window (no Dagster, no I/O).

expected_orders and expected_spend are predictions of how many orders (how much spend) each
customer makes in the window, so they are measured as such, not through p_purchase's AUC:

    mae             mean absolute error per customer
    rmse            root mean squared error per customer (what an expectation minimises)
    total_error_pct (sum predicted - sum actual) / sum actual x 100: the error of the shop's
                    total, the number a forecast of next quarter's orders is judged on
    buys_again_auc  ROC-AUC of the prediction against "bought at least once in the window":
                    does the model rank the customers who come back above those who do not

A window where nobody bought has no total error (NaN) and no AUC (NaN); the metrics never
raise on it, so a comparison table can still be written.
"""

from __future__ import annotations

import numpy as np

from shop_pipeline.ml.common.metrics import mae, rmse, roc_auc


def count_metrics(actual, predicted, prefix: str = "orders") -> dict[str, float]:
    """`{prefix}_mae`, `{prefix}_rmse`, `{prefix}_total_error_pct`, `{prefix}_buys_again_auc`."""
    y = np.nan_to_num(np.asarray(actual, dtype=np.float64), nan=0.0)
    f = np.nan_to_num(np.asarray(predicted, dtype=np.float64), nan=0.0)
    if y.shape != f.shape:
        raise ValueError(f"actual and predicted have different shapes: {y.shape} vs {f.shape}")
    if len(y) == 0:
        raise ValueError("no customers to measure the value model on")
    total = float(y.sum())
    return {
        f"{prefix}_mae": mae(y, f),
        f"{prefix}_rmse": rmse(y, f),
        f"{prefix}_total_error_pct": float((f.sum() - total) / total * 100.0) if total > 0 else float("nan"),
        f"{prefix}_buys_again_auc": roc_auc((y > 0).astype(np.int8), f),  # nan for a single class
    }
