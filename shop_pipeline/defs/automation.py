"""Stage `automation`: what starts runs: the landing sensor and daily schedule (ingestion), the
declarative automation that carries new data on (features, drift, scores), the retraining
trigger, and failure alerts.

Jobs
- `ingest_events`: the ingestion and staging assets of one or more monthly partitions
  (raw_events, clean_events, quarantined_events; the catalog, marketing and order labels are
  reloaded whole). Launched by the landing sensor and the daily schedule.
- `retrain_models`: training -> evaluation (promotion gate) -> monitoring -> scoring.

Schedule and sensors
- `landing_sensor`: new settled files in $SHOP_PIPELINE_HOME/landing/events -> the months they
  fall in become partitions, and each month with new files gets one ingest_events run.
- `daily_partition_schedule`: every day at $SHOP_PIPELINE_DAILY_HOUR:$SHOP_PIPELINE_DAILY_MINUTE
  (default 06:00) in $SHOP_PIPELINE_TIMEZONE (default UTC), yesterday's month (when it has files).
- `follow_new_data`: the automation-condition sensor. Once clean_events is published with its
  blocking checks passed, the feature tables follow, then feature_drift, the score tables and
  the serving snapshot (defs/common.py `follows_new_data`); nothing trains. Starts RUNNING.
- `retrain_sensor`: retrains on new data, drift or an old champion (reads only the instance), with the
  thresholds of the `retraining` resource.
- `alert_on_run_failure`: posts every failed run to the `alerting` resource's webhook
  ($SHOP_PIPELINE_ALERT_WEBHOOK); with the `slack` / `msteams` extras installed and configured,
  Dagster's own Slack and Teams failure sensors join it (`failure_sensors`).
The other sensors and the schedule start STOPPED (turn them on in the UI, Automation tab).
The decisions themselves are plain functions in automation_rules.py.
"""

import datetime as dt
import os
import time
from pathlib import Path

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DagsterRunStatus,
    DefaultSensorStatus,
    Definitions,
    RunFailureSensorContext,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    run_failure_sensor,
    schedule,
    sensor,
)

from shop_pipeline.alerts import WEBHOOK_ENV, Alert, WebhookError, post_webhook, redacted
from shop_pipeline.automation_rules import (
    FileVersion,
    LandingCursor,
    MonitoringFacts,
    retrain_triggers,
    scan_landing,
    why_not,
    yesterday_partition,
)
from shop_pipeline.defs.common import (
    add_partitions,
    event_partitions,
    new_partition_keys,
    partition_key,
    partition_start,
)
from shop_pipeline.defs.monitoring import FACTS_KEY
from shop_pipeline.instance import recover_dead_runs
from shop_pipeline.resources import Alerting, Retraining, ShopHome
from shop_pipeline.settings import ScheduleSettings, landing_interval_seconds, landing_settle_seconds, partition_bounds
from shop_pipeline.sources.landing import discover

TRIGGER_TAG = "shop_pipeline/trigger"  # schedule | landing | automation | retrain
LANDING_FILES_TAG = "shop_pipeline/landing_files"
RETRAIN_TRIGGERS_TAG = "shop_pipeline/retrain_triggers"  # comma-separated trigger codes
RETRAIN_REASONS_TAG = "shop_pipeline/retrain_reasons"  # the readable details
MONITORING_RECORD_TAG = "shop_pipeline/monitoring_record"
TAG_VALUE_LIMIT = 1000

INGEST_GROUPS = ("ingestion", "staging")
RETRAIN_GROUPS = ("training", "evaluation", "monitoring", "scoring")
# Jobs that train: while one of their runs is queued or running, no retraining is launched.
TRAINING_JOBS = ("retrain_models", "full_pipeline")
ACTIVE_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
DRIFT_ASSET = AssetKey("feature_drift")
RAW_EVENTS = AssetKey("raw_events")

ingest_events = define_asset_job(
    "ingest_events",
    selection=AssetSelection.groups(*INGEST_GROUPS),
    description=(
        "Ingest the new files of the selected months, stage and validate them (a range of months runs as one "
        "run), and reload the catalog, marketing and order labels. Launched by the landing sensor and the daily "
        "schedule; follow_new_data then rebuilds the feature tables, drift and scores from what it published."
    ),
)

retrain_models = define_asset_job(
    "retrain_models",
    selection=AssetSelection.groups(*RETRAIN_GROUPS),
    description=(
        "Train every model, gate each challenger against its baselines and the champion, re-measure drift "
        "against the (new or kept) champion, and score. Launched by retrain_sensor."
    ),
)


def _clip(text: str) -> str:
    return text if len(text) <= TAG_VALUE_LIMIT else text[: TAG_VALUE_LIMIT - 3] + "..."


# ---------------------------------------------------------------------------- daily schedule


def build_daily_schedule(settings: ScheduleSettings | None = None):
    settings = settings or ScheduleSettings.from_env()

    @schedule(
        name="daily_partition_schedule",
        cron_schedule=settings.cron,
        execution_timezone=settings.timezone,
        job=ingest_events,
        description=(
            f"Every day at {settings.hour:02d}:{settings.minute:02d} {settings.timezone}: the month of yesterday (the "
            "last UTC day that has ended), when it has landed files: its files not ingested yet are ingested and "
            "staged, and follow_new_data carries them on to the features and scores. Catches files the landing "
            "sensor did not see."
        ),
    )
    def daily_partition_schedule(context: ScheduleEvaluationContext, shop: ShopHome):
        scheduled = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        day = yesterday_partition(scheduled)
        first, _ = partition_bounds()
        if day < first:
            return SkipReason(f"yesterday ({day}) is before the first partition ({first})")
        month = partition_key(day)
        if not any(partition_key(landed.day) == month for landed in discover(shop.paths.landing)):
            return SkipReason(f"no landed file is dated in the month of yesterday ({month}): nothing to ingest")
        # a schedule cannot return partition requests as a sensor does: the month's files make it a
        # partition here (the landing sensor usually did so already)
        add_partitions(context.instance, [day])
        # yesterday's month: its files not ingested yet, and the days they change, are processed
        return RunRequest(partition_key=month, tags={TRIGGER_TAG: "schedule"})

    return daily_partition_schedule


# ---------------------------------------------------------------------------- landing sensor


def landed_versions(landing: Path) -> list[FileVersion]:
    """Every landed event file (as discover() lists them) with its size and times."""
    versions = []
    for landed in discover(landing):
        try:
            stat = os.stat(landed.path)
        except FileNotFoundError:  # removed between listing and stat
            continue
        versions.append(
            FileVersion(
                landed.relative, landed.day, stat.st_size, stat.st_mtime_ns, max(stat.st_mtime_ns, stat.st_ctime_ns)
            )
        )
    return versions


def ingestion_run_starts(instance, days: set[dt.date]) -> dict[dt.date, int]:
    """Per partition (its first day), when the run that last materialized its raw_events started (ns).

    A partition missing from the answer (never materialized, or crowded out of the bounded query
    by another partition's many re-materializations) is launched: the safe side, since ingestion
    is exactly once.
    """
    if not days:
        return {}
    keys = sorted({partition_key(day) for day in days})
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=RAW_EVENTS, asset_partitions=keys), limit=len(keys) * 20
    ).records
    started: dict[dt.date, int] = {}
    for record in records:  # newest first
        day = dt.date.fromisoformat(record.partition_key)
        if day in started:
            continue
        run = instance.get_run_record_by_id(record.run_id)
        seconds = run.start_time if run is not None and run.start_time else record.timestamp
        started[day] = int(seconds * 1_000_000_000)
    return started


@sensor(
    name="landing_sensor",
    job=ingest_events,
    minimum_interval_seconds=landing_interval_seconds(),
    description=(
        "Watches $SHOP_PIPELINE_HOME/landing/events. A file is taken once it has not been written for "
        "$SHOP_PIPELINE_LANDING_SETTLE_SECONDS (default 30; or upload as *.part and rename when done); the month of "
        "a new file becomes a partition if it is not one yet, and each month with new files gets one ingest_events "
        "run, unless a run that started after they landed already ingested their month (the CLI, a backfill, the "
        "schedule). The cursor makes every file version (path, size, mtime) launch once, so a file whose ingestion "
        "fails is not retried in a loop; a rewritten file is a new version."
    ),
)
def landing_sensor(context: SensorEvaluationContext, shop: ShopHome) -> SensorResult:
    now_ns = time.time_ns()  # before listing: see scan_landing
    # a killed run would hold the duckdb pool forever and block every run this sensor launches
    for line in recover_dead_runs(context.instance):
        context.log.warning(line)
    cursor = LandingCursor.from_json(context.cursor)
    first_day, last_day = partition_bounds()
    versions = landed_versions(shop.paths.landing)
    started = ingestion_run_starts(context.instance, {v.day for v in versions if cursor.is_new(v)})
    scan = scan_landing(
        versions, cursor, now_ns, landing_settle_seconds(), first_day, last_day, started, partition_of=partition_start
    )
    for line in scan.explain():
        context.log.info(line)
    requests = [
        RunRequest(
            run_key=scan.batch_run_key(day),
            partition_key=partition_key(day),
            tags={TRIGGER_TAG: "landing", LANDING_FILES_TAG: _clip(", ".join(v.relative for v in files))},
        )
        for day, files in sorted(scan.batches.items())
    ]
    if requests:
        # Dagster adds the new months before it creates the runs that need them
        added = new_partition_keys(context.instance, scan.batches)
        return SensorResult(
            run_requests=requests,
            cursor=scan.cursor.to_json(),
            dynamic_partitions_requests=[event_partitions.build_add_request(added)] if added else [],
        )
    reason = "; ".join(scan.explain()) or "no new files"
    return SensorResult(skip_reason=SkipReason(_clip(reason)), cursor=scan.cursor.to_json())


# ---------------------------------------------------------------------------- declarative automation

follow_new_data = AutomationConditionSensorDefinition(
    "follow_new_data",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    run_tags={TRIGGER_TAG: "automation"},
    description=(
        "Evaluates the assets' automation conditions every 30 s. After clean_events is published with its blocking "
        "checks passed (by an ingest_events run of the landing sensor, the schedule or a backfill), the feature "
        "tables are requested, then feature_drift, the score tables with the current champions and the serving "
        "snapshot, in one run (queued on the duckdb pool like every writing run). Nothing trains here: "
        "retrain_sensor decides that. Starts RUNNING: it only reacts to new materializations."
    ),
)


# ---------------------------------------------------------------------------- retraining trigger


def active_training_run(instance) -> str | None:
    """A queued or running run of a training job, described; None when there is none."""
    for job_name in TRAINING_JOBS:
        runs = instance.get_runs(RunsFilter(job_name=job_name, statuses=ACTIVE_STATUSES), limit=1)
        if runs:
            return f"run {runs[0].run_id} of {job_name} is {runs[0].status.value}"
    return None


@sensor(
    name="retrain_sensor",
    job=retrain_models,
    minimum_interval_seconds=300,
    description=(
        "Launches retrain_models when a model has no champion, when at least retraining.min_new_events "
        "(20000) clean events landed after the newest training attempt, when a PSI in feature_drift exceeds "
        "retraining.max_psi (0.25), or when a champion is older than retraining.max_champion_age_days "
        "(30) -- and only with data that attempt has not seen. Never while a training run is queued or running; "
        "at most once per feature_drift measurement. Reads only the Dagster instance (no DuckDB)."
    ),
)
def retrain_sensor(context: SensorEvaluationContext, retraining: Retraining):
    busy = active_training_run(context.instance)
    if busy:
        return SkipReason(f"{busy}: no second training run")
    records = context.instance.fetch_materializations(DRIFT_ASSET, limit=1).records
    if not records:
        return SkipReason(
            "feature_drift has never been materialized: run `shop-pipeline run` first, or let "
            "landing_sensor and follow_new_data carry landed files to it"
        )
    record = records[0]
    if context.cursor and record.storage_id <= int(context.cursor):
        return SkipReason(
            f"retraining was already launched for feature_drift record {record.storage_id}; "
            "waiting for a newer measurement"
        )
    entry = record.asset_materialization.metadata.get(FACTS_KEY)
    if entry is None:
        return SkipReason(f"feature_drift record {record.storage_id} has no '{FACTS_KEY}' metadata")
    facts = MonitoringFacts.from_json(entry.value)
    policy = retraining.policy()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    triggers = retrain_triggers(facts, policy, now)
    if not triggers:
        return SkipReason(why_not(facts, policy))
    for trigger in triggers:
        context.log.info(f"retrain: {trigger.code}: {trigger.detail}")
    codes = sorted({t.code for t in triggers})
    request = RunRequest(
        run_key=f"retrain:{record.storage_id}",
        tags={
            TRIGGER_TAG: "retrain",
            RETRAIN_TRIGGERS_TAG: ",".join(codes),
            RETRAIN_REASONS_TAG: _clip("; ".join(f"{t.code}: {t.detail}" for t in triggers)),
            MONITORING_RECORD_TAG: str(record.storage_id),
        },
    )
    return SensorResult(run_requests=[request], cursor=str(record.storage_id))


# ---------------------------------------------------------------------------- failure alerts


def _failure_text(error) -> str:
    """The user's exception message (Dagster wraps it in "Error occurred while executing op ...")."""
    if error is None:
        return ""
    return (error.cause or error).message.strip()


@run_failure_sensor(
    name="alert_on_run_failure",
    description=(
        "Every failed run of this code location, as a JSON POST to the alerting resource's webhook "
        "($SHOP_PIPELINE_ALERT_WEBHOOK). Dagster keeps the failed run itself; nothing is written to the warehouse."
    ),
)
def alert_on_run_failure(context: RunFailureSensorContext, alerting: Alerting):
    run = context.dagster_run
    failed_steps = {
        event.step_key: _failure_text(event.step_failure_data.error) for event in context.get_step_failure_events()
    }
    message = context.failure_event.message or f"run {run.run_id} of {run.job_name} failed"
    alert = Alert(
        kind="run_failure",
        message=message,
        run_id=run.run_id,
        job_name=run.job_name,
        details={
            "failed_steps": failed_steps,
            "partition": run.tags.get("dagster/partition"),
            "tags": {k: v for k, v in run.tags.items() if k.startswith(("shop_pipeline/", "dagster/partition"))},
        },
    )
    if not alerting.webhook_url:
        context.log.info(f"run {run.run_id} failed; no webhook is configured ({WEBHOOK_ENV})")
        return
    try:
        status = post_webhook(alerting.webhook_url, alert.to_record())
        context.log.info(f"alert {alert.alert_id} posted to {redacted(alerting.webhook_url)} ({status})")
    except WebhookError as error:
        context.log.warning(str(error))


SLACK_CHANNEL_ENV = "SHOP_PIPELINE_SLACK_CHANNEL"
SLACK_TOKEN_ENV = "SHOP_PIPELINE_SLACK_TOKEN"
TEAMS_WEBHOOK_ENV = "SHOP_PIPELINE_TEAMS_WEBHOOK"


def integration_failure_sensors(environ=os.environ) -> list:
    """Dagster's Slack sensor when $SHOP_PIPELINE_SLACK_CHANNEL and
    $SHOP_PIPELINE_SLACK_TOKEN are set (extra `slack`), and its Teams sensor when
    $SHOP_PIPELINE_TEAMS_WEBHOOK is set (extra `msteams`). A configured integration whose
    package is missing fails the definitions with the pip command, rather than alerting nobody."""
    sensors = []
    if environ.get(SLACK_CHANNEL_ENV) and environ.get(SLACK_TOKEN_ENV):
        try:
            from dagster_slack import make_slack_on_run_failure_sensor
        except ImportError as error:
            raise ImportError(f"{SLACK_CHANNEL_ENV} is set: pip install 'shop_pipeline[slack]'") from error
        sensors.append(
            make_slack_on_run_failure_sensor(
                channel=environ[SLACK_CHANNEL_ENV], slack_token=environ[SLACK_TOKEN_ENV], name="slack_on_run_failure"
            )
        )
    if environ.get(TEAMS_WEBHOOK_ENV):
        try:
            from dagster_msteams import make_teams_on_run_failure_sensor
        except ImportError as error:
            raise ImportError(f"{TEAMS_WEBHOOK_ENV} is set: pip install 'shop_pipeline[msteams]'") from error
        sensors.append(
            make_teams_on_run_failure_sensor(hook_url=environ[TEAMS_WEBHOOK_ENV], name="teams_on_run_failure")
        )
    return sensors


# Every asset the shop needs, over any partition range in one run.
# The retention purge (group privacy) runs on its own: its job and schedule are in defs/privacy.py.
full_pipeline = define_asset_job(
    "full_pipeline",
    selection=AssetSelection.all() - AssetSelection.groups("privacy"),
    description="Ingest, stage and validate the selected partitions (a range runs as one run).",
)


def definitions_from_environment() -> Definitions:
    """What depends on the environment when the definitions load (the rest of defs/ is found by
    dg's folder loading): the schedule's hour and time zone, and the configured Slack / Teams sensors."""
    return Definitions(schedules=[build_daily_schedule()], sensors=integration_failure_sensors())
