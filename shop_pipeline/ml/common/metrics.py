"""Forecast and classification metrics shared by every model (pure numpy / scikit-learn).

Degenerate inputs never raise; they return ``nan`` by these documented rules:

* every metric returns ``nan`` on empty input;
* ``wape`` and ``bias`` return ``nan`` when the actuals sum to zero (the ratio has no
  denominator: "percent of nothing");
* ``roc_auc``, ``pr_auc``, ``lift_at_top_decile`` and ``best_f1_threshold`` return ``nan``
  when the labels hold a single class (they rank positives against negatives);
  ``brier`` and ``f1_at_threshold`` stay defined for a single class (a probability can still
  be scored against an all-negative outcome; F1 is 0 when there are no true positives).

Forecast inputs are array-likes of equal length; NaN values are an error of the caller
(a forecast table must not hold them) and raise ``ValueError``.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

NAN = float("nan")


def _arrays(*arrays) -> list[np.ndarray]:
    out = [np.asarray(a, dtype=float).ravel() for a in arrays]
    n = len(out[0])
    for a in out:
        if len(a) != n:
            raise ValueError(f"inputs differ in length: {[len(x) for x in out]}")
        if np.isnan(a).any():
            raise ValueError("metric inputs contain NaN")
    return out


# ---------------------------------------------------------------- forecast metrics
def wape(actual, pred) -> float:
    """Weighted absolute percentage error: sum|actual - pred| / sum|actual|.

    nan when the actuals sum to zero (or the input is empty).
    """
    a, p = _arrays(actual, pred)
    denom = np.abs(a).sum()
    if len(a) == 0 or denom == 0:
        return NAN
    return float(np.abs(a - p).sum() / denom)


def mae(actual, pred) -> float:
    """Mean absolute error."""
    a, p = _arrays(actual, pred)
    return NAN if len(a) == 0 else float(skm.mean_absolute_error(a, p))


def rmse(actual, pred) -> float:
    """Root mean squared error."""
    a, p = _arrays(actual, pred)
    return NAN if len(a) == 0 else float(math.sqrt(skm.mean_squared_error(a, p)))


def bias(actual, pred) -> float:
    """Relative bias: mean(pred - actual) / mean(actual) = sum(pred - actual) / sum(actual).

    Positive = over-forecast (0.1 means 10% more units forecast than sold), negative =
    under-forecast. nan when the actuals sum to zero. See ``mean_error`` for the plain
    (unit-valued) mean error.
    """
    a, p = _arrays(actual, pred)
    denom = a.sum()
    if len(a) == 0 or denom == 0:
        return NAN
    return float((p - a).sum() / denom)


def mean_error(actual, pred) -> float:
    """Plain mean error mean(pred - actual), in units."""
    a, p = _arrays(actual, pred)
    return NAN if len(a) == 0 else float((p - a).mean())


def interval_coverage(actual, lo, hi) -> float:
    """Share of actuals inside the closed interval [lo, hi]."""
    a, low, high = _arrays(actual, lo, hi)
    if len(a) == 0:
        return NAN
    return float(((a >= low) & (a <= high)).mean())


def forecast_metrics(actual, pred, lo=None, hi=None) -> dict[str, float]:
    """All forecast metrics at once; coverage_80 is nan without an interval."""
    out = {
        "wape": wape(actual, pred),
        "mae": mae(actual, pred),
        "rmse": rmse(actual, pred),
        "bias": bias(actual, pred),
        "coverage_80": NAN,
    }
    if lo is not None and hi is not None:
        out["coverage_80"] = interval_coverage(actual, lo, hi)
    return out


# ---------------------------------------------------------- classification metrics
def _labels_scores(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y, s = _arrays(y_true, y_score)
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0/1")
    return y.astype(int), s


def _single_class(y: np.ndarray) -> bool:
    return len(y) == 0 or y.min() == y.max()


def roc_auc(y_true, y_score) -> float:
    """Area under the ROC curve; nan for a single class."""
    y, s = _labels_scores(y_true, y_score)
    return NAN if _single_class(y) else float(skm.roc_auc_score(y, s))


def pr_auc(y_true, y_score) -> float:
    """Area under the precision-recall curve as average precision; nan for a single class."""
    y, s = _labels_scores(y_true, y_score)
    return NAN if _single_class(y) else float(skm.average_precision_score(y, s))


def brier(y_true, y_prob) -> float:
    """Brier score mean((p - y)^2); defined for a single class, nan when empty."""
    y, p = _labels_scores(y_true, y_prob)
    if len(y) == 0:
        return NAN
    if (p < 0).any() or (p > 1).any():
        raise ValueError("probabilities must be in [0, 1]")
    return float(np.mean((p - y) ** 2))


def lift_at_top_decile(y_true, y_score) -> float:
    """Positive rate among the top 10% by score (ceil(n / 10) rows, ties broken by input
    order) divided by the overall positive rate; nan for a single class."""
    y, s = _labels_scores(y_true, y_score)
    if _single_class(y):
        return NAN
    k = max(1, math.ceil(len(y) / 10))
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def f1_at_threshold(y_true, y_score, threshold: float = 0.5) -> float:
    """F1 of predicting positive when score >= threshold (0 when nothing is right)."""
    y, s = _labels_scores(y_true, y_score)
    if len(y) == 0:
        return NAN
    return float(skm.f1_score(y, (s >= threshold).astype(int), zero_division=0))


def best_f1_threshold(y_true, y_score) -> tuple[float, float]:
    """(threshold, F1) maximising F1 over the score's distinct values; (nan, nan) for a
    single class. Predict positive when score >= threshold."""
    y, s = _labels_scores(y_true, y_score)
    if _single_class(y):
        return NAN, NAN
    precision, recall, thresholds = skm.precision_recall_curve(y, s)
    p, r = precision[:-1], recall[:-1]  # the last point has no threshold
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    i = int(np.argmax(f1))
    return float(thresholds[i]), float(f1[i])


def classification_metrics(y_true, y_prob, threshold: float | None = None) -> dict[str, float]:
    """All classification metrics; F1 at `threshold` (default: the best-F1 threshold)."""
    if threshold is None:
        threshold, _ = best_f1_threshold(y_true, y_prob)
    return {
        "roc_auc": roc_auc(y_true, y_prob),
        "pr_auc": pr_auc(y_true, y_prob),
        "brier": brier(y_true, y_prob),
        "lift_at_top_decile": lift_at_top_decile(y_true, y_prob),
        "f1": NAN if threshold != threshold else f1_at_threshold(y_true, y_prob, threshold),
        "threshold": float(threshold),
    }
