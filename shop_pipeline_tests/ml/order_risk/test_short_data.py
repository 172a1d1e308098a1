"""Order risk on data too thin to train: NotEnoughData with one readable line, not a bare ValueError."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from shop_pipeline.features.order_features import ORDER_FEATURES
from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.order_risk.candidates import CHALLENGER, ISOLATION_FOREST
from shop_pipeline.ml.order_risk.data import FEATURE_COLUMNS, plan_windows
from shop_pipeline.ml.order_risk.train import fit_final, run_order_risk_frames

AS_OF = dt.date(2025, 1, 14)
NO_LABELS = pd.DataFrame({"order_id": pd.Series(dtype=object), "is_fraud": pd.Series(dtype="int8")})


def _orders(days: int) -> pd.DataFrame:
    """One order a day ending at AS_OF, every feature 1.0 (only their count and days matter here)."""
    frame = pd.DataFrame({name: np.ones(days) for name in FEATURE_COLUMNS})
    frame["order_id"] = [f"o{i}" for i in range(days)]
    frame["customer_id"] = "c1"
    frame["order_day"] = pd.date_range(end=pd.Timestamp(AS_OF), periods=days, freq="D")
    return frame[[c for c in ORDER_FEATURES if c in frame.columns]]


def test_a_shop_without_orders_cannot_train_order_risk():
    empty = pd.DataFrame({name: pd.Series(dtype="float64") for name in ORDER_FEATURES})
    with pytest.raises(NotEnoughData) as error:
        run_order_risk_frames(empty, NO_LABELS, AS_OF)
    line = str(error.value)
    assert line.startswith("order risk: no orders before the cut-off 2025-01-14") and "\n" not in line
    windows = plan_windows(AS_OF)
    with pytest.raises(NotEnoughData, match="no orders to fit"):
        fit_final(empty, np.zeros(0), ISOLATION_FOREST, windows)


def test_too_few_frauds_for_the_supervised_model_is_not_enough_data_but_a_bad_candidate_is_an_error():
    orders = _orders(40)
    y = np.zeros(len(orders))
    y[:2] = 1  # two frauds: fewer than MIN_CLASS_COUNT
    windows = plan_windows(AS_OF, maturity_days=0)
    with pytest.raises(NotEnoughData, match=f"cannot train {CHALLENGER}: 2 fraudulent"):
        fit_final(orders, y, CHALLENGER, windows)
    with pytest.raises(ValueError) as error:
        fit_final(orders, y, "no_such_model", windows)
    assert not isinstance(error.value, NotEnoughData)  # a programming error stays a real failure


def test_a_fortnight_of_orders_still_trains_the_unsupervised_forest():
    """14 days: no order is old enough for its chargeback (28 days), so nothing is measured, yet
    the isolation forest trains and scores (unvalidated): order risk is not skipped on a short shop."""
    run = run_order_risk_frames(_orders(14), NO_LABELS, AS_OF)
    assert run.mode == "unsupervised" and run.serving_candidate == ISOLATION_FOREST
    assert run.fitted.training_rows == 14
