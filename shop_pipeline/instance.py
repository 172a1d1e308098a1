"""The Dagster instance of a shop: $DAGSTER_HOME, or $SHOP_PIPELINE_HOME/dagster_home."""

from __future__ import annotations

import os
from pathlib import Path

from shop_pipeline.engine.settings import (
    DAGSTER_PG_URL_ENV,
    DUCKDB,
    dagster_pg_url,
    engine_kind,
    parallel_steps,
    sqlalchemy_pg_url,
)
from shop_pipeline.settings import ShopPaths

# DuckDB has one writer: every asset in pool "duckdb" runs one at a time across runs.
DAGSTER_YAML = """\
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""

# The first line of every other dagster.yaml this module writes: such a file (or one equal to
# DAGSTER_YAML) is ours and follows the settings; any other file is the user's and left alone.
GENERATED = "# written by shop-pipeline from SHOP_PIPELINE_ENGINE / SHOP_PIPELINE_DAGSTER_PG_URL (instance.py)\n"
# Spark mode: each asset has its own pool (defs/common.py, asset_pool); this many steps of one asset
# (months of a backfill, one run each) write at once unless $SHOP_PIPELINE_PARALLEL_STEPS says otherwise.
DEFAULT_SPARK_POOL_LIMIT = 4


def dagster_yaml(postgres: bool = False, engine: str = DUCKDB, pool_limit: int | None = None) -> str:
    """The instance's dagster.yaml: SQLite storage in DAGSTER_HOME (the default, DAGSTER_YAML) or
    dagster-postgres storage (runs, event logs, schedules and sensor ticks) in the database of
    $SHOP_PIPELINE_DAGSTER_PG_URL, read by Dagster when the instance loads, so the password is
    never written into the file; pools of one slot (DuckDB) or `pool_limit` per asset (Spark)."""
    if not postgres and engine == DUCKDB:
        return DAGSTER_YAML
    limit = 1 if engine == DUCKDB else (pool_limit or DEFAULT_SPARK_POOL_LIMIT)
    storage = f"storage:\n  postgres:\n    postgres_url:\n      env: {DAGSTER_PG_URL_ENV}\n" if postgres else ""
    return f"{GENERATED}{storage}concurrency:\n  pools:\n    default_limit: {limit}\ntelemetry:\n  enabled: false\n"


def dagster_yaml_from_environment() -> str:
    """dagster_yaml for $SHOP_PIPELINE_DAGSTER_PG_URL, $SHOP_PIPELINE_ENGINE and $SHOP_PIPELINE_PARALLEL_STEPS."""
    return dagster_yaml(dagster_pg_url() is not None, engine_kind(), parallel_steps())


def is_generated(text: str) -> bool:
    return text == DAGSTER_YAML or text.startswith(GENERATED)


def ensure_dagster_home(paths: ShopPaths) -> Path:
    """Point DAGSTER_HOME at a persistent folder with our dagster.yaml (unless already set).

    The file follows the settings (Postgres or SQLite storage, the engine's pools) as long as it
    is one this module wrote; a dagster.yaml of the user's own is never touched. Switching to
    Postgres starts an empty history there: the SQLite runs stay in the folder's storage/. The
    variable's URL gets its driver named (postgresql+psycopg2://) for this process and the
    webserver and daemon it starts.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or paths.dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = dagster_yaml_from_environment()
    url = dagster_pg_url()
    if url is not None:
        os.environ[DAGSTER_PG_URL_ENV] = sqlalchemy_pg_url(url)
    if not config.exists() or (is_generated(config.read_text()) and config.read_text() != wanted):
        config.write_text(wanted)
    os.environ["DAGSTER_HOME"] = str(home)
    # The webserver and daemon create the UI's runs: one planned event per asset for a range
    # (see definitions.py), inherited by `dagster dev` from this process.
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    return home


# ------------------------------------------------------------------ runs whose process is gone

HOST_TAG = "shop_pipeline/host"
ACTIVE = ("STARTING", "STARTED", "CANCELING")


def _process_started_at(pid: int) -> float | None:
    """When a live process started (epoch seconds; Linux /proc), None when it is gone or a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return 0.0  # no /proc: alive is all we know
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def run_process_alive(pid: int, run_started: float) -> bool:
    """The run's process still runs: the pid exists and did not start after the run (pid reuse)."""
    started = _process_started_at(pid)
    return started is not None and started <= run_started + 1.0


def recover_dead_runs(instance) -> list[str]:
    """Mark failed the runs of this machine whose process is gone, and free their pool slots.

    A run killed with SIGKILL (OOM killer, power cut) stays STARTED and keeps its claim on the
    `duckdb` pool, so every later run would wait for it forever. The run's process is the pid
    of its RUN_START event; runs tagged with another host are left to their own machine.
    Slots still held by finished runs are freed too. Returns one line per recovered run.
    """
    import socket

    from dagster import DagsterEventType, DagsterRunStatus, RunsFilter

    host = socket.gethostname()
    recovered = []
    runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus(s) for s in ACTIVE]))
    for run in runs:
        if run.tags.get(HOST_TAG, host) != host:
            continue
        starts = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_START, limit=1).records
        if not starts or starts[0].event_log_entry.dagster_event.pid is None:
            continue
        pid = starts[0].event_log_entry.dagster_event.pid
        if run_process_alive(pid, starts[0].event_log_entry.timestamp):
            continue
        instance.report_run_failed(
            run,
            message=f"the run's process (pid {pid}) is gone (killed?): marked failed "
            "and its concurrency slots freed by shop-pipeline",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(f"run {run.run_id} of {run.job_name} (pid {pid}) had died: marked failed, slots freed")
    holding = (
        instance.event_log_storage.get_concurrency_run_ids()
        if (instance.event_log_storage.supports_global_concurrency_limits)
        else set()
    )
    if holding:
        for run in instance.get_runs(RunsFilter(run_ids=sorted(holding))):
            if run.is_finished:
                instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return recovered


def pool_holders(instance, pool: str) -> list[str]:
    """Who holds `pool`'s slots: one line per run, for a run that has to wait for it."""
    if not instance.event_log_storage.supports_global_concurrency_limits:
        return []
    info = instance.event_log_storage.get_concurrency_info(pool)
    lines = []
    for run_id in sorted({slot.run_id for slot in info.claimed_slots}):
        run = instance.get_run_by_id(run_id)
        what = f"{run.job_name}, {run.status.value}" if run else "unknown run"
        lines.append(f"run {run_id} ({what})")
    return lines
