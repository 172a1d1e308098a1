"""kill -9 in the middle of a run: the next plain `shop-pipeline run` recovers and loses nothing.

A SIGKILLed run stays STARTED in the Dagster instance and keeps its claim on the `duckdb`
pool; before recovery every later run waited for it forever. Here a run is killed during
raw_events, the next one during a model step, and a third must finish with the same tables
as a shop that was never killed.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus

from shop_pipeline.instance import recover_dead_runs
from shop_pipeline.settings import ShopPaths
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.connection import connect

CLI = str(Path(sys.executable).with_name("shop-pipeline"))
WINDOW = ["--propensity-horizon-days", "14", "--forecast-horizon-days", "7"]
# Values that record when something ran, or which version did: they differ between two shops.
WHEN_COLUMNS = {"ingested_at", "model_version", "built_at", "scored_at", "audited_at", "created_at", "version"}
# Build records: fingerprints and keys that include ingestion times and model versions.
BOOKKEEPING = {
    ("features", "table_builds"),
    ("features", "table_audits"),
    ("features", "built_partitions"),
    ("features", "table_inputs"),
    ("staging", "staged_days"),
    ("scoring", "score_builds"),
}


def _env(home: Path) -> dict:
    env = {**os.environ, "SHOP_PIPELINE_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    return env


def _run(home: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, "run", "--home", str(home), *WINDOW], capture_output=True, text=True, timeout=timeout, env=_env(home)
    )


def _kill_at_step(home: Path, step: str) -> None:
    """Start a run and SIGKILL it as soon as `step` starts (a run stuck behind a dead one is ended too)."""
    process = subprocess.Popen(
        [CLI, "run", "--home", str(home), "--verbose", *WINDOW],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(home),
    )
    stuck = threading.Timer(240, process.kill)
    stuck.start()
    try:
        for line in process.stdout:
            if "STEP_START" in line and f'"{step}"' in line:
                process.send_signal(signal.SIGKILL)
                break
        else:
            raise AssertionError(f"the run ended before {step} started")
    finally:
        stuck.cancel()
        process.kill()
        process.wait()


def _tables(home: Path) -> dict:
    with connect(ShopPaths.at(home).warehouse) as con:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN ('raw', 'staging', 'features', 'scoring')"
        ).fetchall()
        content = {}
        for schema, name in tables:
            if (schema, name) in BOOKKEEPING:
                continue
            columns = [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
                    [schema, name],
                ).fetchall()
                if c not in WHEN_COLUMNS
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            content[f"{schema}.{name}"] = sorted(
                con.execute(f'SELECT {select} FROM "{schema}"."{name}"').fetchall(), key=repr
            )
    return content


def test_a_kill_during_ingestion_and_then_during_training_is_recovered_by_the_next_run(tmp_path):
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    # the smallest shop on which every model trains (defs/test_automation_end_to_end.py's), so that the
    # recovered run and the reference both finish with exit 0
    generate_shop(killed, GeneratorConfig(events=12_000, days=42, seed=5))
    shutil.copytree(killed / "landing", reference / "landing")

    _kill_at_step(killed, "raw_events")
    _kill_at_step(killed, "propensity_model")
    with DagsterInstance.from_config(str(killed / "dagster_home")) as instance:
        stuck = [r for r in instance.get_runs() if r.status == DagsterRunStatus.STARTED]
    assert stuck, "the killed runs should still look STARTED before recovery"

    recovered = _run(killed)
    assert recovered.returncode == 0, recovered.stdout[-3000:] + recovered.stderr[-3000:]
    assert "had died: marked failed, slots freed" in recovered.stdout
    assert _run(reference).returncode == 0

    assert _tables(killed) == _tables(reference)
    with DagsterInstance.from_config(str(killed / "dagster_home")) as instance:
        statuses = sorted(r.status.value for r in instance.get_runs())
        assert statuses == ["FAILURE", "FAILURE", "SUCCESS"]
        assert recover_dead_runs(instance) == []


def test_a_sigterm_during_the_run_makes_the_command_exit_non_zero(tmp_path):
    home = tmp_path / "shop"
    generate_shop(home, GeneratorConfig(events=5_000, days=10, seed=3))
    process = subprocess.Popen(
        [CLI, "run", "--home", str(home), "--verbose", "--groups", "ingestion,staging"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(home),
    )
    output = []
    for line in process.stdout:
        output.append(line)
        if "STEP_START" in line and '"raw_events"' in line:
            process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=120)
    assert code != 0, "".join(output[-30:])
