"""The landing sensor under a real `dagster-daemon`, killed and started again mid-way.

The daemon runs on a temporary DAGSTER_HOME (SQLite storage) whose run queue launches nothing
(`max_concurrent_runs: 0`): the test looks at the runs the sensor creates and the cursor the
daemon stores, not at the pipeline (tested elsewhere). The sensor ticks every 2 s here
(SHOP_PIPELINE_LANDING_INTERVAL_SECONDS) and takes files at once (settle period 0).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.scheduler.instigation import InstigatorType, TickStatus

from shop_pipeline.automation_rules import LandingCursor
from shop_pipeline.defs.automation import LANDING_FILES_TAG, TRIGGER_TAG, landed_versions
from shop_pipeline.settings import HOME_ENV, LANDING_INTERVAL_ENV, SETTLE_SECONDS_ENV
from shop_pipeline_tests.defs.helpers import good_day
from shop_pipeline_tests.landing_fixtures import write_events

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 120
FIRST, SECOND = "events/events_2025-01-02.csv", "events/events_2025-01-03.csv"


def daemon_env(home: Path, shop) -> dict[str, str]:
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        HOME_ENV: str(shop.home),
        LANDING_INTERVAL_ENV: "2",
        SETTLE_SECONDS_ENV: "0",
        "GX_ANALYTICS_ENABLED": "false",
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }


def start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dagster._daemon", "run", "-m", "shop_pipeline.definitions"],
        env=env,
        cwd=REPO_ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    process.wait(timeout=30)


def landing_state(instance: DagsterInstance):
    states = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.instigator_name == "landing_sensor"
    ]
    return states[0] if states else None


def wait_for(condition, what: str, daemon: subprocess.Popen, log: Path):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if daemon.poll() is not None:
            raise AssertionError(f"the daemon exited ({daemon.returncode}) before {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {WAIT_S} s:\n{log.read_text()[-3000:]}")


def runs_by_file(instance: DagsterInstance) -> dict[str, list]:
    """Runs by the landed files they were launched for (both files are in the partition 2025-01-01)."""
    out: dict[str, list] = {}
    for run in instance.get_runs():
        out.setdefault(run.tags.get(LANDING_FILES_TAG), []).append(run)
    return out


def test_a_killed_daemon_restarts_from_its_cursor_and_launches_no_file_twice(shop, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("concurrency:\n  runs:\n    max_concurrent_runs: 0\n")
    env = daemon_env(home, shop)
    log = tmp_path / "daemon.log"
    write_events(shop.landing, "events_2025-01-02.csv", good_day("2025-01-02"))
    subprocess.run(
        [sys.executable, "-m", "dagster", "sensor", "start", "landing_sensor", "-m", "shop_pipeline.definitions"],
        env=env,
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )

    daemon = start_daemon(env, log)
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            wait_for(lambda: runs_by_file(instance).get(FIRST), "run for the first file", daemon, log)
            first_file = {v.relative: v for v in landed_versions(shop.landing)}["events/events_2025-01-02.csv"]
            wait_for(
                lambda: not LandingCursor.from_json(landing_state(instance).instigator_data.cursor).is_new(first_file),
                "stored cursor holding the first file",
                daemon,
                log,
            )
        kill_group(daemon, signal.SIGKILL)  # no clean shutdown: whatever was stored is all there is

        write_events(shop.landing, "events_2025-01-03.csv", good_day("2025-01-03"))
        daemon = start_daemon(env, log)
        restarted_at = time.time()
        with DagsterInstance.from_config(str(home)) as instance:
            wait_for(
                lambda: runs_by_file(instance).get(SECOND), "run for the second file after the restart", daemon, log
            )
            state = landing_state(instance)

            def ticks_after_restart():
                ticks = [
                    t
                    for t in instance.get_ticks(state.instigator_origin_id, state.selector_id)
                    if t.timestamp >= restarted_at and t.status in (TickStatus.SUCCESS, TickStatus.SKIPPED)
                ]
                return ticks if len(ticks) >= 2 else None

            ticks = wait_for(ticks_after_restart, "second tick after the restart", daemon, log)
            runs = runs_by_file(instance)
            # one run per file, whatever the restart: the first file was not requested again
            assert {files: len(r) for files, r in runs.items()} == {FIRST: 1, SECOND: 1}
            assert all(
                r.status == DagsterRunStatus.QUEUED
                and r.tags[TRIGGER_TAG] == "landing"
                and r.tags["dagster/partition"] == "2025-01-01"
                for file_runs in runs.values()
                for r in file_runs
            )
            requested = [key for t in ticks for key in t.run_keys]
            assert requested == [runs[SECOND][0].tags["dagster/run_key"]]
            assert any(t.status == TickStatus.SKIPPED and t.skip_reason == "no new files" for t in ticks)
    finally:
        kill_group(daemon, signal.SIGTERM)
