"""Shared Dagster wiring: partitions, owners, the DuckDB pool, schema metadata helpers."""

from __future__ import annotations

import datetime as dt

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetSelection,
    AutomationCondition,
    BackfillPolicy,
    DynamicPartitionsDefinition,
    ExecutorDefinition,
    FreshnessPolicy,
    MetadataValue,
    in_process_executor,
    multiprocess_executor,
)

from shop_pipeline.engine.settings import DUCKDB, engine_kind, parallel_steps


def partition_start(day: dt.date) -> dt.date:
    """The first day of the partition holding `day` (its month)."""
    return day.replace(day=1)


def partition_key(day: dt.date) -> str:
    """The key of the partition holding `day`: its month's first day, e.g. 2025-03-01."""
    return partition_start(day).isoformat()


def month_days(key: str) -> list[dt.date]:
    """The days of the partition (month) `key`."""
    first = dt.date.fromisoformat(key)
    following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return [first + dt.timedelta(days=i) for i in range((following - first).days)]


# Event files are partitioned by the month of their day, and there is a partition for exactly the
# months that have landed files: a dynamic partitions definition whose keys (the month's first
# day) are added by the landing sensor, the daily schedule and `shop-pipeline run` when they first
# meet a file of that month (`new_partition_keys`). A shop with three months of 2025 data shows
# three partitions, all filled, whatever today's date; a month without files has no partition.
# Why months, not days: Dagster records one materialization per partition, about 10-40 ms each
# in the SQLite instance, and raw_events, clean_events and quarantined_events are three such
# assets: a first run over 540 days spent 66 s writing them (4 s of real work). The work itself
# follows the changed files and days (unchanged files are not read again, unchanged days not
# staged again), so a month's run after one new file costs that file.
EVENT_PARTITIONS_NAME = "event_months"
event_partitions = DynamicPartitionsDefinition(name=EVENT_PARTITIONS_NAME)
single_run_backfill = BackfillPolicy.single_run()


def new_partition_keys(instance, days) -> list[str]:
    """The keys of the months of `days` that are not partitions yet (sorted, to be added)."""
    wanted = {partition_key(day) for day in days}
    return sorted(wanted - set(instance.get_dynamic_partitions(EVENT_PARTITIONS_NAME)))


def add_partitions(instance, days) -> list[str]:
    """Add the months of `days` that are not partitions yet; returns the keys added."""
    keys = new_partition_keys(instance, days)
    if keys:
        instance.add_dynamic_partitions(EVENT_PARTITIONS_NAME, keys)
    return keys


DATA_PLATFORM = ["team:data-platform"]
ML_TEAM = ["team:ml"]
DUCKDB_POOL = "duckdb"  # DuckDB has one writer: every writing asset shares this pool (limit 1)
SPARK_POOL_PREFIX = "spark/"


def asset_pool(asset_name: str, engine: str | None = None) -> str:
    """The concurrency pool of an asset that writes tables, by engine ($SHOP_PIPELINE_ENGINE when
    the definitions load): with DuckDB every writer shares `duckdb` (one writer per file); with
    Spark each asset has its own pool, `spark/<asset>`, so independent assets, and months of one
    asset up to the pool's limit, are written at once (the instance's dagster.yaml: instance.py)."""
    if engine_kind(engine) == DUCKDB:
        return DUCKDB_POOL
    return SPARK_POOL_PREFIX + asset_name


def run_executor(engine: str | None = None) -> ExecutorDefinition:
    """How a run executes its steps, by engine ($SHOP_PIPELINE_ENGINE when the definitions load).
    DuckDB allows one writer: steps run in the run's own process, one at a time. Spark: each step
    in its own process, up to $SHOP_PIPELINE_PARALLEL_STEPS at once (default: the machine's cores),
    so independent assets proceed together while the cluster does the heavy work (each step's
    process opens its own Spark session or Connect client); the pools bound each asset
    (asset_pool). On Kubernetes the deployment sets the k8s executor instead
    (docs/cluster.md)."""
    if engine_kind(engine) == DUCKDB:
        return in_process_executor
    steps = parallel_steps()
    return multiprocess_executor.configured({"max_concurrent": steps}) if steps else multiprocess_executor


# Declarative automation (evaluated by the `follow_new_data` sensor, defs/automation.py): a feature
# table, feature_drift, a score table and the serving snapshot are requested when one of their
# upstream assets was updated since they last ran (by a run that did not already include them),
# once no upstream is missing or in progress and the latest materialization of every upstream passed
# its blocking checks. Training assets carry no condition: retrain_sensor decides when to train.
# eager() also waits for every partition of clean_events, so a month that failed its audit holds
# the feature tables back until it is fixed, instead of building them with a hole in the data.
def follows_new_data(optional: tuple[str, ...] = (), unchecked: tuple[str, ...] = ()) -> AutomationCondition:
    """eager() and all_deps_blocking_checks_passed(), except that the `optional` upstream assets may
    be missing (feature_drift measures without champions: the retraining trigger needs its facts to
    train the first ones) and the blocking checks of the `optional` and `unchecked` ones are not
    awaited (a score table's champion gate: see scores_follow_new_data)."""
    if not optional and not unchecked:
        return (AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed()).with_label(
            "follows new data"
        )
    eager = AutomationCondition.eager()
    if optional:
        eager = eager.replace(
            "any_deps_missing", AutomationCondition.any_deps_missing().ignore(AssetSelection.assets(*optional))
        )
    checked = AutomationCondition.all_deps_blocking_checks_passed().ignore(AssetSelection.assets(*optional, *unchecked))
    waits = [*optional, *(f"{name}'s checks" for name in unchecked)]
    return (eager & checked).with_label(f"follows new data (not waiting for {', '.join(waits)})")


def scores_follow_new_data(champion: str) -> AutomationCondition:
    """A score table's condition: its feature table's blocking checks are awaited, its champion's
    promotion gate is not. The gate fails (ERROR) only when no champion exists, and then scoring
    stops with that reason, as the daily run always did; with WARN (a version nothing could measure)
    scoring serves it unvalidated. Dagster's check conditions cannot tell the two severities apart."""
    return follows_new_data(unchecked=(champion,))


# A score table (or the serving snapshot) not rewritten for a day and two hours is late (WARN: a
# daily run missed its slot), after two days stale (FAIL): the UI's freshness state and the asset
# health say so. Scores are rewritten whenever their features follow new data, so a shop whose
# files stop arriving, or an automation that is off, shows up here.
SCORE_FRESHNESS = FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=48), warn_window=dt.timedelta(hours=26))


def partition_days(context: AssetExecutionContext) -> list[dt.date]:
    """The days of this run: one month, or several in a single-run backfill (by key: the
    months of a range need not be consecutive, e.g. a month without files has no partition)."""
    return sorted(day for key in context.partition_keys for day in month_days(key))


def suite_check_result(check_name: str, outcome, asset_key: str | None = None) -> AssetCheckResult:
    """A blocking (ERROR) check result from an expectation-suite outcome, readable in the UI."""
    return AssetCheckResult(
        check_name=check_name,
        asset_key=asset_key,
        passed=outcome.success,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "failed_expectations": len(outcome.failures),
            "batches": outcome.batches,
            "rows_validated": outcome.rows,
            "result": MetadataValue.md(outcome.to_markdown()),
        },
    )
