"""Customer propensity: windows, candidates, value model, scores, plots and the HTML report."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import numpy as np
import pandas as pd
import pytest

from shop_pipeline.features.columns import CUSTOMER_FEATURES
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.common.html_report import write_html_report
from shop_pipeline.ml.propensity.candidates import (
    BASELINE,
    BGNBD,
    CANDIDATES,
    CHALLENGER,
    MBGNBD,
    MLP,
    PROBABILISTIC,
    RANDOM,
    VALUE_PROBABILISTIC,
    FittedPropensity,
)
from shop_pipeline.ml.propensity.data import (
    ALL_NUMERIC_COLUMNS,
    MIN_SUPERVISED_CUSTOMERS,
    SingleClassLabelsError,
    feature_matrix,
    join_labels,
    plan_windows,
)
from shop_pipeline.ml.propensity.evaluate import evaluate_candidates, evaluate_fitted, evaluate_value
from shop_pipeline.ml.propensity.report import (
    calibration_png,
    calibration_points,
    importance_png,
    lift_curve,
    lift_png,
    metrics_table_markdown,
    permutation_importances,
)
from shop_pipeline.ml.propensity.score import SCORE_COLUMNS, SEGMENTS, score_customers
from shop_pipeline.ml.propensity.train import fit_final, metrics_rows, run_propensity

AS_OF = dt.date(2025, 3, 31)


def synthetic(
    n: int = 3000, seed: int = 0, as_of: dt.date = AS_OF, horizon: int = 30, rate_shift: float = 0.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customer features + labels where recency really drives purchase (and frequency a bit)."""
    rng = np.random.default_rng(seed)
    recency = rng.exponential(40, n)
    freq = rng.poisson(2, n).astype(float)
    aov = rng.gamma(2.0, 30.0, n)
    tenure = recency + rng.exponential(60, n)
    cols = {c: np.zeros(n) for c in CUSTOMER_FEATURES}
    cols.update(
        customer_id=[f"c{seed}_{i}" for i in range(n)],
        as_of=as_of,
        first_seen=pd.Timestamp(as_of) - pd.to_timedelta(tenure, "D"),
        last_seen=pd.Timestamp(as_of) - pd.to_timedelta(recency, "D"),
        tenure_days=tenure,
        recency_days=recency,
        frequency=freq,
        monetary=freq * aov,
        avg_order_value=np.where(freq > 0, aov, np.nan),
        sessions=freq * 2 + rng.poisson(3, n),
        views=rng.poisson(20, n),
        carts=rng.poisson(3, n),
        purchases=freq,
        category_diversity=rng.integers(1, 6, n),
        days_since_last_view=np.minimum(recency, rng.exponential(20, n)),
        days_since_last_cart=np.full(n, 9999.0),
        mean_interpurchase_days=np.where(freq > 1, tenure / np.maximum(freq, 1), np.nan),
    )
    feats = pd.DataFrame(cols)[list(CUSTOMER_FEATURES)]
    p = 1 / (1 + np.exp(-(1.2 + rate_shift - recency / 15 + 0.3 * freq)))
    y = rng.random(n) < p
    orders = np.where(y, 1 + rng.poisson(0.3 + 0.2 * freq), 0)
    labels = pd.DataFrame(
        {
            "customer_id": feats["customer_id"],
            "as_of": as_of,
            "horizon_days": horizon,
            "purchased": y,
            "orders": orders,
            "spend": orders * aov,
        }
    )
    return feats, labels


@pytest.fixture(scope="module")
def windows():
    return synthetic(seed=1), synthetic(seed=2)


@pytest.fixture(scope="module")
def evaluated(windows):
    (ftr, ltr), (fte, lte) = windows
    return evaluate_candidates(ftr, ltr["purchased"], fte, lte["purchased"], seed=7)


@pytest.fixture(scope="module")
def fitted(windows):
    _, (fte, lte) = windows
    return fit_final(fte, lte, CHALLENGER, horizon_days=30, seed=7)


# ------------------------------------------------------------------ windows


def test_two_windows_keep_every_label_before_the_scoring_cutoff():
    plan = plan_windows(AS_OF, 30, dt.date(2025, 1, 1))
    assert plan.mode == "two_window"
    assert plan.train_cutoff == dt.date(2025, 1, 30) and plan.eval_cutoff == dt.date(2025, 3, 1)
    assert plan.train_label_window == (dt.date(2025, 1, 31), dt.date(2025, 3, 1))
    assert plan.eval_label_window == (dt.date(2025, 3, 2), AS_OF)
    assert plan.train_label_window[1] <= plan.eval_cutoff  # train labels end at T2
    assert plan.eval_label_window[1] <= plan.as_of  # nothing after the cut-off


def test_long_horizon_uses_the_calibration_holdout_set_up_without_supervised_candidates():
    # 18 months of transactions, 273-day horizon: T1 would be 2 days before the data starts
    plan = plan_windows(dt.date(2026, 6, 30), 273, dt.date(2025, 1, 1))
    assert plan.mode == "calibration_holdout" and plan.train_cutoff is None and not plan.supervised
    assert plan.eval_cutoff == dt.date(2025, 9, 30) and plan.eval_horizon_days == 273
    assert plan.eval_label_window == (dt.date(2025, 10, 1), dt.date(2026, 6, 30))
    assert "supervised candidates do not compete" in plan.note and "2025-01-01" in plan.note


def test_a_year_of_history_and_a_39_week_horizon_is_not_refused():
    plan = plan_windows(dt.date(2025, 12, 31), 273, dt.date(2025, 1, 1))
    assert plan.mode == "calibration_holdout"
    assert plan.eval_cutoff == dt.date(2025, 4, 2)  # 92 days of calibration, 273 held out
    assert plan.eval_label_window[1] == plan.as_of


def test_horizon_longer_than_the_data_holds_out_the_later_part_of_the_history():
    # 181 days of data, 273-day horizon: calibrate on the first half, hold out the rest
    plan = plan_windows(dt.date(2025, 6, 30), 273, dt.date(2025, 1, 1))
    assert plan.mode == "calibration_holdout" and plan.horizon_days == 273
    assert plan.eval_horizon_days == 91 and plan.eval_cutoff == dt.date(2025, 3, 31)
    assert "held-out window is the last 91 days" in plan.note


def test_too_short_a_history_is_not_enough_data_in_one_line():
    with pytest.raises(NotEnoughData) as e:
        plan_windows(dt.date(2025, 1, 14), 30, dt.date(2025, 1, 1))
    msg = str(e.value)
    assert "\n" not in msg and "have 14" in msg and "35 days" in msg and "2025-01-01..2025-01-14" in msg
    with pytest.raises(ValueError, match="before the first day"):
        plan_windows(dt.date(2024, 12, 1), 30, dt.date(2025, 1, 1))
    with pytest.raises(ValueError, match="at least 1 day"):
        plan_windows(AS_OF, 0, dt.date(2025, 1, 1))


# ------------------------------------------------------------------ candidates


def test_challenger_beats_random_on_a_shop_where_recency_drives_purchase(evaluated):
    assert set(evaluated) == set(CANDIDATES)
    chal, rnd = evaluated[CHALLENGER].metrics, evaluated[RANDOM].metrics
    assert chal["roc_auc"] > 0.75 > 0.5
    assert chal["roc_auc"] > rnd["roc_auc"] + 0.2
    assert abs(rnd["roc_auc"] - 0.5) < 0.05
    assert evaluated[BASELINE].metrics["roc_auc"] > 0.75
    assert chal["brier"] < rnd["brier"]
    assert chal["lift_at_top_decile"] > 1.3
    for ev in evaluated.values():
        for name in ("roc_auc", "pr_auc", "brier", "lift_at_top_decile", "f1", "threshold"):
            assert np.isfinite(ev.metrics[name]), (ev.candidate, name)
        assert ((ev.test_scores >= 0) & (ev.test_scores <= 1)).all()


def test_same_seed_same_results(windows, evaluated, fitted):
    (ftr, ltr), (fte, lte) = windows
    again = evaluate_candidates(ftr, ltr["purchased"], fte, lte["purchased"], seed=7)
    for cand in CANDIDATES:
        assert again[cand].metrics == evaluated[cand].metrics
    refit = fit_final(fte, lte, CHALLENGER, horizon_days=30, seed=7)
    a = score_customers(fitted, fte, AS_OF, "v")
    b = score_customers(refit, fte, AS_OF, "v")
    pd.testing.assert_frame_equal(a, b)


def test_single_class_label_window_says_so(windows):
    (ftr, ltr), (fte, lte) = windows
    nobody = ltr.assign(purchased=False)
    with pytest.raises(SingleClassLabelsError, match=r"label window train: nobody bought \(0 of 3000"):
        evaluate_candidates(ftr, nobody["purchased"], fte, lte["purchased"], seed=0)
    with pytest.raises(SingleClassLabelsError, match="everybody bought"):
        fit_final(fte, lte.assign(purchased=True), BASELINE, 30, window="2025-03-02..2025-03-31")
    few = np.zeros(len(lte), dtype=bool)
    few[:3] = True
    with pytest.raises(SingleClassLabelsError, match="only 3 buyers"):
        fit_final(fte, lte.assign(purchased=few), CHALLENGER, 30)


def test_unknown_candidate_and_missing_columns_are_clear(windows):
    _, (fte, lte) = windows
    with pytest.raises(ValueError, match="cannot fit a final model"):
        fit_final(fte, lte, "random", 30)
    with pytest.raises(ValueError, match="missing columns"):
        fit_final(fte.drop(columns=["recency_days"]), lte, BASELINE, 30)


# ------------------------------------------------------------------ value model


def test_expected_orders_beat_the_historical_rate(windows, evaluated):
    (ftr, ltr), (fte, lte) = windows
    ve = evaluate_value(join_labels(ftr, ltr), join_labels(fte, lte), evaluated[CHALLENGER].test_scores, 30, seed=7)
    assert 0 < ve.orders_mae < ve.orders_mae_historical_rate
    assert 0 < ve.spend_mae < ve.spend_mae_historical_rate


# ------------------------------------------------------------------ scores


def test_scores_shape_ranges_and_segments(windows, fitted):
    _, (fte, _) = windows
    s = score_customers(fitted, fte, AS_OF, "20250331T000000-abcdef12")
    assert list(s.columns) == list(SCORE_COLUMNS)
    assert len(s) == len(fte) and s["customer_id"].is_unique
    assert not s.isna().any().any()
    assert s["p_purchase"].between(0, 1).all()
    np.testing.assert_allclose(s["churn_risk"], 1 - s["p_purchase"])
    assert (s["expected_orders"] >= s["p_purchase"] - 1e-12).all()  # hurdle: >= 1 order if buying
    assert (s["expected_spend"] >= 0).all()
    assert set(s["segment"]) <= set(SEGMENTS) and len(set(s["segment"])) >= 4
    assert (s["model_version"] == "20250331T000000-abcdef12").all() and (s["as_of"] == AS_OF).all()
    seg = s.set_index("segment")
    assert seg.loc["champions", "p_purchase"].min() >= seg.loc["hibernating", "p_purchase"].max()


def test_customers_with_one_event_get_finite_scores(fitted):
    # one view, never bought: most features 0, averages NULL, sentinels for views / carts
    row = {c: 0.0 for c in CUSTOMER_FEATURES}
    row.update(
        customer_id="only-one-view",
        as_of=AS_OF,
        first_seen=pd.Timestamp(AS_OF),
        last_seen=pd.Timestamp(AS_OF),
        tenure_days=0.5,
        recency_days=0.5,
        views=1,
        sessions=1,
        category_diversity=1,
        avg_order_value=None,
        mean_interpurchase_days=None,
        days_since_last_cart=9999.0,
    )
    one = pd.DataFrame([row])[list(CUSTOMER_FEATURES)]
    for model in (fitted, fit_final(*synthetic(800, seed=3), BASELINE, 30)):
        s = score_customers(model, one, AS_OF, "v")
        assert len(s) == 1 and not s.isna().any().any()
        assert 0 <= s.loc[0, "p_purchase"] <= 1 and s.loc[0, "segment"] == "new"
    assert len(score_customers(fitted, one.iloc[:0], AS_OF, "v")) == 0


def test_fitted_model_round_trips_through_a_plain_artifact(windows, fitted):
    _, (fte, _) = windows
    back = FittedPropensity.from_artifact(fitted.to_artifact())
    pd.testing.assert_frame_equal(score_customers(back, fte, AS_OF, "v"), score_customers(fitted, fte, AS_OF, "v"))


# ------------------------------------------------------------------ whole run on a warehouse


def _fake_tables(monkeypatch, first_day: dt.date, horizon: int):
    """customer_features_frame / customer_labels_frame / landed_range from synthetic frames."""
    from shop_pipeline.features import tables

    calls = []

    def features(con, cutoff_day):
        calls.append(("features", cutoff_day))
        return synthetic(2000, seed=cutoff_day.toordinal() % 1000, as_of=cutoff_day)[0]

    def labels(con, as_of, horizon_days, known_by=None):
        calls.append(("labels", as_of))
        return synthetic(2000, seed=as_of.toordinal() % 1000, as_of=as_of, horizon=horizon_days)[1]

    monkeypatch.setattr(tables, "customer_features_frame", features)
    monkeypatch.setattr(tables, "customer_labels_frame", labels)
    monkeypatch.setattr(tables, "landed_range", lambda con: (first_day, AS_OF))
    return calls


@pytest.fixture
def con():
    """A connection with no training session's tables: the tables the run reads are faked above, and
    the engine's counts (ml/common/training_data.session_counts) are absent, as in DuckDB mode."""
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_run_uses_two_time_windows_and_never_labels_past_as_of(monkeypatch, con):
    calls = _fake_tables(monkeypatch, dt.date(2025, 1, 1), 30)
    run = run_propensity(con, AS_OF, 30, seed=1)
    assert run.plan.mode == "two_window"
    assert ("labels", dt.date(2025, 1, 30)) in calls and ("labels", dt.date(2025, 3, 1)) in calls
    assert all(day + dt.timedelta(days=30) <= AS_OF for kind, day in calls if kind == "labels")
    rows = metrics_rows(run)
    assert rows[CHALLENGER]["roc_auc"] > rows[RANDOM]["roc_auc"]
    assert "orders_mae" in rows[run.serving_candidate] and "historical_rate" in rows
    assert "| hgb_calibrated |" in metrics_table_markdown(rows)


def test_run_with_a_273_day_horizon_serves_a_probabilistic_model_from_calibration_data(monkeypatch, con):
    calls = _fake_tables(monkeypatch, dt.date(2024, 3, 1), 273)
    run = run_propensity(con, AS_OF, 273, seed=1)
    assert run.plan.mode == "calibration_holdout"
    assert set(run.evaluations) == {BGNBD, MBGNBD, RANDOM}  # no labelled window: no supervised
    assert run.serving_candidate in PROBABILISTIC and run.value_candidate in VALUE_PROBABILISTIC
    assert ("labels", AS_OF - dt.timedelta(days=273)) in calls and len(run.test_labels) == 2000
    assert all(day + dt.timedelta(days=273) <= AS_OF for kind, day in calls if kind == "labels")
    assert run.evaluations[run.serving_candidate].metrics["roc_auc"] > run.evaluations[RANDOM].metrics["roc_auc"]
    s = score_customers(run.fitted, run.scoring_features, AS_OF, "v")
    assert s["p_purchase"].between(0, 1).all() and not s.isna().any().any()
    rows = metrics_rows(run)
    assert {"value_bgnbd", "value_mbgnbd", "value_pnbd", "historical_rate"} <= set(rows) and "value_hurdle" not in rows


def test_a_training_window_with_too_few_customers_leaves_the_probabilistic_models(monkeypatch, con):
    from shop_pipeline.features import tables

    _fake_tables(monkeypatch, dt.date(2025, 1, 1), 30)
    few = MIN_SUPERVISED_CUSTOMERS - 20
    monkeypatch.setattr(
        tables, "customer_features_frame", lambda con, day: synthetic(few, seed=day.toordinal() % 1000, as_of=day)[0]
    )
    monkeypatch.setattr(
        tables,
        "customer_labels_frame",
        lambda con, day, h, known_by=None: synthetic(few, seed=day.toordinal() % 1000, as_of=day, horizon=h)[1],
    )
    run = run_propensity(con, AS_OF, 30, seed=1)
    assert run.plan.mode == "calibration_holdout" and run.plan.eval_cutoff == dt.date(2025, 3, 1)
    assert f"holds {few} customers" in run.plan.note
    assert BASELINE not in run.evaluations and CHALLENGER not in run.evaluations
    assert run.evaluated_candidates == [BGNBD, MBGNBD]


# ------------------------------------------------------------------ plots and report


def test_plots_are_pngs_and_the_report_is_self_contained(tmp_path, windows, evaluated):
    _, (fte, lte) = windows
    y = lte["purchased"].to_numpy()
    scores = {c: e.test_scores for c, e in evaluated.items()}
    mp, oy, n = calibration_points(y, scores[CHALLENGER])
    assert n.sum() == len(y) and np.all(np.abs(mp - oy) < 0.2)
    _share, lift = lift_curve(y, scores[CHALLENGER])
    assert lift[4] > 1.3 and abs(lift[-1] - 1.0) < 1e-9
    imps = permutation_importances(
        evaluated[CHALLENGER].model,
        feature_matrix(fte, ALL_NUMERIC_COLUMNS),
        y,
        list(ALL_NUMERIC_COLUMNS),
        sample=1000,
        n_repeats=2,
    )
    assert imps[0][0] == "recency_days"
    pngs = [calibration_png(y, scores), lift_png(y, scores), importance_png(imps)]
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    path = write_html_report(
        tmp_path / "reports" / "propensity.html",
        "Propensity <test>",
        [
            ("Metrics", "| candidate | roc_auc |\n|---|---:|\n| <script>x</script> | 0.81 |", None),
            ("Calibration", "", pngs[0]),
            ("Raw", "<p>kept as <em>html</em></p>", pngs[1]),
        ],
    )
    doc = path.read_text()
    assert doc.count('src="data:image/png;base64,') == 2
    assert not re.search(r'(src|href)="(http|/|\.)', doc)  # nothing external
    assert "&lt;script&gt;" in doc and "<script>" not in doc  # data text is escaped
    assert ">0.81</td>" in doc and "<em>html</em>" in doc
    assert "Propensity &lt;test&gt;" in doc


def test_a_fitted_champion_is_measured_on_the_same_held_out_frame(windows, fitted):
    (ftr, ltr), (fte, lte) = windows
    old = fit_final(ftr, ltr, BASELINE, 30, seed=0)  # yesterday's champion
    m = evaluate_fitted(old, join_labels(fte, lte))
    assert 0.75 < m["roc_auc"] <= 1 and m["threshold"] == old.threshold and m["orders_mae"] > 0
    assert m["n"] == len(fte)


def test_the_perceptron_competes_and_a_version_serving_it_survives_the_registry(windows, evaluated, tmp_path):
    _, (fte, lte) = windows
    assert evaluated[MLP].metrics["roc_auc"] > evaluated[RANDOM].metrics["roc_auc"] + 0.1
    fitted = fit_final(fte, lte, MLP, horizon_days=30, seed=7)
    saved, sha = registry.save_model(fitted.to_artifact(), tmp_path, "propensity", "mlp")
    back = FittedPropensity.from_artifact(registry.load_artifact(saved, sha))
    assert back.candidate == MLP
    pd.testing.assert_frame_equal(score_customers(back, fte, AS_OF, "v"), score_customers(fitted, fte, AS_OF, "v"))
