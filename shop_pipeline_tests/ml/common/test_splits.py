import datetime as dt

import pytest

from shop_pipeline.ml.common.splits import Fold, rolling_origin_folds


def test_folds_are_rolling_and_do_not_leak():
    folds = rolling_origin_folds(dt.date(2025, 3, 31), n_folds=3, horizon_days=14, step_days=7)
    assert folds == [
        Fold(dt.date(2025, 3, 3), dt.date(2025, 3, 4), dt.date(2025, 3, 17)),
        Fold(dt.date(2025, 3, 10), dt.date(2025, 3, 11), dt.date(2025, 3, 24)),
        Fold(dt.date(2025, 3, 17), dt.date(2025, 3, 18), dt.date(2025, 3, 31)),
    ]
    for f in folds:
        assert f.test_start > f.train_end  # train days <= train_end < every test day
        assert (f.test_end - f.train_end).days == 14


def test_folds_accept_strings_and_drop_folds_without_training_days():
    folds = rolling_origin_folds("2025-01-20", 3, 14, 7, first_day="2025-01-01")
    assert [f.train_end for f in folds] == [dt.date(2025, 1, 6)]
    with pytest.raises(ValueError, match="no rolling-origin fold"):
        rolling_origin_folds("2025-01-10", 3, 14, 7, first_day="2025-01-01")
    with pytest.raises(ValueError):
        rolling_origin_folds("2025-01-10", 0)
