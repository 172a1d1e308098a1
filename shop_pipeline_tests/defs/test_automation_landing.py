"""The landing sensor: new settled files make their months partitions and launch one run per month, each
file version exactly once."""

import datetime as dt
import os
import time

import pytest
from dagster import DagsterInstance, build_sensor_context, materialize

from shop_pipeline.definitions import ASSETS, build_definitions
from shop_pipeline.defs.automation import LANDING_FILES_TAG, TRIGGER_TAG, landing_sensor
from shop_pipeline.defs.common import add_partitions
from shop_pipeline.resources import ShopHome, default_resources
from shop_pipeline.settings import SETTLE_SECONDS_ENV
from shop_pipeline_tests.defs.helpers import apply_partition_requests, checks_by_name, good_day, partitions, query
from shop_pipeline_tests.landing_fixtures import event_line, write_events

SETTLE = 30


@pytest.fixture(autouse=True)
def settle_seconds(monkeypatch):
    monkeypatch.setenv(SETTLE_SECONDS_ENV, str(SETTLE))


def tick(shop, instance, cursor=None):
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"shop": ShopHome(home=str(shop.home))})
    return apply_partition_requests(instance, landing_sensor(context))


def quiet_for(path, seconds: float):
    """Pretend the last write was `seconds` ago (the file was renamed in, or has settled)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def landed(shop, name, lines, age=SETTLE + 5):
    path = write_events(shop.landing, name, lines)
    quiet_for(path, age)
    return path


def test_new_files_launch_one_run_per_partition_and_the_same_files_none(shop):
    landed(shop, "events_2025-01-02.csv", good_day("2025-01-02"))
    landed(shop, "events_2025-01-02_late.csv", good_day("2025-01-02", 5, prefix="l"))
    landed(shop, "events_2025-01-31.csv", good_day("2025-01-31"))
    landed(shop, "events_2025-02-01.csv", good_day("2025-02-01"))
    with DagsterInstance.ephemeral() as instance:
        first = tick(shop, instance)
        requests = sorted(first.run_requests, key=lambda r: r.partition_key)
        assert [r.partition_key for r in requests] == ["2025-01-01", "2025-02-01"]
        assert requests[0].tags[LANDING_FILES_TAG] == (
            "events/events_2025-01-02.csv, events/events_2025-01-02_late.csv, events/events_2025-01-31.csv"
        )
        assert requests[0].tags[TRIGGER_TAG] == "landing"
        assert len({r.run_key for r in requests}) == 2
        # the months with files are the partitions, added with the runs that need them
        assert [list(r.partition_keys) for r in first.dynamic_partitions_requests] == [["2025-01-01", "2025-02-01"]]
        assert partitions(instance) == ["2025-01-01", "2025-02-01"]

        again = tick(shop, instance, first.cursor)
        assert again.run_requests == [] and again.dynamic_partitions_requests == []
        assert again.skip_reason.skip_message == "no new files"

        # a file of a month that is a partition already adds none; a new month is added
        landed(shop, "events_2025-01-05.csv", good_day("2025-01-05"))
        landed(shop, "events_2025-04-02.csv", good_day("2025-04-02"))
        third = tick(shop, instance, again.cursor)
        assert sorted(r.partition_key for r in third.run_requests) == ["2025-01-01", "2025-04-01"]
        assert [list(r.partition_keys) for r in third.dynamic_partitions_requests] == [["2025-04-01"]]
        assert partitions(instance) == ["2025-01-01", "2025-02-01", "2025-04-01"]  # no partition for March


def test_a_half_written_file_is_skipped_until_it_settles(shop):
    path = write_events(shop.landing, "events_2025-01-02.csv", good_day("2025-01-02")[:10])
    part = write_events(shop.landing, "events_2025-01-03.csv.part", good_day("2025-01-03"))
    quiet_for(part, 3600)
    with DagsterInstance.ephemeral() as instance:
        writing = tick(shop, instance)
        assert writing.run_requests == []
        assert "events/events_2025-01-02.csv: still being written" in writing.skip_reason.skip_message
        assert ".part" not in writing.skip_reason.skip_message  # uploads in progress are not even listed

        write_events(shop.landing, "events_2025-01-02.csv", good_day("2025-01-02"))  # the writer finishes
        quiet_for(path, SETTLE + 1)
        done = tick(shop, instance, writing.cursor)
        [request] = done.run_requests
        assert request.partition_key == "2025-01-01"


def test_a_rewritten_file_is_a_new_version(shop):
    path = landed(shop, "events_2025-01-02.csv", good_day("2025-01-02"))
    with DagsterInstance.ephemeral() as instance:
        first = tick(shop, instance)
        write_events(shop.landing, "events_2025-01-02.csv", good_day("2025-01-02", 70))
        quiet_for(path, SETTLE + 1)
        second = tick(shop, instance, first.cursor)
        [request] = second.run_requests
        assert request.partition_key == "2025-01-01"
        assert request.run_key != first.run_requests[0].run_key


def test_a_file_outside_the_partitions_is_reported_once_and_not_launched(shop):
    landed(shop, "events_2019-05-01.csv", good_day("2019-05-01"))
    with DagsterInstance.ephemeral() as instance:
        first = tick(shop, instance)
        assert first.run_requests == []
        assert "outside the partitions" in first.skip_reason.skip_message
        assert partitions(instance) == []
        assert tick(shop, instance, first.cursor).skip_reason.skip_message == "no new files"


def test_the_cursor_survives_a_daemon_restart(shop, tmp_path):
    landed(shop, "events_2025-01-02.csv", good_day("2025-01-02"))
    storage = tmp_path / "dagster_home"
    storage.mkdir()
    with DagsterInstance.local_temp(str(storage)) as instance:
        stored_cursor = tick(shop, instance).cursor
    # a new daemon process: a fresh instance on the same storage, a fresh context with the stored cursor
    landed(shop, "events_2025-01-03.csv", good_day("2025-01-03"))
    with DagsterInstance.local_temp(str(storage)) as instance:
        after_restart = tick(shop, instance, stored_cursor)
    [request] = after_restart.run_requests
    assert request.partition_key == "2025-01-01"
    assert request.tags[LANDING_FILES_TAG] == "events/events_2025-01-03.csv"


def test_a_file_that_fails_ingestion_is_launched_once_and_not_again(shop):
    drifted = "event_id,event_time,event_type,user_id,session_id,product_id,category,brand,unit_price,quantity,order_id,coupon"
    path = write_events(shop.landing, "events_2025-01-02_partner.csv", [event_line("z1") + ",SAVE10"], header=drifted)
    quiet_for(path, SETTLE + 5)
    job = build_definitions(shop).resolve_job_def("ingest_events")
    with DagsterInstance.ephemeral() as instance:
        first = tick(shop, instance)
        [request] = first.run_requests
        result = job.execute_in_process(
            partition_key=request.partition_key, tags=request.tags, instance=instance, raise_on_error=False
        )
        # the run goes on (other files would be ingested); the file is recorded as failed, and says so
        assert checks_by_name(result)["landed_files_readable"] is False
        [(status,)] = query(shop, "SELECT status FROM raw.ingested_files WHERE path LIKE '%partner%'")
        assert status == "failed"
        # the next ticks do not launch it again (a daemon would also refuse the same run_key)
        second = tick(shop, instance, first.cursor)
        assert second.run_requests == [] and second.skip_reason.skip_message == "no new files"


def test_files_a_run_already_ingested_are_not_launched_again(shop):
    # a shop loaded by `shop-pipeline run` (or a backfill) before the sensor was turned on
    path = landed(shop, "events_2025-01-02.csv", good_day("2025-01-02"))
    with DagsterInstance.ephemeral() as instance:
        add_partitions(instance, [dt.date(2025, 1, 2)])
        loaded = materialize(
            ASSETS,
            selection=["raw_events"],
            partition_key="2025-01-01",
            resources=default_resources(shop),
            instance=instance,
        )
        assert loaded.success
        first = tick(shop, instance)
        assert first.run_requests == []
        assert "already ingested by a run of its partition" in first.skip_reason.skip_message
        # a new delivery for that day, after the run, is launched
        write_events(shop.landing, "events_2025-01-02.csv", good_day("2025-01-02", 60))
        quiet_for(path, SETTLE + 1)
        [request] = tick(shop, instance, first.cursor).run_requests
        assert request.partition_key == "2025-01-01"
