"""PSI against hand-computed cases: bins at the reference's quantiles, right-closed, floored shares."""

import math

import numpy as np
import pandas as pd
import pytest

from shop_pipeline.ml.common import psi
from shop_pipeline.ml.common.psi import psi_against, reference_bins


def test_identical_samples_have_zero_psi():
    sample = np.arange(100, dtype=float)
    assert psi.psi(sample, sample.copy()) == 0.0


def test_two_bins_by_hand():
    # reference 0..9: the median 4.5 splits it 5 / 5 -> shares (0.5, 0.5)
    # current: eight values <= 4.5 and two above -> shares (0.8, 0.2)
    # PSI = (0.8 - 0.5) ln(0.8 / 0.5) + (0.2 - 0.5) ln(0.2 / 0.5) = 0.3 ln 1.6 + 0.3 ln 2.5 = 0.3 ln 4
    reference = list(range(10))
    current = [0] * 8 + [9] * 2
    assert psi.quantile_edges(reference, bins=2).tolist() == [4.5]
    assert psi.psi(reference, current, bins=2) == pytest.approx(0.3 * math.log(4))


def test_an_empty_bin_is_floored_so_the_value_stays_finite():
    # every current value falls in the lower bin: shares (1, 0) -> (1, 1e-4) after the floor
    value = psi.psi(list(range(10)), [0.0] * 10, bins=2)
    expected = (1 - 0.5) * math.log(1 / 0.5) + (psi.SHARE_FLOOR - 0.5) * math.log(psi.SHARE_FLOOR / 0.5)
    assert value == pytest.approx(expected)


def test_quartile_bins_hold_equal_reference_shares_and_are_right_closed():
    reference = np.arange(1, 101, dtype=float)
    edges = psi.quantile_edges(reference, bins=4)
    assert edges.tolist() == pytest.approx([25.75, 50.5, 75.25])
    assert psi.bin_shares(reference, edges).tolist() == [0.25] * 4
    # a value equal to an edge belongs to the bin below it
    assert psi.bin_shares([25.75, 50.5], edges).tolist() == [0.5, 0.5, 0.0, 0.0]


def test_a_constant_reference_gives_two_bins():
    assert psi.quantile_edges([5.0] * 10).tolist() == [5.0]
    assert psi.psi([5.0] * 10, [5.0] * 4) == 0.0
    # all the mass moves above the constant: shares (1, 0) -> (1e-4, 1)
    floor = psi.SHARE_FLOOR
    expected = (floor - 1) * math.log(floor / 1) + (1 - floor) * math.log(1 / floor)
    assert psi.psi([5.0] * 10, [6.0] * 10) == pytest.approx(expected)


def test_nan_is_dropped_and_an_empty_side_is_an_error():
    assert psi.psi([0, 1, 2, 3, float("nan")], [0, 1, 2, 3]) == 0.0
    with pytest.raises(ValueError, match="empty"):
        psi.psi([], [1.0])
    with pytest.raises(ValueError, match="empty"):
        psi.psi([1.0, 2.0], [float("nan")])


def test_a_shifted_distribution_is_a_major_shift_and_a_resample_is_stable():
    rng = np.random.default_rng(3)
    reference = rng.normal(0, 1, 5000)
    assert psi.shift_label(psi.psi(reference, rng.normal(0, 1, 5000))) == "stable"
    assert psi.shift_label(psi.psi(reference, rng.normal(1, 1, 5000))) == "major shift"


def test_psi_by_column_marks_a_column_without_values_as_not_measurable():
    reference = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [None, None, None, None]})
    current = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, 2.0, 3.0, 4.0]})
    rows = {row.feature: row for row in psi.psi_by_column(reference, current, ["a", "b"], bins=2)}
    assert rows["a"].psi == 0.0 and rows["a"].label == "stable"
    assert math.isnan(rows["b"].psi) and rows["b"].label == "not measurable"
    assert (rows["b"].reference_rows, rows["b"].current_rows) == (0, 4)
    table = psi.drift_markdown(list(rows.values()))
    assert "| b | n/a | not measurable | 0 | 4 |" in table


# ---------------------------------------------------------------------------- stored references


def _frames():
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"a": rng.normal(0, 1, 4000), "b": rng.integers(0, 4, 4000).astype(float)})
    current = pd.DataFrame({"a": rng.normal(0.4, 1.2, 900), "b": rng.integers(1, 6, 900).astype(float)})
    reference.loc[::9, "a"] = np.nan
    return reference, current


def test_psi_against_stored_bins_equals_psi_of_the_reference_sample():
    reference, current = _frames()
    direct = psi.psi_by_column(reference, current, ["a", "b"], bins=10)
    stored = psi_against(reference_bins(reference, ["a", "b"], 10), current)
    assert stored == direct and all(row.psi > 0.1 for row in stored)
