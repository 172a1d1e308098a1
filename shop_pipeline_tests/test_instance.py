"""Recovering runs whose process died (instance.recover_dead_runs), on a real Dagster instance
without running anything: runs, their RUN_START events (with the run's pid) and pool claims are
written as a killed or a running `shop-pipeline run` leaves them."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from dagster import (
    DagsterRunStatus,
)

from shop_pipeline.instance import recover_dead_runs
from shop_pipeline_tests.instance_helpers import add_run, slot_holders


def test_dead_runs_are_failed_and_freed_and_a_live_run_is_left_running(instance):
    """A run killed with SIGKILL is marked failed and its pool slot freed, also when its pid now
    belongs to a newer process; a run whose process still runs keeps its status and its slot."""
    now = time.time()
    newer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # started after the runs below
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        alive = add_run(instance, os.getpid(), now)  # this process started before the run's RUN_START: its own
        reused = add_run(instance, newer.pid, now - 3600)  # the run's pid, reused by a process started an hour later
        dead = add_run(instance, gone.pid, now - 60)
        finished = add_run(instance, gone.pid, now - 120, status=DagsterRunStatus.SUCCESS)  # ended, slot left behind
        assert slot_holders(instance) == {alive, reused, dead, finished}

        lines = recover_dead_runs(instance)

        status = {run.run_id: run.status for run in instance.get_runs()}
        assert status[alive] == DagsterRunStatus.STARTED, "a live run is not marked failed"
        assert status[reused] == status[dead] == DagsterRunStatus.FAILURE
        assert slot_holders(instance) == {alive}, "the live run keeps its slot; every other slot is freed"
        assert sorted(lines) == sorted(
            f"run {run_id} of full_pipeline (pid {pid}) had died: marked failed, slots freed"
            for run_id, pid in ((reused, newer.pid), (dead, gone.pid))
        )
        assert recover_dead_runs(instance) == [] and status[alive] == DagsterRunStatus.STARTED
    finally:
        newer.kill()
        newer.wait()
