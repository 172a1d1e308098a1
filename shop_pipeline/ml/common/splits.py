"""Rolling-origin folds over days (pure)."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import pandas as pd

from shop_pipeline.ml.common.errors import NotEnoughData


class Fold(NamedTuple):
    """One backtest fold: train on days <= train_end, test on days in [test_start, test_end]
    = (train_end, train_end + horizon]."""

    train_end: dt.date
    test_start: dt.date
    test_end: dt.date


def as_date(value) -> dt.date:
    """A date from a date, datetime, numpy/pandas timestamp or ISO string."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def rolling_origin_folds(
    last_day, n_folds: int = 3, horizon_days: int = 14, step_days: int = 7, first_day=None
) -> list[Fold]:
    """`n_folds` folds, oldest first; the last fold's test window ends on `last_day` and each
    earlier fold's origin is `step_days` earlier. Test windows of neighbouring folds may
    overlap each other (step < horizon), never their own training days.

    With `first_day`, folds whose origin falls before it (no training day) are dropped;
    NotEnoughData (a ValueError) when none is left.
    """
    if n_folds < 1 or horizon_days < 1 or step_days < 1:
        raise ValueError(f"n_folds, horizon_days, step_days must be >= 1 (got {n_folds}, {horizon_days}, {step_days})")
    last = as_date(last_day)
    folds = []
    for k in range(n_folds - 1, -1, -1):
        train_end = last - dt.timedelta(days=horizon_days + k * step_days)
        folds.append(Fold(train_end, train_end + dt.timedelta(days=1), train_end + dt.timedelta(days=horizon_days)))
    if first_day is not None:
        first = as_date(first_day)
        folds = [f for f in folds if f.train_end >= first]
        if not folds:
            raise NotEnoughData(
                f"no rolling-origin fold fits: {(last - first).days + 1} days of data ({first} .. {last}) "
                f"are fewer than a {horizon_days}-day horizon plus one training day"
            )
    return folds
