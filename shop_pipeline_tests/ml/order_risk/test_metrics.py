"""Alert metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shop_pipeline.ml.order_risk.metrics import (
    RISK_METRICS,
    positives_in_top,
    precision_at_top,
    recall_at_top,
    risk_metrics,
)

# ten orders, best score first; frauds at ranks 1 and 3
Y = [1, 0, 1, 0, 0, 0, 0, 0, 0, 0]
S = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]


def test_precision_and_recall_at_the_top_by_hand():
    assert precision_at_top(Y, S, 0.1) == 1.0  # top 1: the fraud
    assert precision_at_top(Y, S, 0.2) == 0.5  # top 2: fraud, legit
    assert precision_at_top(Y, S, 0.3) == pytest.approx(2 / 3)
    assert recall_at_top(Y, S, 0.2) == 0.5
    assert recall_at_top(Y, S, 0.3) == 1.0
    assert precision_at_top(Y, S, 1.0) == 0.2  # everything flagged: the base rate


def test_the_top_count_rounds_up_and_is_at_least_one():
    y = np.zeros(150)
    y[1] = 1
    s = -np.arange(150.0)  # row 0 first, row 1 second
    assert precision_at_top(y, s, 0.01) == 0.5  # ceil(1.5) = 2 orders: one fraud
    assert precision_at_top([0, 1], [0.0, 1.0], 0.01) == 1.0  # ceil(0.02) = 1


def test_ties_are_shared_whatever_the_row_order():
    # top 2 of 4; three orders tie at the top with one fraud among them: 2 x 1/3 expected frauds
    y, s = np.array([1, 0, 0, 1]), np.array([1.0, 1.0, 1.0, 0.0])
    assert positives_in_top(y, s, 2) == pytest.approx(2 / 3)
    assert precision_at_top(y, s, 0.5) == pytest.approx(1 / 3)
    assert recall_at_top(y, s, 0.5) == pytest.approx(1 / 3)
    order = np.array([3, 1, 0, 2])
    assert precision_at_top(y[order], s[order], 0.5) == pytest.approx(1 / 3)


def test_risk_metrics_by_hand():
    m = risk_metrics(Y, S, alert_budget=0.2)
    assert set(RISK_METRICS) <= set(m)
    assert m["pr_auc"] == pytest.approx((1 / 1 + 2 / 3) / 2)  # average precision at each fraud's rank
    assert m["precision_at_1pct"] == 1.0 and m["precision_at_5pct"] == 1.0  # ceil(0.1), ceil(0.5) = 1 order
    assert m["recall_at_budget"] == 0.5
    assert (m["n_orders"], m["n_fraud"], m["base_rate"], m["alert_budget"]) == (10, 2, 0.2, 0.2)


def test_degenerate_inputs_are_defined():
    empty = risk_metrics([], [])
    assert all(math.isnan(empty[name]) for name in RISK_METRICS) and empty["n_orders"] == 0
    no_fraud = risk_metrics([0, 0, 0], [0.3, 0.2, 0.1])
    assert math.isnan(no_fraud["pr_auc"]) and math.isnan(no_fraud["recall_at_budget"])
    assert no_fraud["precision_at_1pct"] == 0.0
    only_fraud = risk_metrics([1, 1], [0.3, 0.2])
    assert math.isnan(only_fraud["pr_auc"]) and only_fraud["precision_at_5pct"] == 1.0
    assert only_fraud["recall_at_budget"] == 0.5  # ceil(0.02 x 2) = 1 of 2 frauds


def test_bad_input_is_an_error():
    with pytest.raises(ValueError, match="differ in length"):
        precision_at_top([1, 0], [0.5], 0.1)
    with pytest.raises(ValueError, match="NaN"):
        precision_at_top([1, 0], [0.5, float("nan")], 0.1)
    with pytest.raises(ValueError, match="0/1"):
        precision_at_top([2, 0], [0.5, 0.1], 0.1)
    with pytest.raises(ValueError, match="share"):
        precision_at_top([1, 0], [0.5, 0.1], 0.0)
