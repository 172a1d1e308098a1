"""Alert metrics of a fraud score (pure numpy): how good are the orders a team can review?

A fraud team reviews the highest-scored orders first and has a budget (a share of all orders).
Ties are shared fairly: when the k-th place falls inside a group of equal scores, the group
contributes its positive rate times the places it takes (the expected count under a random
order of the tied rows), so the result never depends on the input order of the rows.

    precision_at_top(y, s, share)  positives among the top ceil(share x n) orders / that count
    recall_at_top(y, s, share)     positives among the top ceil(share x n) / all positives
    risk_metrics(y, s, budget)     every metric of one candidate, for ml.model_evaluations

Degenerate inputs never raise (the rules of ml/common/metrics.py): every metric is nan on empty input;
pr_auc (average precision) is nan when the labels hold a single class; recall is nan without a
positive; precision stays defined for a single class (0 with no positive, 1 with no negative).
"""

from __future__ import annotations

import math

import numpy as np

from shop_pipeline.ml.common.metrics import pr_auc

NAN = float("nan")
DEFAULT_ALERT_BUDGET = 0.02
TOP_SHARES = {"precision_at_1pct": 0.01, "precision_at_5pct": 0.05}
RISK_METRICS = ("pr_auc", *TOP_SHARES, "recall_at_budget")


def _check(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).ravel()
    s = np.asarray(y_score, dtype=float).ravel()
    if len(y) != len(s):
        raise ValueError(f"labels and scores differ in length: {len(y)} vs {len(s)}")
    if np.isnan(s).any() or np.isnan(y).any():
        raise ValueError("labels and scores must not contain NaN")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0/1")
    return y, s


def _top_count(n: int, share: float) -> int:
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    return max(1, math.ceil(share * n - 1e-9))


def positives_in_top(y_true, y_score, k: int) -> float:
    """Expected positives among the k highest scores, ties shared (see the module docstring)."""
    y, s = _check(y_true, y_score)
    if k <= 0 or len(y) == 0:
        return 0.0
    k = min(k, len(y))
    kth = np.sort(s)[::-1][k - 1]
    above = s > kth
    tied = s == kth
    places_left = k - int(above.sum())
    return float(y[above].sum() + places_left * y[tied].sum() / tied.sum())


def precision_at_top(y_true, y_score, share: float) -> float:
    """Precision of flagging the top `share` of orders; nan when empty."""
    y, s = _check(y_true, y_score)
    if len(y) == 0:
        return NAN
    k = _top_count(len(y), share)
    return positives_in_top(y, s, k) / k


def recall_at_top(y_true, y_score, share: float) -> float:
    """Share of all positives found in the top `share` of orders; nan when empty or no positive."""
    y, s = _check(y_true, y_score)
    if len(y) == 0 or y.sum() == 0:
        return NAN
    return positives_in_top(y, s, _top_count(len(y), share)) / float(y.sum())


def risk_metrics(y_true, y_score, alert_budget: float = DEFAULT_ALERT_BUDGET) -> dict[str, float]:
    """pr_auc (average precision), precision at the top 1% and 5%, recall at the alert budget,
    plus the counts behind them (n_orders, n_fraud, base_rate, alert_budget)."""
    y, s = _check(y_true, y_score)
    n = len(y)
    out = {
        "pr_auc": pr_auc(y, s) if n else NAN,
        **{name: precision_at_top(y, s, share) for name, share in TOP_SHARES.items()},
        "recall_at_budget": recall_at_top(y, s, alert_budget) if n else NAN,
        "alert_budget": float(alert_budget),
        "n_orders": float(n),
        "n_fraud": float(y.sum()),
        "base_rate": float(y.mean()) if n else NAN,
    }
    return out
