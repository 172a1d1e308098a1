"""Declarative automation on the shop's own definitions, evaluated with Dagster's test helper (no
daemon): what follows a publication of clean events, what a failed blocking check stops, that
nothing trains, and the score tables' freshness.

The instance's history is reported as runless events (a materialization per asset, check
evaluations), so each test states exactly the situation the conditions see."""

import datetime as dt

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    evaluate_automation_conditions,
)

from shop_pipeline.definitions import build_definitions
from shop_pipeline.defs.common import SCORE_FRESHNESS, add_partitions
from shop_pipeline_tests.defs.helpers import requested

FEATURES = {"product_daily_sales", "customer_features", "interactions", "order_features"}
SCORES = {"demand_forecasts", "customer_scores", "recommendations", "order_risk_scores"}
FOLLOWERS = FEATURES | SCORES | {"feature_drift", "serving_snapshot"}
TRAINING = {"demand_forecast_model", "propensity_model", "recommendation_model", "order_risk_model"}
CHAMPIONS = {"demand_forecast_champion", "propensity_champion", "recommendation_champion", "order_risk_champion"}
MONTHS = ["2025-01-01", "2025-02-01"]


@pytest.fixture(scope="module")
def definitions(tmp_path_factory):
    from shop_pipeline.settings import ShopPaths

    return build_definitions(ShopPaths.at(tmp_path_factory.mktemp("shop")))


def materialize(instance, asset: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(AssetMaterialization(asset, partition=partition))


def check(instance, asset: str, name: str, passed: bool = True) -> None:
    instance.report_runless_asset_event(
        AssetCheckEvaluation(asset_key=AssetKey(asset), check_name=name, passed=passed, metadata={})
    )


def publish_clean_events(instance, month: str, suite_passed: bool = True) -> None:
    """clean_events' partition written, then its two blocking checks (as the staging step yields them)."""
    materialize(instance, "clean_events", month)
    materialize(instance, "quarantined_events", month)
    check(instance, "clean_events", "conservation")
    check(instance, "clean_events", "staging_events_suite", passed=suite_passed)


def loaded_shop(definitions, instance):
    """Every asset materialized once with passing checks, as after `shop-pipeline run`; returns the
    automation cursor of a first evaluation (which requests nothing)."""
    add_partitions(instance, [dt.date.fromisoformat(m) for m in MONTHS])
    for month in MONTHS:
        materialize(instance, "raw_events", month)
        check(instance, "raw_events", "raw_events_suite")
        publish_clean_events(instance, month)
    for asset in (
        "raw_products",
        "raw_marketing",
        "order_labels",
        *sorted(FEATURES),
        *sorted(TRAINING),
        *sorted(CHAMPIONS),
        "feature_drift",
        *sorted(SCORES),
        "serving_snapshot",
    ):
        materialize(instance, asset)
    for table in FEATURES:
        check(instance, table, f"{table}_suite")
    for champion in CHAMPIONS:
        check(instance, champion, "promotion_gate")
    first = evaluate_automation_conditions(defs=definitions, instance=instance)
    assert first.total_requested == 0
    return first.cursor


def test_new_clean_events_bring_the_features_drift_and_scores_but_train_nothing(definitions):
    with DagsterInstance.ephemeral() as instance:
        cursor = loaded_shop(definitions, instance)
        publish_clean_events(instance, "2025-02-01")
        evaluation = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=cursor)
        assert requested(definitions, evaluation) == FOLLOWERS
        # the retraining sensor decides when to train, not every new day of data
        assert not requested(definitions, evaluation) & (TRAINING | CHAMPIONS)
        # asked once: the next tick, before anything ran, does not ask again
        again = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=evaluation.cursor)
        assert again.total_requested == 0


def test_a_failed_blocking_check_on_clean_events_stops_everything_downstream(definitions):
    with DagsterInstance.ephemeral() as instance:
        cursor = loaded_shop(definitions, instance)
        publish_clean_events(instance, "2025-02-01", suite_passed=False)
        evaluation = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=cursor)
        assert evaluation.total_requested == 0
        # fixed and published again with passing checks: they follow
        publish_clean_events(instance, "2025-02-01")
        fixed = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=evaluation.cursor)
        assert requested(definitions, fixed) == FOLLOWERS


def test_a_failed_feature_suite_stops_its_scores_but_a_refused_gate_does_not(definitions):
    with DagsterInstance.ephemeral() as instance:
        cursor = loaded_shop(definitions, instance)
        # a challenger refused with no champion left (or a version nothing could measure): its gate check
        # fails, and scoring itself says "no champion" (or serves the unmeasured version unvalidated)
        materialize(instance, "propensity_champion")
        check(instance, "propensity_champion", "promotion_gate", passed=False)
        first = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=cursor)
        assert "customer_scores" in requested(definitions, first)
        # the feature table's own blocking suite failing holds back what reads it
        materialize(instance, "customer_features")
        check(instance, "customer_features", "customer_features_suite", passed=False)
        second = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=first.cursor)
        assert not {"customer_scores", "feature_drift"} & requested(definitions, second)


def test_a_month_not_yet_staged_holds_the_features_back(definitions):
    with DagsterInstance.ephemeral() as instance:
        cursor = loaded_shop(definitions, instance)
        add_partitions(instance, [dt.date(2025, 3, 4)])  # a new month's files landed; its run has not staged them
        publish_clean_events(instance, "2025-02-01")
        evaluation = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=cursor)
        assert evaluation.total_requested == 0
        publish_clean_events(instance, "2025-03-01")
        staged = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=evaluation.cursor)
        assert requested(definitions, staged) == FOLLOWERS


def test_a_new_champion_is_scored_without_waiting_for_data(definitions):
    # retrain_models scores in its own run; a champion promoted elsewhere (a manual run of the gate) is scored next
    with DagsterInstance.ephemeral() as instance:
        cursor = loaded_shop(definitions, instance)
        materialize(instance, "propensity_champion")
        check(instance, "propensity_champion", "promotion_gate")
        evaluation = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=cursor)
        assert requested(definitions, evaluation) == {"customer_scores", "feature_drift", "serving_snapshot"}


def test_the_score_tables_and_snapshot_have_a_freshness_policy(definitions):
    graph = definitions.resolve_asset_graph()
    with_policy = {key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).freshness_policy}
    assert with_policy == SCORES | {"serving_snapshot"}
    assert graph.get(AssetKey("customer_scores")).freshness_policy == SCORE_FRESHNESS


def test_a_score_table_past_its_freshness_window_is_reported_stale(tmp_path):
    # Dagster's freshness daemon writes the state the UI shows; one iteration of it, at three moments.
    # (Dagster has no public helper for this: the daemon and its workspace are internal APIs.)
    from dagster._core.definitions.freshness import FreshnessState
    from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._daemon.freshness import FreshnessDaemon

    key = AssetKey("customer_scores")
    target = ModuleTarget(
        module_name="shop_pipeline.definitions", attribute="defs", working_directory=None, location_name="shop_pipeline"
    )

    def state_at(instance, context, when: dt.datetime) -> FreshnessState:
        with freeze_time(when):
            list(FreshnessDaemon().run_iteration(context))
        return instance.get_freshness_state_records([key])[key].freshness_state

    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        written = dt.datetime.now(dt.UTC)
        materialize(instance, "customer_scores")
        with create_test_daemon_workspace_context(target, instance) as context:
            assert state_at(instance, context, written + dt.timedelta(hours=1)) == FreshnessState.PASS
            assert state_at(instance, context, written + dt.timedelta(hours=27)) == FreshnessState.WARN
            assert state_at(instance, context, written + dt.timedelta(hours=49)) == FreshnessState.FAIL
            # rewritten: fresh again
            materialize(instance, "customer_scores")
            assert state_at(instance, context, dt.datetime.now(dt.UTC)) == FreshnessState.PASS
