"""The statistical forecast family and the demand segments on tiny series with known answers."""

import numpy as np
import pandas as pd
import pytest

from shop_pipeline.ml.demand_forecast import statistical as st
from shop_pipeline.ml.demand_forecast.data import build_panel
from shop_pipeline.ml.demand_forecast.evaluate import (
    SEGMENT_MIN_ROWS,
    SEGMENT_PRIOR,
    choose_by_segment,
    nested_by_segment,
)

NAN = np.nan


def test_croston_on_a_fixed_series():
    # first demand 3 at position 3 (z = 3, p = 3); next demand 6 after 4 periods: z = 3.3, p = 3.1
    assert st.croston(np.array([[0, 0, 3, 0, 0, 0, 6, 0.0]]))[0] == pytest.approx(3.3 / 3.1)
    assert st.croston(np.zeros((1, 5)))[0] == 0.0  # nothing sold: 0


def test_croston_ignores_days_off_the_grid():
    # a leading NaN (before the product's first day) is not a period
    assert st.croston(np.array([[NAN, NAN, 0, 0, 3, 0, 0, 0, 6, 0.0]]))[0] == pytest.approx(3.3 / 3.1)


def test_tsb_probability_decays_while_nothing_sells():
    # d: 0 -> 0 -> 0.1 -> 0.09 ... ; z = 5 from the first demand
    y = np.array([[0, 0, 5, 0, 0.0]])
    d = 0.0
    for dem in (0, 1, 0, 0):
        d += 0.1 * (dem - d)
    assert st.tsb(y)[0] == pytest.approx(d * 5.0)


def test_adida_buckets_of_the_mean_interval():
    # ADI = 8 / 4 = 2: buckets (0,2), (0,2), (0,2), (0,2) -> sums 2, level 2, / 2 = 1 per day
    assert st.adida(np.array([[0, 2, 0, 2, 0, 2, 0, 2.0]]))[0] == pytest.approx(1.0)


def test_last_value_and_window_means():
    y = np.array([[1, 2, 3, 4, 5, 6, 7, 8.0], [NAN, NAN, NAN, NAN, NAN, NAN, 2, NAN]])
    assert st.last_value(y).tolist() == [8.0, 0.0]
    assert st.window_mean(y, 7).tolist() == [5.0, 2.0]  # mean of the days on the grid
    assert st.window_mean(y, 2).tolist() == [7.5, 2.0]


def test_damped_trend_follows_a_line_and_damps():
    y = np.arange(1.0, 41.0)[None, :]
    dow = np.arange(40 + 3) % 7
    f = st.ets_damped(y, np.ones(7), dow, np.array([1, 2, 3]))[0]
    assert 39.5 < f[0] < f[1] < f[2] < 44.0  # keeps rising, less than a straight line
    flat = st.ets_damped(np.full((1, 30), 4.0), np.ones(7), np.arange(44) % 7, np.array([1, 14]))[0]
    assert flat == pytest.approx([4.0, 4.0])


def test_segments_by_adi_and_cv2():
    y = np.array(
        [
            [5, 6, 5, 6, 5, 6, 5.0],  # sells every day, steady: smooth
            [1, 20, 1, 30, 2, 1, 1.0],  # every day, sizes vary: erratic
            [0, 0, 4, 0, 0, 4, 0.0],  # every 3rd day, same size: intermittent
            [1, 0, 0, 9, 0, 0, 1.0],  # both: lumpy
            [0, 0, 0, 0, 0, 0, 0.0],
        ]
    )
    assert st.classify(y).tolist() == ["smooth", "erratic", "intermittent", "lumpy", "no_demand"]


def test_forecast_methods_on_a_panel_and_an_unknown_product():
    days = pd.date_range("2025-01-01", periods=28)
    history = pd.DataFrame(
        {
            "product_id": ["a"] * 28,
            "day": days,
            "category": "c",
            "units": [0, 0, 3, 0, 0, 0, 6, 0] * 3 + [0, 0, 3, 0],
        }
    )
    panel = build_panel(history)
    out, segment = st.forecast_methods(panel, np.array([0, 0, -1]), 27, np.array([1, 2, 1]), st.STAT_METHODS)
    assert segment.tolist() == ["intermittent", "intermittent", "no_history"]  # sizes 3 and 6: CV2 0.12
    assert out["last_value"].tolist() == [0.0, 0.0, 0.0]
    assert out["mean_7"][0] == pytest.approx(9 / 7)
    assert set(out) == set(st.STAT_METHODS)
    assert all(np.isfinite(v).all() and (v >= 0).all() for v in out.values())


def test_by_segment_switches_only_where_another_candidate_is_clearly_better():
    n = SEGMENT_MIN_ROWS
    rows = []
    for segment, errors in (
        ("smooth", {"challenger": 1.0, "croston": 5.0}),
        ("lumpy", {"challenger": 3.0, "croston": 1.0}),
    ):
        for cand, err in errors.items():
            rows.append(
                pd.DataFrame({"segment": segment, "candidate": cand, "actual": np.full(n, 10.0), "p50": 10.0 + err})
            )
    choice = choose_by_segment(pd.concat(rows, ignore_index=True))
    assert choice == {"*": "challenger", "lumpy": "croston"}


def _fold_rows(fold: int, origin: str, errors: dict[str, float], days: int = 14) -> pd.DataFrame:
    """SEGMENT_MIN_ROWS lumpy products x `days` days after `origin`, actual 10, p50 = 10 + error."""
    n = SEGMENT_MIN_ROWS
    day = pd.Timestamp(origin) + pd.to_timedelta(np.repeat(np.arange(1, days + 1), n), unit="D")
    base = pd.DataFrame({"fold": fold, "train_end": pd.Timestamp(origin).date(), "segment": "lumpy", "day": day})
    return pd.concat(
        [base.assign(candidate=c, actual=10.0, p50=10.0 + e) for c, e in errors.items()], ignore_index=True
    )


def test_by_segment_is_measured_on_folds_its_choice_has_not_seen():
    # croston wins the lumpy segment on fold 1 and the challenger on folds 2 and 3 (and pooled): a choice
    # made on the folds it is scored on would take the winner of each fold and beat every candidate;
    # chosen on earlier folds only, by_segment serves croston on folds 2 and 3, where it loses
    predictions = pd.concat(
        [
            _fold_rows(1, "2025-03-01", {"challenger": 4.0, "croston": 1.0}),
            _fold_rows(2, "2025-03-15", {"challenger": 1.0, "croston": 4.0}),
            _fold_rows(3, "2025-03-29", {"challenger": 1.0, "croston": 4.0}),
        ],
        ignore_index=True,
    )
    rows, used = nested_by_segment(predictions)
    assert used[1] == {"*": SEGMENT_PRIOR}  # nothing known at the first origin
    assert used[2] == {"*": "croston"}  # fold 1 only: every day of it ends by fold 2's origin
    assert used[3] == {"*": "croston"}  # fold 1 + fold 2 pooled: 4 + 1 vs 1 + 4, a tie goes to the earlier
    err = rows.assign(e=(rows["actual"] - rows["p50"]).abs()).groupby("fold")["e"].mean()
    assert err.tolist() == [4.0, 4.0, 4.0]
    challenger = predictions[predictions["candidate"] == "challenger"]
    assert (rows["actual"] - rows["p50"]).abs().sum() > (challenger["actual"] - challenger["p50"]).abs().sum()
    # the refit's choice is made on every fold
    assert choose_by_segment(predictions) == {"*": "challenger"}


def test_by_segment_ignores_the_days_after_its_origin():
    # fold 2's origin is 7 days into fold 1's window: only fold 1's first 7 days are known there;
    # its last 7 days (where croston is better) must not move fold 2's choice
    first = _fold_rows(1, "2025-03-01", {"challenger": 1.0, "croston": 2.0})
    late = first["day"] > pd.Timestamp("2025-03-08")
    first.loc[late & (first["candidate"] == "croston"), "p50"] = 10.0
    first.loc[late & (first["candidate"] == "challenger"), "p50"] = 30.0
    predictions = pd.concat([first, _fold_rows(2, "2025-03-08", {"challenger": 1.0, "croston": 2.0})])
    _rows, used = nested_by_segment(predictions.reset_index(drop=True))
    assert used[2] == {"*": "challenger"}
