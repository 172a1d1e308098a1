"""The daily schedule, and the daily job: partitioned and unpartitioned assets for one partition key."""

import datetime as dt

from dagster import AssetKey, DagsterInstance, SkipReason, build_schedule_context

from shop_pipeline.definitions import build_definitions
from shop_pipeline.defs.automation import TRIGGER_TAG, build_daily_schedule
from shop_pipeline.defs.monitoring import FACTS_KEY
from shop_pipeline.settings import DAILY_HOUR_ENV, TIMEZONE_ENV
from shop_pipeline_tests.defs.helpers import good_day, materialized, query
from shop_pipeline_tests.landing_fixtures import write_events


def evaluate(schedule, when: dt.datetime):
    with DagsterInstance.ephemeral() as instance:
        return schedule(build_schedule_context(instance=instance, scheduled_execution_time=when))


def test_the_schedule_runs_yesterdays_partition_at_the_configured_hour_and_zone(monkeypatch):
    monkeypatch.setenv(TIMEZONE_ENV, "Europe/Berlin")
    monkeypatch.setenv(DAILY_HOUR_ENV, "5")
    schedule = build_daily_schedule()
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 5 * * *", "Europe/Berlin")
    request = evaluate(schedule, dt.datetime(2025, 3, 10, 4, 0, tzinfo=dt.UTC))
    assert request.partition_key == "2025-03-01"  # yesterday (2025-03-09 in UTC) is in March
    assert evaluate(schedule, dt.datetime(2025, 3, 1, 4, 0, tzinfo=dt.UTC)).partition_key == "2025-02-01"
    assert request.tags[TRIGGER_TAG] == "schedule"


def test_before_the_first_partition_the_schedule_skips(monkeypatch):
    monkeypatch.delenv(TIMEZONE_ENV, raising=False)
    skip = evaluate(build_daily_schedule(), dt.datetime(2025, 1, 1, 6, 0, tzinfo=dt.UTC))
    assert isinstance(skip, SkipReason)
    assert "before the first partition" in skip.skip_message


def test_the_daily_job_runs_one_partition_with_the_unpartitioned_assets(shop):
    write_events(shop.landing, "events_2025-01-02.csv", good_day("2025-01-02"))
    write_events(shop.landing, "events_2025-01-03.csv", good_day("2025-01-03", 30))
    write_events(shop.landing, "events_2025-02-03.csv", good_day("2025-02-03", 30))
    job = build_definitions(shop).resolve_job_def("daily_partition_pipeline")
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(partition_key="2025-01-01", instance=instance, raise_on_error=False)
        by_asset = {e.asset_key.to_user_string(): e.partition for e in result.get_asset_materialization_events()}
        drift = instance.get_latest_materialization_event(AssetKey("feature_drift")).asset_materialization

    # the month's partition of the partitioned assets, the whole of the unpartitioned ones, in one run
    assert {k: by_asset[k] for k in ("raw_events", "clean_events", "quarantined_events")} == dict.fromkeys(
        ("raw_events", "clean_events", "quarantined_events"), "2025-01-01")
    assert by_asset["product_daily_sales"] is None and by_asset["feature_drift"] is None
    assert materialized(result) >= {"raw_products", "raw_marketing", "customer_features"}
    assert query(shop, "SELECT DISTINCT partition_date FROM staging.events ORDER BY 1") == [
        (dt.date(2025, 1, 2),), (dt.date(2025, 1, 3),)]
    # scoring uses the current champions; a new shop has none, so scoring fails and says why,
    # and only scoring fails
    assert not result.success
    failures = {e.step_key: e.step_failure_data.error.cause.message for e in result.all_events if e.is_step_failure}
    graph = build_definitions(shop).resolve_asset_graph()
    assert {graph.get(AssetKey(step)).group_name for step in failures} == {"scoring"}
    assert "has no champion" in failures["customer_scores"] and "has no champion" in failures["demand_forecasts"]
    assert drift.metadata[FACTS_KEY].value["models"] == []
