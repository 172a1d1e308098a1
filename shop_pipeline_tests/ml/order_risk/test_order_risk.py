"""Order risk on a small generated shop: beats the rule, deterministic, saveable, and defined on bad input."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from shop_pipeline.features.order_features import order_features_frame
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.promotion import decide
from shop_pipeline.ml.order_risk.candidates import (
    AMOUNT_ZSCORE,
    CANDIDATES,
    CHALLENGER,
    GATE_METRIC,
    ISOLATION_FOREST,
    MLP,
    MODEL_NAME,
    SERVABLE,
    AmountZScore,
    FittedOrderRisk,
)
from shop_pipeline.ml.order_risk.data import FEATURE_COLUMNS, feature_frame, label_orders, plan_windows
from shop_pipeline.ml.order_risk.evaluate import evaluate_fitted
from shop_pipeline.ml.order_risk.metrics import RISK_METRICS
from shop_pipeline.ml.order_risk.report import metrics_table_markdown, pr_curves_png, run_pngs
from shop_pipeline.ml.order_risk.score import SCORE_COLUMNS, TOP_FEATURES, explain, score_orders
from shop_pipeline.ml.order_risk.train import fit_final, metrics_rows, run_order_risk_frames
from shop_pipeline.sources.landing import discover
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.connection import connect
from shop_pipeline.warehouse.order_labels import known_labels_frame, load_order_labels
from shop_pipeline_tests.warehouse.helpers import run_days

# A 45-day shop with more fraud than the default (5% of orders) so that the held-out window has
# a few dozen frauds; labels mature after 7 days, the last 20 labelled days are held out.
CONFIG = GeneratorConfig(events=60_000, days=45, seed=7, fraud_rate=0.05)
OPTIONS = {"maturity_days": 7, "eval_days": 20, "alert_budget": 0.02, "seed": 0}
NO_LABELS = pd.DataFrame({"order_id": pd.Series(dtype=object), "is_fraud": pd.Series(dtype="int8")})


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    home = tmp_path_factory.mktemp("risk-shop")
    generate_shop(home, CONFIG)
    with connect(home / "warehouse.duckdb") as con:
        days = sorted({f.day for f in discover(home / "landing")})
        run_days(con, home / "landing", days, now=dt.datetime(2030, 1, 1))
        load_order_labels(con, home / "landing" / "labels")
        as_of = days[-1]
        features = order_features_frame(con, as_of)
        labels = known_labels_frame(con, as_of)
    truth = pd.read_csv(home / "ground_truth" / "fraud_labels.csv")
    return features, labels, as_of, truth


@pytest.fixture(scope="module")
def run(shop):
    features, labels, as_of, _ = shop
    return run_order_risk_frames(features, labels, as_of, **OPTIONS)


def test_the_challenger_beats_the_amount_zscore_rule_and_the_forest(run):
    m = metrics_rows(run)
    assert run.mode == "supervised" and run.serving_candidate == CHALLENGER
    assert m[CHALLENGER]["n_fraud"] >= 10, "too few frauds held out to compare"
    assert m[CHALLENGER]["pr_auc"] > 2 * m[AMOUNT_ZSCORE]["pr_auc"]
    assert m[CHALLENGER]["pr_auc"] > m[ISOLATION_FOREST]["pr_auc"]
    assert m[CHALLENGER]["recall_at_budget"] > m[AMOUNT_ZSCORE]["recall_at_budget"]
    decision = decide(m[CHALLENGER], {AMOUNT_ZSCORE: m[AMOUNT_ZSCORE]}, None, GATE_METRIC)
    assert decision.promote


def test_the_windows_hold_out_the_last_labelled_days_and_use_no_immature_order(run, shop):
    features, _, as_of, _ = shop
    w = run.windows
    assert w.label_cutoff == as_of - dt.timedelta(days=7) and w.eval_start == w.label_cutoff - dt.timedelta(days=19)
    eval_days = pd.to_datetime(run.eval_frame["order_day"]).dt.date
    assert eval_days.min() >= w.eval_start and eval_days.max() <= w.label_cutoff
    recent = pd.to_datetime(features["order_day"]).dt.date > w.label_cutoff
    assert recent.sum() > 0 and run.labelled_orders == int((~recent).sum())
    assert run.fitted.training_window[1] <= w.label_cutoff


def test_flags_follow_the_budget_and_explain_themselves(run, shop):
    features, _, as_of, truth = shop
    scores = score_orders(run.fitted, features, as_of, "v1")
    assert list(scores.columns) == list(SCORE_COLUMNS) and len(scores) == len(features)
    assert scores["risk_score"].between(0, 1).all() and scores["order_id"].is_unique
    recent = pd.to_datetime(features["order_day"]).dt.date > run.windows.label_cutoff
    assert 0.005 <= scores.loc[recent, "flagged"].mean() <= 0.06  # about the 2% budget on unseen orders
    assert scores["top_features"].notna().tolist() == scores["flagged"].tolist()
    first = scores.loc[scores["flagged"], "top_features"].iloc[0]
    assert "=" in first and "(+" in first and first.split("=")[0] in FEATURE_COLUMNS
    flagged = scores[scores["flagged"]].merge(truth, on="order_id")
    assert flagged["is_fraud"].mean() > 0.3  # most alerts are real fraud (base rate ~4%)
    assert (scores["as_of"] == as_of).all() and (scores["model_version"] == "v1").all()


def test_explanations_are_the_score_drop_of_each_column_set_to_its_median(run, shop, monkeypatch):
    features, _, _, _ = shop
    fitted, rows = run.fitted, features.iloc[:40]
    X = feature_frame(rows, fitted.columns)
    base = fitted.scores(rows)
    expected = []
    for i in range(len(X)):
        drops = {}
        for j, column in enumerate(fitted.columns):
            typical = X.iloc[[i]].copy()
            typical[column] = fitted.medians[j]
            drops[column] = base[i] - fitted.scores(typical)[0]
        top = sorted(drops, key=lambda c: -drops[c])[:TOP_FEATURES]
        expected.append([c for c in top if drops[c] > 1e-9])
    # blocks of 3 rows (the explanation scores every row once per column, a block at a time)
    monkeypatch.setattr("shop_pipeline.ml.order_risk.score.SCORE_BATCH_ROWS", 3 * len(fitted.columns))
    explained = explain(fitted, rows)
    assert [[part.split("=")[0] for part in text.split("; ") if part] for text in explained] == expected
    assert any(expected)


def test_scores_are_deterministic_for_a_seed_and_survive_the_registry(run, shop, tmp_path):
    features, labels, as_of, _ = shop
    again = run_order_risk_frames(features, labels, as_of, **OPTIONS)
    first = run.fitted.scores(features)
    np.testing.assert_array_equal(again.fitted.scores(features), first)
    assert again.fitted.threshold == run.fitted.threshold
    path, sha = registry.save_model(run.fitted.to_artifact(), tmp_path, MODEL_NAME, "v1")
    loaded = FittedOrderRisk.from_artifact(registry.load_artifact(path, sha))
    np.testing.assert_array_equal(loaded.scores(features), first)
    assert (loaded.candidate, loaded.threshold, loaded.columns) == (
        run.fitted.candidate,
        run.fitted.threshold,
        run.fitted.columns,
    )
    pd.testing.assert_frame_equal(
        score_orders(loaded, features, as_of, "v1"), score_orders(run.fitted, features, as_of, "v1")
    )


def test_earlier_scores_are_lent_only_for_the_same_model_and_inputs(run, shop):
    features, _, as_of, _ = shop
    whole = score_orders(run.fitted, features, as_of, "v1")
    assert whole.attrs["scored_anew"] == len(features)
    # yesterday's scores: every order but the last day's, one of them with other inputs then
    last_day = pd.to_datetime(features["order_day"]).max()
    previous = whole[pd.to_datetime(features["order_day"]).to_numpy() < last_day].copy()
    changed = previous.index[previous["flagged"]][0]
    previous.loc[changed, ["features_hash", "risk_score", "top_features"]] = [np.uint64(1), 0.0, "stale"]
    daily = score_orders(run.fitted, features, as_of, "v1", previous=previous)
    pd.testing.assert_frame_equal(daily, whole)  # exactly what scoring every order again gives
    assert daily.attrs["scored_anew"] == len(features) - len(previous) + 1
    # another model version lends nothing
    assert score_orders(run.fitted, features, as_of, "v2", previous=previous).attrs["scored_anew"] == len(features)


def test_a_saved_model_measured_again_gives_its_recorded_metrics(run):
    evaluated = run.evaluations[CHALLENGER]
    at_eval = FittedOrderRisk(
        CHALLENGER,
        evaluated.model,
        FEATURE_COLUMNS,
        run.fitted.medians,
        0.5,
        0.02,
        0,
        (run.windows.eval_start, run.windows.label_cutoff),
    )
    again = evaluate_fitted(at_eval, run.eval_frame, run.eval_labels)
    assert again == pytest.approx(evaluated.metrics, nan_ok=True)


def test_metrics_plots_and_table_for_the_registry_and_the_report(run):
    rows = metrics_rows(run)
    assert set(rows) == set(CANDIDATES)
    for metrics in rows.values():
        assert set(RISK_METRICS) <= set(metrics)
        assert all(isinstance(v, float) for v in metrics.values())
    table = metrics_table_markdown(rows)
    assert table.count("\n") == 2 + len(CANDIDATES) and "| hgb_classifier |" in table
    assert run_pngs(run)["precision_recall"].startswith(b"\x89PNG")
    assert pr_curves_png(np.zeros(0), {}).startswith(b"\x89PNG")  # nothing to draw: says so


def test_no_labels_at_all_serves_the_forest_unmeasured_and_the_gate_refuses(shop):
    features, _, as_of, _ = shop
    run = run_order_risk_frames(features, NO_LABELS, as_of, **OPTIONS)
    m = metrics_rows(run)
    assert run.mode == "unsupervised" and run.serving_candidate == ISOLATION_FOREST
    assert all(math.isnan(m[c]["pr_auc"]) for c in CANDIDATES)
    assert "not trained" in run.evaluations[CHALLENGER].note and "NOTHING MEASURED" in run.note
    assert not decide(m[run.serving_candidate], {AMOUNT_ZSCORE: m[AMOUNT_ZSCORE]}, None, GATE_METRIC).promote
    scores = score_orders(run.fitted, features, as_of, "unvalidated")
    assert scores["risk_score"].notna().all() and scores["flagged"].any()


def test_only_one_class_in_the_labels(shop):
    features, _, as_of, _ = shop
    cleared = pd.DataFrame({"order_id": features["order_id"].iloc[:50], "is_fraud": np.zeros(50, dtype="int8")})
    run = run_order_risk_frames(features, cleared, as_of, **OPTIONS)  # every mature order legitimate
    m = metrics_rows(run)
    assert run.serving_candidate == ISOLATION_FOREST and "0 fraudulent" in run.evaluations[CHALLENGER].note
    assert math.isnan(m[ISOLATION_FOREST]["pr_auc"]) and math.isnan(m[ISOLATION_FOREST]["recall_at_budget"])
    assert m[ISOLATION_FOREST]["precision_at_1pct"] == 0.0 and m[ISOLATION_FOREST]["n_fraud"] == 0


def test_an_empty_evaluation_window(shop):
    features, labels, as_of, _ = shop
    w = plan_windows(as_of, OPTIONS["maturity_days"], OPTIONS["eval_days"])
    days = pd.to_datetime(features["order_day"]).dt.date
    gap = features[(days < w.eval_start) | (days > w.label_cutoff)]  # no order in the evaluation days
    run = run_order_risk_frames(gap, labels, as_of, **OPTIONS)
    m = metrics_rows(run)
    assert len(run.eval_frame) == 0 and all(m[c]["n_orders"] == 0 for c in CANDIDATES)
    assert all(math.isnan(m[c][name]) for c in CANDIDATES for name in RISK_METRICS)
    assert run.serving_candidate == ISOLATION_FOREST and "NOTHING MEASURED" in run.note
    # labels older than the data: no mature order at all
    run = run_order_risk_frames(features, labels, as_of, **{**OPTIONS, "maturity_days": 400})
    assert run.labelled_orders == 0 and run.mode == "unsupervised"
    with pytest.raises(ValueError, match="no orders"):
        run_order_risk_frames(features.iloc[:0], labels, as_of, **OPTIONS)


def test_first_orders_and_missing_or_infinite_values_never_give_a_nan_score(run, shop):
    features, _, _, _ = shop
    odd = features.iloc[:20].copy()
    odd[
        [
            "prev_mean_amount",
            "prev_std_amount",
            "amount_zscore",
            "amount_vs_customer_mean",
            "days_since_prev_order",
            "cart_to_purchase_seconds",
            "hour_order_share",
        ]
    ] = np.nan
    odd["is_first_order"] = True
    odd.loc[odd.index[:5], "amount"] = np.nan
    odd.loc[odd.index[5:10], "max_price_vs_category"] = np.inf
    forest = fit_final(features, np.full(len(features), np.nan), ISOLATION_FOREST, run.windows)
    for fitted in (run.fitted, forest):
        scores = score_orders(fitted, odd, dt.date(2025, 2, 14), "v", explain_rows="all")
        assert np.isfinite(scores["risk_score"]).all() and scores["top_features"].notna().all()
    assert np.isfinite(AmountZScore.fit(features).score(odd)).all()


def test_labels_follow_maturity_and_reports():
    frame = pd.DataFrame(
        {
            "order_id": ["a", "b", "c", "d"],
            "order_day": pd.to_datetime(["2025-01-01", "2025-01-10", "2025-01-25", "2025-01-26"]),
        }
    )
    reports = pd.DataFrame({"order_id": ["a", "c", "x"], "is_fraud": [1, 1, 1]})
    w = plan_windows(dt.date(2025, 1, 31), maturity_days=7, eval_days=5)
    assert (w.label_cutoff, w.eval_start, w.train_end) == (
        dt.date(2025, 1, 24),
        dt.date(2025, 1, 20),
        dt.date(2025, 1, 19),
    )
    y = label_orders(frame, reports, w)
    # a: mature fraud; b: mature, never reported -> legitimate; c: reported but not mature -> unused
    np.testing.assert_array_equal(y, [1.0, 0.0, np.nan, np.nan])
    with pytest.raises(ValueError, match="eval_days"):
        plan_windows(dt.date(2025, 1, 31), 7, 0)
    with pytest.raises(ValueError, match="maturity_days"):
        plan_windows(dt.date(2025, 1, 31), -1, 5)


def test_the_perceptron_competes_and_a_version_serving_it_survives_the_registry(run, shop, tmp_path):
    features, labels, _, _ = shop
    assert MLP in run.evaluations and MLP in metrics_rows(run)
    assert run.evaluations[MLP].metrics[GATE_METRIC] > run.evaluations[AMOUNT_ZSCORE].metrics[GATE_METRIC]
    best = max(SERVABLE, key=lambda c: run.evaluations[c].metrics[GATE_METRIC])
    assert run.serving_candidate == best  # served only when it wins
    y = label_orders(features.reset_index(drop=True), labels, run.windows)
    fitted = fit_final(features.reset_index(drop=True), y, MLP, run.windows, OPTIONS["alert_budget"], 0)
    path, sha = registry.save_model(fitted.to_artifact(), tmp_path, MODEL_NAME, "mlp")
    loaded = FittedOrderRisk.from_artifact(registry.load_artifact(path, sha))
    assert loaded.candidate == MLP
    np.testing.assert_array_equal(loaded.scores(features), fitted.scores(features))
