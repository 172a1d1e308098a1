"""The daily schedule, and the ingest job it launches: one month's partition with the unpartitioned
ingestion assets; the feature tables and drift then follow through their automation conditions."""

import datetime as dt

from dagster import AssetKey, DagsterInstance, SkipReason, build_schedule_context, evaluate_automation_conditions

from shop_pipeline.definitions import build_definitions
from shop_pipeline.defs.automation import TRIGGER_TAG, build_daily_schedule
from shop_pipeline.defs.common import add_partitions
from shop_pipeline.defs.monitoring import FACTS_KEY
from shop_pipeline.resources import ShopHome
from shop_pipeline.settings import DAILY_HOUR_ENV, TIMEZONE_ENV
from shop_pipeline_tests.defs.helpers import good_day, materialized, partitions, query, requested, run_requested
from shop_pipeline_tests.landing_fixtures import write_events


def evaluate(schedule, when: dt.datetime, shop, instance):
    """One tick; the instance must be persistent (a schedule's context opens it from its reference, and
    closing the context closes that instance again, as the daemon does)."""
    with build_schedule_context(
        instance=instance, scheduled_execution_time=when, resources={"shop": ShopHome(home=str(shop.home))}
    ) as context:
        return schedule(context)


def test_the_schedule_runs_yesterdays_month_at_the_configured_hour_and_zone(shop, monkeypatch, tmp_path):
    monkeypatch.setenv(TIMEZONE_ENV, "Europe/Berlin")
    monkeypatch.setenv(DAILY_HOUR_ENV, "5")
    write_events(shop.landing, "events_2025-02-27.csv", good_day("2025-02-27"))
    write_events(shop.landing, "events_2025-03-09.csv", good_day("2025-03-09"))
    schedule = build_daily_schedule()
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 5 * * *", "Europe/Berlin")
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        request = evaluate(schedule, dt.datetime(2025, 3, 10, 4, 0, tzinfo=dt.UTC), shop, instance)
        assert request.partition_key == "2025-03-01"  # yesterday (2025-03-09 in UTC) is in March
        assert request.tags[TRIGGER_TAG] == "schedule"
        assert (
            evaluate(schedule, dt.datetime(2025, 3, 1, 4, 0, tzinfo=dt.UTC), shop, instance).partition_key
            == "2025-02-01"
        )
        # the months it ran became partitions (a schedule cannot hand Dagster partition requests)
        assert sorted(partitions(instance)) == ["2025-02-01", "2025-03-01"]


def test_a_month_without_files_is_skipped_and_gets_no_partition(shop, monkeypatch, tmp_path):
    monkeypatch.delenv(TIMEZONE_ENV, raising=False)
    write_events(shop.landing, "events_2025-01-02.csv", good_day("2025-01-02"))
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        skip = evaluate(build_daily_schedule(), dt.datetime(2025, 3, 10, 6, 0, tzinfo=dt.UTC), shop, instance)
        assert isinstance(skip, SkipReason)
        assert "no landed file is dated in the month of yesterday (2025-03-01)" in skip.skip_message
        assert partitions(instance) == []


def test_before_the_first_partition_the_schedule_skips(shop, monkeypatch, tmp_path):
    monkeypatch.delenv(TIMEZONE_ENV, raising=False)
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        skip = evaluate(build_daily_schedule(), dt.datetime(2025, 1, 1, 6, 0, tzinfo=dt.UTC), shop, instance)
    assert isinstance(skip, SkipReason)
    assert "before the first partition" in skip.skip_message


def test_the_ingest_job_runs_one_month_then_features_and_drift_follow_but_not_scores_without_champions(shop):
    write_events(shop.landing, "events_2025-01-02.csv", good_day("2025-01-02"))
    write_events(shop.landing, "events_2025-01-03.csv", good_day("2025-01-03", 30))
    write_events(shop.landing, "events_2025-02-03.csv", good_day("2025-02-03", 30))
    definitions = build_definitions(shop)
    with DagsterInstance.ephemeral() as instance:
        add_partitions(instance, [dt.date(2025, 1, 2)])
        first = evaluate_automation_conditions(defs=definitions, instance=instance)
        assert first.total_requested == 0  # nothing is missing "newly": a new shop waits for data
        result = definitions.resolve_job_def("ingest_events").execute_in_process(
            partition_key="2025-01-01", instance=instance
        )
        by_asset = {e.asset_key.to_user_string(): e.partition for e in result.get_asset_materialization_events()}
        # the month's partition of the partitioned assets, the whole of the unpartitioned ingestion assets
        assert {k: by_asset[k] for k in ("raw_events", "clean_events", "quarantined_events")} == dict.fromkeys(
            ("raw_events", "clean_events", "quarantined_events"), "2025-01-01"
        )
        assert set(materialized(result)) == {
            "raw_events",
            "clean_events",
            "quarantined_events",
            "raw_products",
            "raw_marketing",
            "order_labels",
        }
        assert query(shop, "SELECT DISTINCT partition_date FROM staging.events ORDER BY 1") == [
            (dt.date(2025, 1, 2),),
            (dt.date(2025, 1, 3),),
        ]

        # clean events published with their checks passed: the feature tables and drift follow; a new shop
        # has no champion, so no score table is requested (nothing trains either)
        after = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=first.cursor)
        assert requested(definitions, after) == {
            "product_daily_sales",
            "customer_features",
            "interactions",
            "order_features",
            "feature_drift",
        }
        followed = run_requested(definitions, instance, after)
        assert followed.success
        drift = instance.get_latest_materialization_event(AssetKey("feature_drift")).asset_materialization
        assert drift.metadata[FACTS_KEY].value["models"] == []
        # and once they ran, nothing more is requested
        assert (
            evaluate_automation_conditions(defs=definitions, instance=instance, cursor=after.cursor).total_requested
            == 0
        )
