"""Propensity data: which cut-offs train, evaluate and score (WindowPlan), and the labelled
frames (features at a cut-off joined with what the customers did in the h days after it).

Cut-off convention of shop_pipeline.features.columns: features at day D use events up to D;
labels at D cover D+1 .. D+h. Nothing after the scoring cut-off influences a model.

    two_window           T1 = as_of - 2h, T2 = as_of - h, when T1 is MIN_HISTORY_DAYS into the
        data and both labelled windows hold MIN_SUPERVISED_CUSTOMERS / MIN_SUPERVISED_BUYERS:
        supervised train on (features at T1, labels (T1, T2]); probabilistic calibration on the
        history up to T2; every candidate evaluated on (features at T2, labels (T2, as_of]).
    calibration_holdout  otherwise: the probabilistic models' calibration (up to T2) / holdout
        ((T2, as_of]); a horizon longer than the history allows is evaluated on a shorter
        holdout (at least MIN_CALIBRATION_DAYS of calibration) while the served model still
        predicts h days. Supervised candidates do not compete; the plan's note says why.
    not enough data      fewer than MIN_CALIBRATION_DAYS + MIN_HOLDOUT_DAYS days: NotEnoughData.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shop_pipeline.features.columns import CUSTOMER_FEATURES
from shop_pipeline.ml.common.errors import NotEnoughData

RFM_COLUMNS = ("recency_days", "frequency", "monetary")
NON_FEATURE_COLUMNS = ("customer_id", "as_of", "first_seen", "last_seen")
ALL_NUMERIC_COLUMNS = tuple(c for c in CUSTOMER_FEATURES if c not in NON_FEATURE_COLUMNS)
MIN_CLASS_COUNT = 5
MIN_HISTORY_DAYS = 7  # features of a supervised training window: at least a week of data
MIN_CALIBRATION_DAYS = 28  # a probabilistic model sees repeat purchases in four weeks or more
MIN_HOLDOUT_DAYS = 7
# A supervised candidate competes when each labelled window (training and held-out) holds at
# least these: 40 buyers are 10 per parameter of the baseline logistic regression (3 RFM
# features and the intercept), the usual floor for a stable fit; below them the probabilistic
# models, which need no labels, serve.
MIN_SUPERVISED_CUSTOMERS = 100
MIN_SUPERVISED_BUYERS = 40


class SingleClassLabelsError(NotEnoughData):
    """A label window in which (almost) nobody or (almost) everybody bought."""


@dataclass(frozen=True)
class WindowPlan:
    """Which cut-offs train, evaluate and score; see the module docstring."""

    mode: str  # "two_window" | "calibration_holdout"
    as_of: dt.date  # scoring cut-off (features at as_of)
    horizon_days: int  # h: what the served model predicts
    data_start: dt.date  # first day with events
    train_cutoff: dt.date | None  # T1 (two_window only)
    eval_cutoff: dt.date  # T2: end of the calibration, features of the held-out window
    note: str

    @property
    def supervised(self) -> bool:
        return self.mode == "two_window"

    @property
    def eval_horizon_days(self) -> int:
        """Length of the held-out window (h, or shorter in calibration_holdout on short data)."""
        return (self.as_of - self.eval_cutoff).days

    @property
    def train_label_window(self) -> tuple[dt.date, dt.date] | None:
        """Inclusive days of the supervised training labels (None without them)."""
        if self.train_cutoff is None:
            return None
        return (self.train_cutoff + dt.timedelta(days=1), self.eval_cutoff)

    @property
    def eval_label_window(self) -> tuple[dt.date, dt.date]:
        """Inclusive days of the held-out labels (also the supervised final refit's labels)."""
        return (self.eval_cutoff + dt.timedelta(days=1), self.as_of)


def as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def shift_days(d: dt.date, n: int) -> dt.date:
    return d + dt.timedelta(days=n)


def calibration_holdout_plan(as_of: Any, horizon_days: int, data_start: Any, why: str) -> WindowPlan:
    """The probabilistic models' calibration / holdout plan (module docstring); `why` says
    why the supervised candidates do not compete. NotEnoughData on too short a history."""
    as_of, data_start = as_date(as_of), as_date(data_start)
    h = int(horizon_days)
    span = (as_of - data_start).days + 1  # days with data up to the cut-off
    holdout = h if span - h >= MIN_CALIBRATION_DAYS else span - max(MIN_CALIBRATION_DAYS, span // 2)
    if holdout < MIN_HOLDOUT_DAYS:
        raise NotEnoughData(
            f"customer propensity and value: need {MIN_CALIBRATION_DAYS + MIN_HOLDOUT_DAYS} days of history "
            f"before the cut-off ({MIN_CALIBRATION_DAYS} to calibrate, {MIN_HOLDOUT_DAYS} to hold out), "
            f"have {span} ({data_start}..{as_of})"
        )
    t2 = shift_days(as_of, -holdout)
    shorter = (
        f"; the {h}-day horizon does not fit after {MIN_CALIBRATION_DAYS} days of calibration, so the "
        f"held-out window is the last {holdout} days (the served model still predicts {h} days)"
        if holdout < h
        else ""
    )
    note = (
        f"calibration / holdout: probabilistic models fitted on the history {data_start}..{t2}, held out "
        f"{shift_days(t2, 1)}..{as_of}, refit on the whole history for scoring{shorter}; supervised "
        f"candidates do not compete: {why}"
    )
    return WindowPlan("calibration_holdout", as_of, h, data_start, None, t2, note)


def plan_windows(
    as_of: Any, horizon_days: int, data_start: Any, min_history_days: int = MIN_HISTORY_DAYS
) -> WindowPlan:
    """Choose the windows for `as_of` and `horizon_days` given the first day with data (by the
    dates only; `run_propensity` also checks that the training window holds enough customers)."""
    as_of, data_start = as_date(as_of), as_date(data_start)
    if int(horizon_days) < 1:
        raise ValueError(f"propensity horizon must be at least 1 day, got {horizon_days}")
    h = int(horizon_days)
    if as_of < data_start:
        raise ValueError(f"as_of {as_of} is before the first day with data ({data_start})")
    t2 = shift_days(as_of, -h)
    t1 = shift_days(as_of, -2 * h)
    earliest = shift_days(data_start, min_history_days - 1)
    if t1 >= earliest:
        return WindowPlan(
            "two_window",
            as_of,
            h,
            data_start,
            t1,
            t2,
            f"supervised train: features at {t1}, labels {shift_days(t1, 1)}..{t2}; probabilistic "
            f"calibration: history {data_start}..{t2}; held-out: features at {t2}, labels "
            f"{shift_days(t2, 1)}..{as_of}",
        )
    why = (
        f"a labelled {h}-day training window needs data from {shift_days(t1, 1 - min_history_days)} "
        f"({min_history_days} days of features before {t1}, then {h} days of labels before the held-out "
        f"window), data starts {data_start}"
    )
    return calibration_holdout_plan(as_of, h, data_start, why)


def feature_matrix(features: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> np.ndarray:
    """float64 matrix of `columns`; infinities become NaN, negatives are clipped to 0
    (every customer feature is a non-negative count, sum, rate or number of days)."""
    if not columns:
        return np.empty((len(features), 0))
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"customer features are missing columns {missing}")
    X = features.loc[:, list(columns)].to_numpy(dtype=np.float64, na_value=np.nan)
    X[~np.isfinite(X)] = np.nan
    np.maximum(X, 0.0, out=X, where=~np.isnan(X))
    return X


def join_labels(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Features left-joined with labels on customer_id; a customer without a label row did not
    buy (purchased 0, orders 0, spend 0). Customers first seen in the label window have no
    features and are not part of the frame."""
    lab = labels.loc[:, ["customer_id", "purchased", "orders", "spend"]]
    out = features.merge(lab, on="customer_id", how="left", validate="one_to_one")
    out["purchased"] = out["purchased"].fillna(0).astype(np.int8)
    out["orders"] = out["orders"].fillna(0).astype(np.float64)
    out["spend"] = out["spend"].fillna(0).astype(np.float64)
    return out


def check_labels(y: np.ndarray, window: str) -> None:
    y = np.asarray(y)
    n, pos = len(y), int(np.sum(y == 1))
    neg = n - pos
    if min(pos, neg) < MIN_CLASS_COUNT:
        what = (
            "nobody bought"
            if pos == 0
            else "everybody bought"
            if neg == 0
            else f"only {min(pos, neg)} {'buyers' if pos < neg else 'non-buyers'}"
        )
        raise SingleClassLabelsError(
            f"label window {window}: {what} ({pos} of {n} customers purchased); a propensity "
            f"model needs at least {MIN_CLASS_COUNT} customers of each class. Choose another "
            f"as_of or horizon, or land more data"
        )


def supervised_shortfall(train: pd.DataFrame, held_out: pd.DataFrame) -> str | None:
    """Why the labelled windows are too thin for the supervised candidates, or None."""
    buyers_train, buyers_held = int(train["purchased"].sum()), int(held_out["purchased"].sum())
    if (
        len(train) < MIN_SUPERVISED_CUSTOMERS
        or buyers_train < MIN_SUPERVISED_BUYERS
        or buyers_held < MIN_SUPERVISED_BUYERS
        or len(train) - buyers_train < MIN_CLASS_COUNT
    ):
        return (
            f"the labelled training window holds {len(train)} customers and {buyers_train} buyers "
            f"({buyers_held} buyers held out); supervised candidates need at least "
            f"{MIN_SUPERVISED_CUSTOMERS} customers and {MIN_SUPERVISED_BUYERS} buyers in each window"
        )
    return None
