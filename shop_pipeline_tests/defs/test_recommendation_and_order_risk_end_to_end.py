"""Recommendations and order risk end to end through Dagster on a small generated shop.

The challenger recommender must beat most-popular on NDCG@10 and the fraud model the amount
z-score rule on PR-AUC, both through the registry, the evaluation table and the gate; the
scores must keep their promises (top 20 per active customer, nothing already bought, every
order scored, flags within the alert budget).

The shop is the session's shared one after its full run (shop_pipeline_tests/pipeline_shop.py), read
from a copy; how much better the models are on bigger samples is measured where they are trained
(ml/recommendation/test_shop.py: 100k events; ml/order_risk/test_order_risk.py: 5% fraud, at least ten
held-out frauds).
"""

import pytest
from dagster import DagsterInstance, materialize

from shop_pipeline.definitions import ASSETS
from shop_pipeline.resources import default_resources
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.pipeline_shop import materialization


@pytest.fixture(scope="module")
def shop(pipeline_shop, tmp_path_factory):
    """A copy of the shared shop, and what its first run reported (checks, each asset's metadata)."""
    paths = pipeline_shop.copy_to(tmp_path_factory.mktemp("recommend-risk-shop")).paths
    return paths, pipeline_shop.metadata, pipeline_shop.checks


def rows(paths, sql):
    with connect(paths.warehouse) as con:
        return con.execute(sql).fetchall()


def evaluation(paths, model, candidate, metric):
    [(value,)] = rows(
        paths,
        f"""SELECT e.value FROM ml.model_evaluations e JOIN ml.model_registry r USING (model_name, version)
            WHERE r.is_champion AND model_name = '{model}' AND candidate = '{candidate}' AND metric = '{metric}'""",
    )
    return value


def serving(paths, model):
    [(name,)] = rows(
        paths,
        f"""SELECT json_extract_string(parameters, '$.serving_candidate') FROM ml.model_registry
            WHERE is_champion AND model_name = '{model}'""",
    )
    return name


def test_both_gates_pass_and_every_check_passes(shop):
    _, _, checks = shop  # the run succeeded (pipeline_shop asserts it)
    failed = [name for name, passed in checks if not passed]
    assert failed == ["raw_events:landed_files_readable"]  # the generator's planted schema-drift file (a warning)
    assert {"recommendation_champion:promotion_gate", "order_risk_champion:promotion_gate"} <= {n for n, _ in checks}


def test_the_recommender_challenger_beats_most_popular_on_ndcg_at_10(shop):
    paths, metadata, _ = shop
    served = serving(paths, "recommendation")
    assert served in ("category_popularity", "ease")
    ndcg = evaluation(paths, "recommendation", served, "ndcg_at_10")
    assert ndcg > evaluation(paths, "recommendation", "most_popular", "ndcg_at_10")
    model = metadata["recommendation_model"]
    assert model["serving_candidate"] == served
    assert "recall@K" in model["recall_at_k"]


def test_the_risk_model_beats_the_amount_zscore_rule_on_pr_auc(shop):
    paths, _, _ = shop
    assert serving(paths, "order_risk") == "hgb_classifier"
    assert evaluation(paths, "order_risk", "hgb_classifier", "pr_auc") > 2 * evaluation(
        paths, "order_risk", "amount_zscore", "pr_auc"
    )


def test_recommendations_are_top_20_per_active_customer_and_never_already_bought(shop):
    paths, _, _ = shop
    [(customers, per_customer_min, per_customer_max)] = rows(
        paths,
        """SELECT count(*), min(n), max(n) FROM (
               SELECT customer_id, count(*) AS n FROM scoring.recommendations GROUP BY customer_id)""",
    )
    assert customers > 100 and per_customer_min == per_customer_max == 20
    [(already_bought,)] = rows(
        paths,
        """SELECT count(*) FROM scoring.recommendations r JOIN features.interactions i
               ON i.customer_id = r.customer_id AND i.product_id = r.product_id AND i.purchases > 0""",
    )
    assert already_bought == 0
    [(duplicates,)] = rows(
        paths, "SELECT count(*) - count(DISTINCT (customer_id, product_id)) FROM scoring.recommendations"
    )
    assert duplicates == 0


def test_every_order_is_scored_and_flags_stay_near_the_alert_budget(shop):
    paths, _, _ = shop
    [(orders,)] = rows(paths, "SELECT count(*) FROM features.order_features")
    [(scored, flagged, explained_flags)] = rows(
        paths,
        """SELECT count(*), count(*) FILTER (WHERE flagged),
                  count(*) FILTER (WHERE flagged AND top_features IS NOT NULL) FROM scoring.order_risk_scores""",
    )
    assert scored == orders > 0
    assert 0 < flagged < 0.1 * scored and explained_flags == flagged


def test_drift_covers_the_order_features_and_the_risk_score(shop):
    from shop_pipeline.ml.order_risk import SPEC
    from shop_pipeline.ml.order_risk.evaluate import order_drift

    paths, _, _ = shop
    with connect(paths.warehouse) as con:
        rows = {row.feature: row for row in order_drift(con, lambda row: SPEC.load(con, row, paths.models))}
    assert {"order.amount", "order.orders_last_24h", "score.risk_score"} <= set(rows)
    assert all(row.psi >= 0 and row.reference_rows > 0 and row.current_rows > 0 for row in rows.values())


def test_the_alert_budget_is_run_configuration_that_retrains_the_risk_model(pipeline_shop, tmp_path):
    """On its own copy: it registers another order-risk version (not promoted: no gate runs)."""
    paths, instance = pipeline_shop.copy_to(tmp_path / "own").paths, DagsterInstance.ephemeral()
    [(default_budget,)] = rows(
        paths,
        """SELECT json_extract(parameters, '$.alert_budget')::DOUBLE
                                         FROM ml.model_registry WHERE is_champion AND model_name = 'order_risk'""",
    )
    assert default_budget == 0.02
    result = materialize(
        ASSETS,
        selection=["order_risk_model"],
        resources=default_resources(paths),
        instance=instance,
        run_config={"resources": {"modeling": {"config": {"order_risk_alert_budget": 0.05}}}},
    )
    metadata = materialization(instance, "order_risk_model")
    assert result.success and metadata["reused_version"] is False  # a new budget is a new training key
    [(budget,)] = rows(
        paths,
        f"""SELECT json_extract(parameters, '$.alert_budget')::DOUBLE FROM ml.model_registry
                                  WHERE model_name = 'order_risk' AND version = '{metadata["model_version"]}'""",
    )
    assert budget == 0.05
