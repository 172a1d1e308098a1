"""The promotion gate's decisions."""

from __future__ import annotations

import pytest

from shop_pipeline.ml.common.promotion import decide, select_serving

BASELINES = {"logistic_rfm": {"roc_auc": 0.78, "brier": 0.150}, "random": {"roc_auc": 0.50, "brier": 0.250}}


def test_beats_every_baseline_and_the_champion():
    d = decide({"roc_auc": 0.82}, BASELINES, {"roc_auc": 0.80}, "roc_auc", True, 0.01)
    assert d.promote
    assert [r.split(":")[0] for r in d.reasons[:3]] == [
        "PASS vs baseline logistic_rfm",
        "PASS vs baseline random",
        "PASS vs champion champion",
    ]
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
    d = decide({"roc_auc": 0.81}, BASELINES, champ, "roc_auc", True, 0.02, champion_name="20250301T000000-abcd1234")
    assert not d.promote
    assert (
        "FAIL vs champion 20250301T000000-abcd1234: roc_auc 0.8100 vs 0.8000 (+1.25%); "
        "needs higher by at least 2.00% (>= 0.8160)" in d.reasons
    )
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


def test_the_served_candidate_is_the_best_measured_one_and_ties_go_to_the_simpler():
    metrics = {"logistic_rfm": {"roc_auc": 0.70}, "hgb": {"roc_auc": 0.66}, "random": {"roc_auc": 0.9}}
    assert select_serving(metrics, ["logistic_rfm", "hgb"], "roc_auc", True) == "logistic_rfm"
    metrics["hgb"]["roc_auc"] = 0.70
    assert select_serving(metrics, ["logistic_rfm", "hgb"], "roc_auc", True) == "logistic_rfm"
    wape = {"seasonal_naive": {"wape": 0.9}, "linear": {"wape": float("nan")}, "challenger": {"wape": 0.5}}
    assert select_serving(wape, ["seasonal_naive", "linear", "challenger"], "wape", False) == "challenger"
    with pytest.raises(ValueError, match="no servable candidate"):
        select_serving({"hgb": {"roc_auc": float("nan")}}, ["logistic_rfm", "hgb"], "roc_auc", True)


def test_alternatives_need_no_margin_but_references_and_the_champion_do():
    served = {"roc_auc": 0.705}
    alternatives = {"hgb": {"roc_auc": 0.705}}
    d = decide(served, {"random": {"roc_auc": 0.50}}, None, "roc_auc", True, 0.01, alternatives=alternatives)
    assert d.promote
    assert any(r.startswith("PASS vs alternative hgb") and "at least as high" in r for r in d.reasons)
    d = decide(served, {"random": {"roc_auc": 0.70}}, None, "roc_auc", True, 0.01, alternatives=alternatives)
    assert not d.promote and d.reasons[-1] == "REFUSE: does not beat baseline random"
    d = decide(served, {}, {"roc_auc": 0.70}, "roc_auc", True, 0.01, alternatives={"hgb": {"roc_auc": 0.71}})
    assert not d.promote and d.reasons[-1] == "REFUSE: does not beat alternative hgb, champion champion"
