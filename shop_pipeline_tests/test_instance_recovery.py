"""The shop's Dagster instance and crash recovery, case by case: DAGSTER_HOME and its dagster.yaml,
when a run's process counts as alive (pid reuse, zombies, no /proc), which runs recovery leaves
alone, what it says, and who holds a pool."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import (
    DagsterEvent,
    DagsterEventType,
    DagsterRun,
    DagsterRunStatus,
    EventLogEntry,
)

from shop_pipeline import instance as shop_instance
from shop_pipeline.instance import (
    DAGSTER_YAML,
    HOST_TAG,
    ensure_dagster_home,
    pool_holders,
    recover_dead_runs,
    run_process_alive,
)
from shop_pipeline.settings import ShopPaths
from shop_pipeline_tests.instance_helpers import POOL, add_run, slot_holders


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


# ------------------------------------------------------------------ DAGSTER_HOME


def test_the_shop_home_gets_a_dagster_yaml_with_one_duckdb_slot(tmp_path, monkeypatch):
    # set, then delete: monkeypatch then restores both variables as they were, also when they were
    # absent (ensure_dagster_home sets them, and later tests' subprocesses must not inherit them)
    for name in ("DAGSTER_HOME", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"):
        monkeypatch.setenv(name, "unset by the test")
        monkeypatch.delenv(name)
    paths = ShopPaths.at(tmp_path / "shop")
    home = ensure_dagster_home(paths)
    assert home == Path(paths.dagster_home).resolve() and home.is_dir()
    assert (home / "dagster.yaml").read_text() == DAGSTER_YAML
    assert "default_limit: 1" in DAGSTER_YAML and "enabled: false" in DAGSTER_YAML
    assert os.environ["DAGSTER_HOME"] == str(home)
    assert os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] == "1"


def test_an_existing_dagster_home_and_its_yaml_are_kept(tmp_path, monkeypatch):
    own = tmp_path / "own" / "home"
    own.mkdir(parents=True)
    (own / "dagster.yaml").write_text("# mine\n")
    monkeypatch.setenv("DAGSTER_HOME", str(own))
    monkeypatch.setenv("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "0")
    home = ensure_dagster_home(ShopPaths.at(tmp_path / "shop"))
    assert home == own.resolve()
    assert (own / "dagster.yaml").read_text() == "# mine\n"
    assert os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] == "0"
    assert not (tmp_path / "shop").exists() or not any((tmp_path / "shop").rglob("dagster.yaml"))


# ------------------------------------------------------------------ is the run's process alive


def test_a_process_alive_since_before_the_run_is_alive_and_a_gone_one_is_not():
    now = time.time()
    assert run_process_alive(os.getpid(), now)
    assert not run_process_alive(_dead_pid(), now)
    started = shop_instance._process_started_at(os.getpid())
    assert started is not None and 0 < started <= now
    # one second of slack between the process's start and its run's RUN_START, no more
    assert run_process_alive(os.getpid(), started - 0.5)
    assert not run_process_alive(os.getpid(), started - 1.5)


def test_a_pid_reused_by_a_newer_process_is_not_the_run(tmp_path):
    newer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not run_process_alive(newer.pid, time.time() - 3600)
        assert run_process_alive(newer.pid, time.time() + 5)
    finally:
        newer.kill()
        newer.wait()


def test_a_zombie_is_gone():
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 10
    while time.time() < deadline:  # exited but not reaped: a zombie
        if Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.02)
    try:
        assert shop_instance._process_started_at(zombie.pid) is None
        assert not run_process_alive(zombie.pid, time.time())
    finally:
        zombie.wait()


def test_another_users_process_counts_as_alive(monkeypatch):
    def denied(pid, signal):
        raise PermissionError

    monkeypatch.setattr(shop_instance.os, "kill", denied)
    assert shop_instance._process_started_at(os.getpid()) is not None
    assert run_process_alive(os.getpid(), time.time())


@pytest.mark.parametrize("broken", ["no_proc", "no_btime", "bad_btime"])
def test_without_a_readable_proc_alive_is_all_we_know(monkeypatch, broken):
    real_read = Path.read_text

    def read_text(path, *args, **kwargs):
        if broken == "no_proc" and str(path).startswith("/proc/"):
            raise FileNotFoundError(path)
        if str(path) == "/proc/stat":
            return "cpu 1 2 3\n" if broken == "no_btime" else "btime soon\n"
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    assert shop_instance._process_started_at(os.getpid()) == 0.0
    assert run_process_alive(os.getpid(), 0.0)
    assert shop_instance._process_started_at(_dead_pid()) is None


# ------------------------------------------------------------------ recovery


def test_recovery_leaves_other_hosts_runs_without_start_or_pid_and_finished_runs_alone(instance):
    dead = _dead_pid()
    # the dead runs first: runs come newest first, so every run left alone is met before them
    untagged = add_run(instance, dead, time.time(), tags={})  # no host tag: this machine's
    canceling = add_run(instance, dead, time.time(), status=DagsterRunStatus.CANCELING, job_name="other_job")
    starting = add_run(instance, dead, time.time(), status=DagsterRunStatus.STARTING)
    alive = add_run(instance, os.getpid(), time.time())
    elsewhere = add_run(instance, dead, time.time(), tags={HOST_TAG: "another-machine"})
    no_start = add_run(instance, dead, time.time(), start=False)
    no_pid = add_run(instance, None, time.time())
    queued = add_run(instance, dead, time.time(), status=DagsterRunStatus.NOT_STARTED)

    lines = recover_dead_runs(instance)

    status = {run.run_id: run.status for run in instance.get_runs()}
    assert status[elsewhere] == status[no_start] == status[no_pid] == status[alive] == DagsterRunStatus.STARTED
    assert status[queued] == DagsterRunStatus.NOT_STARTED
    assert status[untagged] == status[canceling] == status[starting] == DagsterRunStatus.FAILURE
    assert slot_holders(instance) == {elsewhere, no_start, no_pid, queued, alive}
    assert sorted(lines) == sorted(
        [
            f"run {untagged} of full_pipeline (pid {dead}) had died: marked failed, slots freed",
            f"run {canceling} of other_job (pid {dead}) had died: marked failed, slots freed",
            f"run {starting} of full_pipeline (pid {dead}) had died: marked failed, slots freed",
        ]
    )
    failure = instance.get_records_for_run(untagged, of_type=DagsterEventType.RUN_FAILURE).records
    assert len(failure) == 1
    assert failure[0].event_log_entry.dagster_event.message == (
        f"the run's process (pid {dead}) is gone (killed?): marked failed and its concurrency slots freed "
        "by shop-pipeline"
    )


def test_the_runs_process_is_the_pid_of_its_run_start_not_of_earlier_events(instance):
    """The launcher's RUN_STARTING comes first, from another (live) process: only RUN_START counts."""
    dead = _dead_pid()
    run = instance.add_run(
        DagsterRun(job_name="full_pipeline", status=DagsterRunStatus.STARTED, tags={HOST_TAG: socket.gethostname()})
    )
    for event_type, pid in ((DagsterEventType.RUN_STARTING, os.getpid()), (DagsterEventType.RUN_START, dead)):
        event = DagsterEvent(event_type_value=event_type.value, job_name="full_pipeline", pid=pid)
        instance.store_event(
            EventLogEntry(
                error_info=None,
                level=20,
                user_message="",
                run_id=run.run_id,
                timestamp=time.time(),
                dagster_event=event,
                job_name="full_pipeline",
            )
        )
    assert recover_dead_runs(instance) == [
        f"run {run.run_id} of full_pipeline (pid {dead}) had died: marked failed, slots freed"
    ]


def test_one_second_between_the_process_start_and_the_run_start_is_allowed(monkeypatch):
    monkeypatch.setattr(shop_instance, "_process_started_at", lambda pid: 100.0)
    assert run_process_alive(1, 99.0)  # exactly one second
    assert not run_process_alive(1, 98.5)
    assert run_process_alive(1, 100.0)
    monkeypatch.setattr(shop_instance, "_process_started_at", lambda pid: 101.5)
    assert not run_process_alive(1, 100.0)


def test_a_process_name_with_a_parenthesis_is_read_right(tmp_path):
    """/proc/<pid>/stat puts the name in parentheses; a name may hold ') Z (' itself."""
    tricky = tmp_path / "x) Z 1 (y"
    tricky.symlink_to(sys.executable)
    process = subprocess.Popen([str(tricky), "-c", "import time; time.sleep(30)"])
    try:
        deadline = time.time() + 10
        while ") Z 1 (" not in Path(f"/proc/{process.pid}/stat").read_text() and time.time() < deadline:
            time.sleep(0.02)
        started = shop_instance._process_started_at(process.pid)
        assert started is not None and abs(started - time.time()) < 60
        assert run_process_alive(process.pid, time.time())
    finally:
        process.kill()
        process.wait()


def test_slots_of_finished_runs_are_freed_and_of_a_live_run_kept(instance):
    live = add_run(instance, os.getpid(), time.time())
    add_run(instance, os.getpid(), time.time(), status=DagsterRunStatus.SUCCESS)  # finished: its slot is freed
    add_run(instance, os.getpid(), time.time(), status=DagsterRunStatus.FAILURE)
    queued = add_run(instance, os.getpid(), time.time(), status=DagsterRunStatus.NOT_STARTED)
    assert recover_dead_runs(instance) == []
    assert slot_holders(instance) == {live, queued}


def test_recovery_without_global_concurrency_frees_nothing_more(instance, monkeypatch):
    add_run(instance, _dead_pid(), time.time())  # recovered: its own slot is freed
    done = add_run(instance, os.getpid(), time.time(), status=DagsterRunStatus.SUCCESS)
    storage = type(instance.event_log_storage)
    monkeypatch.setattr(storage, "supports_global_concurrency_limits", property(lambda self: False))
    assert len(recover_dead_runs(instance)) == 1
    assert slot_holders(instance) == {done}
    assert pool_holders(instance, POOL) == []


def test_pool_holders_name_each_run_once(instance):
    live = add_run(instance, os.getpid(), time.time())
    instance.event_log_storage.claim_concurrency_slot(POOL, live, "a_second_step")
    done = add_run(instance, os.getpid(), time.time(), status=DagsterRunStatus.SUCCESS, job_name="other_job")
    assert pool_holders(instance, POOL) == sorted(
        [f"run {live} (full_pipeline, STARTED)", f"run {done} (other_job, SUCCESS)"]
    )
    assert pool_holders(instance, "nobody_uses_this_pool") == []


def test_pool_holders_name_an_unknown_run(instance):
    instance.event_log_storage.claim_concurrency_slot(POOL, "not-a-run-id", "step")
    assert pool_holders(instance, POOL) == ["run not-a-run-id (unknown run)"]
