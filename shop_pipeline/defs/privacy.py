"""Stage `privacy`: the retention purge (retention.py), scheduled.

- `expired_events`: removes every event before today minus `retention_days` (the `retention`
  resource, $SHOP_PIPELINE_RETENTION_DAYS) from every layer: raw, staging, quarantine, rejected
  lines, features, scores, the serving snapshot (republished), the prediction logs and the landing
  files; logged in privacy.retention_purges and logs/retention.jsonl. Not part of full_pipeline:
  it runs on its own, between the runs that write the warehouse (the `duckdb` pool).
- `purge_expired_events`: the job of that asset.
- `retention_schedule`: once a day (05:00 UTC, before the daily run), one purge per cut-off day
  when retention is set. Starts STOPPED, like the daily schedule: turn it on in the UI.
"""

import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetSelection,
    Config,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    asset,
    define_asset_job,
    schedule,
)

from shop_pipeline.automation_rules import retention_due
from shop_pipeline.defs.common import DATA_PLATFORM, DUCKDB_POOL
from shop_pipeline.resources import Retention, ShopHome
from shop_pipeline.retention import purge_expired
from shop_pipeline.sources.landing import discover

PRIVACY_GROUP = "privacy"
TRIGGER_TAG = "shop_pipeline/trigger"


class ExpiredEventsConfig(Config):
    """`now`: the instant the cut-off counts back from (ISO, UTC; empty: when the run starts). The
    schedule sets its tick's time, so a run that starts late purges the same days."""

    now: str | None = None


@asset(
    group_name=PRIVACY_GROUP,
    kinds={"duckdb"},
    owners=DATA_PLATFORM,
    # the purge writes the DuckDB file (the manifest, the privacy log) in either engine: it queues
    # behind the other writers of that file, never beside them in a per-asset Spark pool
    pool=DUCKDB_POOL,
    description=(
        "The retention purge: every event before today minus retention_days ($SHOP_PIPELINE_RETENTION_DAYS) leaves "
        "raw, staging, quarantine, rejected lines, features, scores, the serving snapshot (republished), the "
        "prediction logs and the landing files (removed, or rewritten without late old lines; the manifest records "
        "it). Customers left without events are erased as `forget` erases them; the next run recomputes features, "
        "models and scores from what remains. Logged in privacy.retention_purges and logs/retention.jsonl."
    ),
)
def expired_events(
    context: AssetExecutionContext, config: ExpiredEventsConfig, retention: Retention, shop: ShopHome
) -> MaterializeResult:
    if retention.retention_days is None:
        context.log.info("retention is off ($SHOP_PIPELINE_RETENTION_DAYS unset): nothing purged")
        return MaterializeResult(metadata={"retention_days": "off", "rows_removed": 0})
    now = dt.datetime.fromisoformat(config.now) if config.now else dt.datetime.now(dt.UTC)
    if now.tzinfo is not None:
        now = now.astimezone(dt.UTC).replace(tzinfo=None)
    report = purge_expired(shop.paths, retention.retention_days, now=now)
    for line in report.describe().splitlines():
        context.log.info(line)
    removed = "\n".join(f"| {table} | {rows:,} |" for table, rows in sorted(report.rows_removed.items()))
    return MaterializeResult(
        metadata={
            "retention_days": report.retention_days,
            "cutoff": report.cutoff,
            "request_id": report.request_id,
            "rows_removed": sum(report.rows_removed.values()),
            "rows_removed_by_table": MetadataValue.md("| table | rows |\n|---|---|\n" + removed if removed else "none"),
            "customers_gone": report.customers_gone,
            "landing_files_removed": report.landing_files_removed,
            "landing_files_rewritten": report.landing_files_rewritten,
            "prediction_log_lines_removed": report.prediction_log_lines_removed,
            "snapshot_id": report.snapshot_id or "none",
        }
    )


purge_expired_events = define_asset_job(
    "purge_expired_events",
    selection=AssetSelection.assets(expired_events),
    description="Purge the events older than the retention period from every layer (launched by retention_schedule).",
)


@schedule(
    name="retention_schedule",
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
    job=purge_expired_events,
    description=(
        "Every day at 05:00 UTC, when retention_days is set ($SHOP_PIPELINE_RETENTION_DAYS): one purge of the events "
        "before that many days ago (run key: the cut-off day)."
    ),
)
def retention_schedule(context: ScheduleEvaluationContext, retention: Retention, shop: ShopHome):
    scheduled = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    paths = shop.paths
    has_data = paths.warehouse.is_file() or bool(discover(paths.landing))
    cutoff, reason = retention_due(retention.retention_days, scheduled, has_data)
    if cutoff is None:
        return SkipReason(reason)
    if scheduled.tzinfo is not None:
        scheduled = scheduled.astimezone(dt.UTC)
    return RunRequest(
        run_key=f"retention-{cutoff.isoformat()}",
        run_config={"ops": {"expired_events": {"config": {"now": scheduled.isoformat()}}}},
        tags={TRIGGER_TAG: "retention", "shop_pipeline/retention_cutoff": cutoff.isoformat()},
    )
