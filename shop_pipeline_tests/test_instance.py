"""Recovering runs whose process died (instance.recover_dead_runs), on a real Dagster instance
without running anything: runs, their RUN_START events (with the run's pid) and pool claims are
written as a killed or a running `shop-pipeline run` leaves them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from dagster import (
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    EventLogEntry,
)

from shop_pipeline.instance import DAGSTER_YAML, HOST_TAG, recover_dead_runs

POOL = "duckdb"


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "dagster.yaml").write_text(DAGSTER_YAML)
    with DagsterInstance.from_config(str(tmp_path)) as dagster_instance:
        dagster_instance.event_log_storage.set_concurrency_slots(POOL, 4)
        yield dagster_instance


def _run(instance, pid: int, started_at: float, status=DagsterRunStatus.STARTED) -> str:
    """A run of this machine whose process `pid` started it at `started_at`, holding a pool slot."""
    run = instance.add_run(DagsterRun(job_name="full_pipeline", status=status, tags={HOST_TAG: socket.gethostname()}))
    start = DagsterEvent(event_type_value=DagsterEventType.RUN_START.value, job_name="full_pipeline", pid=pid)
    instance.store_event(
        EventLogEntry(
            error_info=None,
            level=20,
            user_message="",
            run_id=run.run_id,
            timestamp=started_at,
            dagster_event=start,
            job_name="full_pipeline",
        )
    )
    instance.event_log_storage.claim_concurrency_slot(POOL, run.run_id, f"step_of_{run.run_id[:8]}")
    return run.run_id


def _slot_holders(instance) -> set[str]:
    return {slot.run_id for slot in instance.event_log_storage.get_concurrency_info(POOL).claimed_slots}


def test_dead_runs_are_failed_and_freed_and_a_live_run_is_left_running(instance):
    """A run killed with SIGKILL is marked failed and its pool slot freed, also when its pid now
    belongs to a newer process; a run whose process still runs keeps its status and its slot."""
    now = time.time()
    newer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # started after the runs below
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        alive = _run(instance, os.getpid(), now)  # this process started before the run's RUN_START: its own
        reused = _run(instance, newer.pid, now - 3600)  # the run's pid, reused by a process started an hour later
        dead = _run(instance, gone.pid, now - 60)
        finished = _run(instance, gone.pid, now - 120, status=DagsterRunStatus.SUCCESS)  # ended, slot left behind
        assert _slot_holders(instance) == {alive, reused, dead, finished}

        lines = recover_dead_runs(instance)

        status = {run.run_id: run.status for run in instance.get_runs()}
        assert status[alive] == DagsterRunStatus.STARTED, "a live run is not marked failed"
        assert status[reused] == status[dead] == DagsterRunStatus.FAILURE
        assert _slot_holders(instance) == {alive}, "the live run keeps its slot; every other slot is freed"
        assert sorted(lines) == sorted(
            f"run {run_id} of full_pipeline (pid {pid}) had died: marked failed, slots freed"
            for run_id, pid in ((reused, newer.pid), (dead, gone.pid))
        )
        assert recover_dead_runs(instance) == [] and status[alive] == DagsterRunStatus.STARTED
    finally:
        newer.kill()
        newer.wait()
