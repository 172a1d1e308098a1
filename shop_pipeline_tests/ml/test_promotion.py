"""The promotion gate's decisions."""

from __future__ import annotations

import pytest

from shop_pipeline.ml.promotion import decide

BASELINES = {"logistic_rfm": {"roc_auc": 0.78, "brier": 0.150}, "random": {"roc_auc": 0.50, "brier": 0.250}}


def test_beats_every_baseline_and_the_champion():
    d = decide({"roc_auc": 0.82}, BASELINES, {"roc_auc": 0.80}, "roc_auc", True, 0.01)
    assert d.promote
    assert [r.split(":")[0] for r in d.reasons[:3]] == [
        "PASS vs baseline logistic_rfm", "PASS vs baseline random", "PASS vs champion champion"]
    assert d.reasons[-1].startswith("PROMOTE")
    assert "**PROMOTE**" in d.table_markdown
    assert "| logistic_rfm | baseline | 0.7800 | 0.8200 | 0.7878 | pass |" in d.table_markdown


def test_losing_to_one_baseline_refuses_and_names_it():
    d = decide({"roc_auc": 0.77}, BASELINES, None, "roc_auc", True, 0.0)
    assert not d.promote
    assert d.reasons[0].startswith("FAIL vs baseline logistic_rfm: roc_auc 0.7700 vs 0.7800")
    assert d.reasons[1].startswith("PASS vs baseline random")
    assert d.reasons[-1] == "REFUSE: does not beat baseline logistic_rfm"
    assert "| logistic_rfm | baseline | 0.7800 | 0.7700 | 0.7800 | FAIL |" in d.table_markdown


def test_champion_comparison_uses_the_relative_margin():
    champ = {"roc_auc": 0.80}
    # +1.25 % over the champion: enough for a 1 % margin, not for 2 %
    assert decide({"roc_auc": 0.81}, BASELINES, champ, "roc_auc", True, 0.01).promote
    d = decide({"roc_auc": 0.81}, BASELINES, champ, "roc_auc", True, 0.02,
               champion_name="20250301T000000-abcd1234")
    assert not d.promote
    assert "FAIL vs champion 20250301T000000-abcd1234: roc_auc 0.8100 vs 0.8000 (+1.25%); " \
           "needs higher by at least 2.00% (>= 0.8160)" in d.reasons
    assert d.reasons[-1] == "REFUSE: does not beat champion 20250301T000000-abcd1234"
    # a tie is not a win, even with no margin
    assert not decide({"roc_auc": 0.80}, BASELINES, champ, "roc_auc", True, 0.0).promote


def test_first_model_is_compared_with_the_baselines_only():
    d = decide({"roc_auc": 0.79}, BASELINES, None, "roc_auc", True, 0.01)
    assert d.promote
    assert any("first model" in r for r in d.reasons)
    assert all("champion" not in r for r in d.reasons[:2])
    assert not decide({"roc_auc": 0.785}, BASELINES, None, "roc_auc", True, 0.01).promote


def test_lower_is_better_metrics():
    assert decide({"brier": 0.140}, BASELINES, {"brier": 0.145}, "brier", False, 0.01).promote
    d = decide({"brier": 0.149}, BASELINES, None, "brier", False, 0.01)
    assert not d.promote and d.reasons[0].startswith("FAIL vs baseline logistic_rfm: brier 0.1490 vs 0.1500")
    assert "(<= 0.1485)" in d.reasons[0]


def test_undefined_values_never_promote():
    d = decide({"roc_auc": float("nan")}, BASELINES, None, "roc_auc", True, 0.0)
    assert not d.promote and "challenger has no roc_auc" in d.reasons[0]
    d = decide({"roc_auc": 0.9}, {"logistic_rfm": {"roc_auc": None}}, None, "roc_auc", True, 0.0)
    assert not d.promote and "logistic_rfm has no roc_auc" in d.reasons[0]
    d = decide({"roc_auc": 0.9}, {}, None, "roc_auc", True, 0.0)
    assert not d.promote and "no baseline" in " ".join(d.reasons)
    with pytest.raises(ValueError):
        decide({"roc_auc": 0.9}, BASELINES, None, "roc_auc", True, -0.1)
