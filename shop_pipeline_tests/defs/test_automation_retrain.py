"""The retraining sensor's decisions (from feature_drift's metadata alone) and the failure alerts."""

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from dagster import (
    AssetMaterialization,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    EnvVar,
    MetadataValue,
    build_run_status_sensor_context,
    build_sensor_context,
    materialize,
)

from shop_pipeline import alerts
from shop_pipeline.automation_rules import ModelFacts, MonitoringFacts, RetrainPolicy
from shop_pipeline.definitions import ASSETS
from shop_pipeline.defs.automation import (
    MONITORING_RECORD_TAG,
    RETRAIN_REASONS_TAG,
    RETRAIN_TRIGGERS_TAG,
    SLACK_CHANNEL_ENV,
    SLACK_TOKEN_ENV,
    TEAMS_WEBHOOK_ENV,
    alert_on_run_failure,
    integration_failure_sensors,
    retrain_sensor,
)
from shop_pipeline.defs.monitoring import FACTS_KEY
from shop_pipeline.resources import (
    MAX_CHAMPION_AGE_ENV,
    MAX_PSI_ENV,
    MIN_NEW_EVENTS_ENV,
    Alerting,
    Retraining,
    alerting_from_environment,
    default_resources,
    retraining_from_environment,
)
from shop_pipeline.warehouse.connection import connect

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
LATEST_DAY = dt.date(2025, 3, 31)


POLICY = Retraining(min_new_events=1000, max_psi=0.25, max_champion_age_days=30)


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


def model(
    name="demand_forecast", new_events=10, trained_end=dt.date(2025, 3, 30), promoted_days_ago=2.0, champion=True
):
    return ModelFacts(
        model_name=name,
        champion_version="v1" if champion else None,
        champion_promoted_at=NOW - dt.timedelta(days=promoted_days_ago) if champion else None,
        champion_train_end=trained_end if champion else None,
        latest_version="v1",
        latest_as_of=trained_end,
        new_clean_events=new_events,
    )


def measured(instance, models, psi=None, latest_day=LATEST_DAY):
    facts = MonitoringFacts(NOW, latest_day, models, psi or {"product_day.units": 0.02})
    instance.report_runless_asset_event(
        AssetMaterialization("feature_drift", metadata={FACTS_KEY: MetadataValue.json(facts.to_json())})
    )


def tick(instance, cursor=None, retraining=POLICY):
    return retrain_sensor(build_sensor_context(instance=instance, cursor=cursor, resources={"retraining": retraining}))


def launched(result):
    [request] = result.run_requests
    return request


def test_nothing_measured_yet_skips_with_a_reason(instance):
    assert "never been materialized" in tick(instance).skip_message


def test_quiet_models_are_not_retrained_and_the_tick_says_why(instance):
    measured(instance, [model(new_events=10)], psi={"product_day.units": 0.05, "score.p_purchase": 0.2})
    reason = tick(instance).skip_message
    assert "10 new clean events < 1000" in reason and "max PSI 0.200 (score.p_purchase)" in reason


def test_drift_above_the_threshold_retrains_and_tags_the_run(instance):
    measured(instance, [model()], psi={"product_day.units": 0.41, "customer.recency_days": 0.1})
    request = launched(tick(instance))
    assert request.tags[RETRAIN_TRIGGERS_TAG] == "drift"
    assert "product_day.units 0.410" in request.tags[RETRAIN_REASONS_TAG]
    assert "recency" not in request.tags[RETRAIN_REASONS_TAG]


def test_drift_at_or_below_the_threshold_does_not(instance):
    measured(instance, [model()], psi={"product_day.units": 0.25})
    assert tick(instance).skip_message.startswith("no trigger")


def test_enough_new_events_retrain(instance):
    measured(instance, [model(new_events=1500), model("propensity", new_events=1500)])
    request = launched(tick(instance))
    assert request.tags[RETRAIN_TRIGGERS_TAG] == "new_data"
    assert "demand_forecast: 1500 new clean events after 2025-03-30 (>= 1000)" in request.tags[RETRAIN_REASONS_TAG]


def test_a_stale_champion_retrains(instance):
    measured(instance, [model(promoted_days_ago=45)])
    request = launched(tick(instance))
    assert request.tags[RETRAIN_TRIGGERS_TAG] == "stale_champion"
    assert "is 45.0 days old (> 30)" in request.tags[RETRAIN_REASONS_TAG]


def test_no_champion_or_no_model_at_all_trains(instance):
    measured(instance, [model(champion=False, trained_end=dt.date(2025, 3, 1))])
    assert launched(tick(instance)).tags[RETRAIN_TRIGGERS_TAG] == "no_champion"
    measured(instance, [])
    assert launched(tick(instance)).tags[RETRAIN_TRIGGERS_TAG] == "no_model"


def test_the_thresholds_are_the_retraining_resources(instance):
    measured(instance, [model(new_events=500, promoted_days_ago=10)], psi={"product_day.units": 0.3})
    assert tick(
        instance, retraining=Retraining(min_new_events=1000, max_psi=0.5, max_champion_age_days=30)
    ).skip_message.startswith("no trigger: 500 new clean events < 1000")
    assert (
        launched(tick(instance, retraining=Retraining(min_new_events=400, max_psi=0.5))).tags[RETRAIN_TRIGGERS_TAG]
        == "new_data"
    )
    assert (
        launched(tick(instance, retraining=Retraining(min_new_events=1000, max_psi=0.2))).tags[RETRAIN_TRIGGERS_TAG]
        == "drift"
    )
    assert (
        launched(tick(instance, retraining=Retraining(min_new_events=1000, max_psi=0.5, max_champion_age_days=7))).tags[
            RETRAIN_TRIGGERS_TAG
        ]
        == "stale_champion"
    )
    with pytest.raises(Exception, match="min_new_events must be >= 1"):
        tick(instance, retraining=Retraining(min_new_events=0))


def test_the_retraining_resource_comes_from_its_environment_variables(monkeypatch):
    for name in (MIN_NEW_EVENTS_ENV, MAX_PSI_ENV, MAX_CHAMPION_AGE_ENV):
        monkeypatch.delenv(name, raising=False)
    assert retraining_from_environment().policy() == RetrainPolicy()  # 20000, 0.25, 30 days
    assert default_resources()["retraining"].policy() == RetrainPolicy()
    monkeypatch.setenv(MIN_NEW_EVENTS_ENV, "123")
    monkeypatch.setenv(MAX_PSI_ENV, "0.4")
    monkeypatch.setenv(MAX_CHAMPION_AGE_ENV, "7.5")
    configured = retraining_from_environment()
    assert configured.min_new_events.name == MIN_NEW_EVENTS_ENV  # the UI shows the variable
    assert configured.process_config_and_initialize().policy() == RetrainPolicy(123, 0.4, 7.5)
    monkeypatch.setenv(MAX_PSI_ENV, "a lot")
    with pytest.raises(ValueError, match="is not a number"):
        retraining_from_environment()


def test_no_trigger_fires_without_data_the_newest_attempt_has_not_seen(instance):
    # a refused challenger trained up to the latest day: drift and age persist, but retraining on
    # the same data again would loop
    measured(instance, [model(trained_end=LATEST_DAY, promoted_days_ago=90)], psi={"product_day.units": 0.9})
    assert "already covers the latest data" in tick(instance).skip_message


def test_each_measurement_launches_at_most_once(instance):
    measured(instance, [model(new_events=5000)])
    first = tick(instance)
    request = launched(first)
    again = tick(instance, first.cursor)
    assert "already launched for feature_drift record" in again.skip_message
    assert request.run_key == f"retrain:{request.tags[MONITORING_RECORD_TAG]}"
    measured(instance, [model(new_events=6000)])  # a newer measurement (the next daily run)
    assert launched(tick(instance, first.cursor)).run_key != request.run_key


@pytest.mark.parametrize("status", [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED])
def test_no_second_run_while_a_training_run_is_starting_or_running(instance, status):
    measured(instance, [model(new_events=5000)])
    run_id = str(uuid.uuid4())
    instance.add_run(DagsterRun(job_name="retrain_models", run_id=run_id, status=status))
    assert tick(instance).skip_message == f"run {run_id} of retrain_models is {status.value}: no second training run"
    instance.add_run(DagsterRun(job_name="retrain_models", run_id=str(uuid.uuid4()), status=DagsterRunStatus.SUCCESS))
    instance.delete_run(run_id)
    assert launched(tick(instance)).tags[RETRAIN_TRIGGERS_TAG] == "new_data"


def test_no_second_run_while_a_training_run_is_queued(tmp_path):
    """A QUEUED run needs a real code location behind it: launch one with the dagster CLI on a
    temporary instance (its default queued run coordinator; no daemon, so it stays queued)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    env = {**os.environ, "DAGSTER_HOME": str(home), "SHOP_PIPELINE_HOME": str(tmp_path / "shop")}
    subprocess.run(
        [sys.executable, "-m", "dagster", "job", "launch", "-m", "shop_pipeline.definitions", "-j", "retrain_models"],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=300,
    )
    with DagsterInstance.from_config(str(home)) as instance:
        [queued] = instance.get_runs()
        assert queued.status == DagsterRunStatus.QUEUED
        measured(instance, [model(new_events=5000)])
        assert tick(instance).skip_message == (
            f"run {queued.run_id} of retrain_models is QUEUED: no second training run"
        )


# ---------------------------------------------------------------------------- failure alerts


class Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list] = []

    def do_POST(self):
        type(self).bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_failed_run_becomes_a_webhook_call_without_touching_the_warehouse(shop, instance):
    Receiver.bodies = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # scoring an empty warehouse fails: a real failed run
        result = materialize(
            ASSETS,
            selection=["customer_scores"],
            resources=default_resources(shop),
            instance=instance,
            raise_on_error=False,
        )
        assert not result.success
        [record] = instance.get_records_for_run(result.run_id, of_type=DagsterEventType.RUN_FAILURE).records
        failure = record.event_log_entry.dagster_event
        context = build_run_status_sensor_context(
            sensor_name="alert_on_run_failure",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id),
        ).for_run_failure()
        # the warehouse is locked by another writer, as during a run: the alert does not care
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                (
                    f"import duckdb, sys; c = duckdb.connect({str(shop.warehouse)!r}); "
                    "print('ready', flush=True); sys.stdin.readline()"
                ),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout.readline().strip() == "ready"
            alert_on_run_failure(context, alerting=Alerting(webhook_url=f"http://127.0.0.1:{server.server_port}/a"))
        finally:
            holder.stdin.close()
            holder.wait(timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    [body] = Receiver.bodies
    assert body["alert_id"] == f"run_failure:{result.run_id}" and body["kind"] == "run_failure"
    assert "no clean events have landed yet" in json.loads(body["details"])["failed_steps"]["customer_scores"]
    with connect(shop.warehouse) as con:  # nothing about alerts in the warehouse
        assert (
            con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'alerts'").fetchone()[0] == 0
        )


def test_the_webhook_comes_from_its_environment_variable_and_is_off_without_it(monkeypatch):
    monkeypatch.delenv(alerts.WEBHOOK_ENV, raising=False)
    assert alerting_from_environment().webhook_url is None
    monkeypatch.setenv(alerts.WEBHOOK_ENV, "http://127.0.0.1:1/hook")
    configured = alerting_from_environment()
    assert configured.webhook_url == EnvVar(alerts.WEBHOOK_ENV)  # the UI shows the variable, not the URL
    assert configured.process_config_and_initialize().webhook_url == "http://127.0.0.1:1/hook"


def test_slack_and_teams_sensors_join_when_configured():
    names = lambda sensors: [sensor.name for sensor in sensors]  # noqa: E731
    assert names(integration_failure_sensors({})) == []
    configured = integration_failure_sensors(
        {
            SLACK_CHANNEL_ENV: "#shop-alerts",
            SLACK_TOKEN_ENV: "xoxb-test",
            TEAMS_WEBHOOK_ENV: "https://example.invalid/teams",
        }
    )
    assert names(configured) == ["slack_on_run_failure", "teams_on_run_failure"]
    assert names(integration_failure_sensors({SLACK_CHANNEL_ENV: "#shop-alerts"})) == []  # no token
