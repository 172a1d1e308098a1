"""Order risk: which orders have a label, and which days train, evaluate and score (pure pandas).

Labels come from chargeback reports (raw.order_labels), which arrive days after the order.
The no-leakage rule, for a model trained at `as_of`:

1. Only reports with reported_on <= as_of exist (warehouse/order_labels.known_labels_frame);
   a later correction replaces an earlier report.
2. An order is LABELLED only once it is mature: placed on or before the label cut-off
   L = as_of - maturity_days, i.e. long enough ago for its chargeback to have arrived. A mature
   order is fraud (1) when its latest known report says fraud, else legitimate (0): reported
   as cleared, or never reported.
3. Orders after L are UNLABELLED (NaN), even when a report already arrived for some of them:
   only the fast-reported frauds of those days are known, so using them would inflate the fraud
   rate of recent days. They are scored, never trained or evaluated on.

Windows (days are order days, UTC):
    evaluation  the last `eval_days` labelled days: [L - eval_days + 1, L]
    training    the labelled days before it: [first order day, L - eval_days]
    final fit   supervised: every labelled day (training + evaluation); unsupervised: every order
    scoring     every order up to as_of (the caller may keep only recent ones)
With maturity_days = 0 the evaluation window is the literal "last eval_days before the cut-off",
and an unreported recent fraud counts as legitimate (a pessimistic evaluation).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from shop_pipeline.features.order_features import ORDER_FEATURES, ORDER_KEY_COLUMNS

DEFAULT_MATURITY_DAYS = 28
DEFAULT_EVAL_DAYS = 14

FEATURE_COLUMNS = tuple(c for c in ORDER_FEATURES if c not in ORDER_KEY_COLUMNS)


def as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


@dataclass(frozen=True)
class RiskWindows:
    """Days (inclusive) of each role; see the module docstring."""

    as_of: dt.date
    maturity_days: int
    eval_days: int
    label_cutoff: dt.date  # L: the last order day with a label
    eval_start: dt.date
    train_end: dt.date  # eval_start - 1 day

    @property
    def eval_window(self) -> tuple[dt.date, dt.date]:
        return (self.eval_start, self.label_cutoff)

    def describe(self) -> str:
        return (
            f"labels known by {self.as_of}, orders mature after {self.maturity_days} days: labelled orders up to "
            f"{self.label_cutoff}; training orders up to {self.train_end}; evaluation orders "
            f"{self.eval_start}..{self.label_cutoff}; later orders are scored only"
        )


def plan_windows(
    as_of: Any, maturity_days: int = DEFAULT_MATURITY_DAYS, eval_days: int = DEFAULT_EVAL_DAYS
) -> RiskWindows:
    """The windows of `as_of`; ValueError for a negative maturity or eval_days < 1."""
    as_of = as_date(as_of)
    if int(maturity_days) != maturity_days or maturity_days < 0:
        raise ValueError(f"maturity_days must be a whole number >= 0, got {maturity_days!r}")
    if int(eval_days) != eval_days or eval_days < 1:
        raise ValueError(f"eval_days must be a whole number >= 1, got {eval_days!r}")
    label_cutoff = as_of - dt.timedelta(days=int(maturity_days))
    eval_start = label_cutoff - dt.timedelta(days=int(eval_days) - 1)
    return RiskWindows(
        as_of, int(maturity_days), int(eval_days), label_cutoff, eval_start, eval_start - dt.timedelta(days=1)
    )


def order_days(features: pd.DataFrame) -> np.ndarray:
    """The order_day column as numpy datetime64[D] (whatever the frame's dtype)."""
    return pd.to_datetime(features["order_day"]).to_numpy().astype("datetime64[D]")


def label_orders(features: pd.DataFrame, known_labels: pd.DataFrame, windows: RiskWindows) -> np.ndarray:
    """float64 per row of `features`: 1 fraud, 0 legitimate, NaN unlabelled (rules 2 and 3).

    `known_labels` has order_id and is_fraud (known_labels_frame(con, windows.as_of)); an
    order_id reported for several customers labels each of their rows.
    """
    fraud_ids = set(known_labels.loc[known_labels["is_fraud"].astype(int) == 1, "order_id"])
    y = features["order_id"].isin(fraud_ids).to_numpy(np.float64)
    mature = order_days(features) <= np.datetime64(windows.label_cutoff, "D")
    y[~mature] = np.nan
    return y


def window_masks(features: pd.DataFrame, y: np.ndarray, windows: RiskWindows) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, evaluation rows) as boolean masks: labelled rows by order day."""
    days = order_days(features)
    labelled = ~np.isnan(y)
    train = labelled & (days <= np.datetime64(windows.train_end, "D"))
    evaluate = (
        labelled & (days >= np.datetime64(windows.eval_start, "D")) & (days <= np.datetime64(windows.label_cutoff, "D"))
    )
    return train, evaluate


def feature_row(row: dict[str, Any], columns: tuple[str, ...]) -> np.ndarray:
    """One order's model inputs as feature_frame makes them (booleans 0/1, NULL and infinities NaN),
    shaped (1, len(columns)), without a one-row DataFrame (the online API scores one order at a time)."""
    values = np.array([np.nan if row[c] is None else float(row[c]) for c in columns], dtype=np.float64)
    values[~np.isfinite(values)] = np.nan
    return values[np.newaxis, :]


def feature_frame(features: pd.DataFrame, columns: tuple[str, ...] = FEATURE_COLUMNS) -> pd.DataFrame:
    """The model inputs as float64 columns (booleans 0/1, NULL and infinities NaN)."""
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"order features are missing columns {missing}")
    X = features.loc[:, list(columns)].astype("float64")
    return X.replace([np.inf, -np.inf], np.nan).reset_index(drop=True)
