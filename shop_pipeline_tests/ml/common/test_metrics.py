import math

import numpy as np
import pytest

from shop_pipeline.ml.common.metrics import (
    best_f1_threshold,
    bias,
    brier,
    classification_metrics,
    f1_at_threshold,
    forecast_metrics,
    interval_coverage,
    lift_at_top_decile,
    mae,
    mean_error,
    pr_auc,
    rmse,
    roc_auc,
    wape,
)


def test_wape():
    # |1-2| + |3-3| + |4-2| = 3; sum actual = 8 -> 3 / 8
    assert wape([1, 3, 4], [2, 3, 2]) == pytest.approx(0.375)


def test_wape_all_zero_actuals_is_nan():
    assert math.isnan(wape([0, 0], [1, 0]))
    assert math.isnan(wape([], []))


def test_mae_rmse():
    # errors -1, 0, 2 -> MAE 3/3 = 1; RMSE sqrt((1 + 0 + 4) / 3)
    assert mae([1, 3, 4], [2, 3, 2]) == pytest.approx(1.0)
    assert rmse([1, 3, 4], [2, 3, 2]) == pytest.approx(math.sqrt(5 / 3))


def test_bias_and_mean_error():
    # pred - actual = 1, 0, -2 -> sum -1; sum actual 8 -> -1/8; mean error -1/3
    assert bias([1, 3, 4], [2, 3, 2]) == pytest.approx(-0.125)
    assert mean_error([1, 3, 4], [2, 3, 2]) == pytest.approx(-1 / 3)
    assert math.isnan(bias([0, 0], [1, 1]))


def test_interval_coverage():
    # 1 in [0, 2] yes; 5 in [1, 4] no; 3 in [3, 3] yes (closed) -> 2/3
    assert interval_coverage([1, 5, 3], [0, 1, 3], [2, 4, 3]) == pytest.approx(2 / 3)


def test_nan_input_is_an_error():
    with pytest.raises(ValueError):
        wape([1, np.nan], [1, 1])
    with pytest.raises(ValueError):
        mae([1, 2], [1])


def test_roc_auc():
    # positives scored 0.8, 0.4; negatives 0.6, 0.2: pairs (pos > neg): 0.8>0.6, 0.8>0.2,
    # 0.4>0.2 yes, 0.4>0.6 no -> 3/4
    assert roc_auc([1, 0, 1, 0], [0.8, 0.6, 0.4, 0.2]) == pytest.approx(0.75)


def test_pr_auc_average_precision():
    # ranked 0.8(+), 0.6(-), 0.4(+), 0.2(-): precision at each positive 1/1, 2/3;
    # AP = (1 + 2/3) / 2 = 5/6
    assert pr_auc([1, 0, 1, 0], [0.8, 0.6, 0.4, 0.2]) == pytest.approx(5 / 6)


def test_brier():
    # ((0.8-1)^2 + (0.6-0)^2 + (0.4-1)^2 + (0.2-0)^2) / 4 = (0.04 + 0.36 + 0.36 + 0.04) / 4
    assert brier([1, 0, 1, 0], [0.8, 0.6, 0.4, 0.2]) == pytest.approx(0.2)
    assert brier([0, 0], [0.1, 0.3]) == pytest.approx(0.05)  # single class stays defined


def test_lift_at_top_decile():
    # 20 rows, 4 positives (rate 0.2); top decile = 2 rows, both positive (rate 1) -> lift 5
    y = [1, 1, 1, 1] + [0] * 16
    s = [0.99, 0.98, 0.1, 0.1] + [0.5] * 16
    assert lift_at_top_decile(y, s) == pytest.approx(5.0)
    # 11 rows -> top ceil(1.1) = 2 rows: one positive of two (0.5) over overall 2/11
    assert lift_at_top_decile([1] + [0] * 9 + [1], [0.9, 0.8] + [0.1] * 9) == pytest.approx(0.5 / (2 / 11))


def test_f1_at_threshold():
    # threshold 0.5 -> predicted positive 0.8, 0.6: TP 1, FP 1, FN 1 -> P 1/2, R 1/2, F1 1/2
    assert f1_at_threshold([1, 0, 1, 0], [0.8, 0.6, 0.4, 0.2], 0.5) == pytest.approx(0.5)
    assert f1_at_threshold([0, 0], [0.9, 0.1], 0.5) == 0.0


def test_best_f1_threshold():
    # thresholds: 0.8 -> P1 R1/2 F1 2/3; 0.6 -> P1/2 R1/2 F1 1/2; 0.4 -> P2/3 R1 F1 0.8; 0.2 -> P1/2 R1 F1 2/3
    t, f1 = best_f1_threshold([1, 0, 1, 0], [0.8, 0.6, 0.4, 0.2])
    assert t == pytest.approx(0.4)
    assert f1 == pytest.approx(0.8)


@pytest.mark.parametrize("fn", [roc_auc, pr_auc, lift_at_top_decile])
def test_single_class_is_nan(fn):
    assert math.isnan(fn([1, 1, 1], [0.2, 0.5, 0.9]))
    assert math.isnan(fn([0, 0, 0], [0.2, 0.5, 0.9]))


def test_best_f1_single_class_and_bundles():
    t, f1 = best_f1_threshold([0, 0], [0.1, 0.2])
    assert math.isnan(t) and math.isnan(f1)
    out = classification_metrics([0, 0], [0.1, 0.2])
    assert math.isnan(out["roc_auc"]) and math.isnan(out["f1"]) and out["brier"] == pytest.approx(0.025)
    fm = forecast_metrics([1, 3, 4], [2, 3, 2])
    assert fm["wape"] == pytest.approx(0.375) and math.isnan(fm["coverage_80"])
