"""A Spark-mode run SIGKILLed while it writes a lake partition (issue 22, faults): the previous
partition stays readable with its old rows, and the next run completes with no manual step.

features.product_daily_sales is built on the test cluster over a lake whose staging.events lacks the
shop's last day. The day lands; a Dagster run of the asset in another process (its own Spark driver,
on a worker added to the cluster for it: the session's driver holds the other two) is SIGKILLed with
its driver JVM as soon as its write of the rewritten month has started (the aside folder under the
table's `_wap/` appears). The table must still read exactly its old rows, in DuckDB and in Spark;
the next run (this process, no recovery step of its own) must succeed, leave no `_wap/`, rewrite
only the month of the new day (January's files stay byte for byte, with their times), and give
what a build from scratch over the same inputs gives (the DuckDB engine's table in the shop's
warehouse, which holds every day: test_feature_parity.py shows both engines build the same table).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from shop_pipeline.defs.features import product_daily_sales
from shop_pipeline.engine import lake as lakes
from shop_pipeline.resources import Engine, default_resources
from shop_pipeline.settings import ShopPaths
from shop_pipeline.synth import GeneratorConfig
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.cluster_fixtures import HOST, wait_for_executors
from shop_pipeline_tests.engine.test_sql_parity import assert_same_rows
from shop_pipeline_tests.spark_mode.lake_shop import (
    FEATURE_KEYS,
    cluster_engine,
    copy_lake,
    publish_staged_days,
    staged_shop_on_lake,
)

pytest.importorskip("pyspark")
pytestmark = pytest.mark.timeout(1200)  # JVMs and Spark jobs on a loaded 2-core machine

TABLE = "features.product_daily_sales"
KEYS = FEATURE_KEYS[TABLE]
CONFIG = GeneratorConfig(events=2_000, days=40, seed=13)  # 2025-01-01 .. 2025-02-09
LAST_DAY = CONFIG.start + dt.timedelta(days=CONFIG.days - 1)
ROOT = Path(__file__).resolve().parents[2]

RUN = """
import sys
from dagster import DagsterInstance, materialize
from shop_pipeline.defs.features import product_daily_sales
from shop_pipeline.engine.settings import SPARK, EngineSettings
from shop_pipeline.engine.spark_session import shared_session
from shop_pipeline.resources import Engine, default_resources
from shop_pipeline.settings import ShopPaths

home, lake, master, conf = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
# this run's driver, small enough for the one worker added for it; the Engine resource takes it
shared_session(EngineSettings(kind=SPARK, spark_master=master, spark_ui=False), dict(kv.split("=", 1) for kv in conf.split(",")))
engine = Engine(kind="spark", lake=lake, spark_master=master)
result = materialize(
    [product_daily_sales],
    resources={**default_resources(ShopPaths.at(home)), "engine": engine},
    instance=DagsterInstance.ephemeral(),
    raise_on_error=False,
)
sys.exit(0 if result.success else 1)
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    lake = tmp_path_factory.mktemp("input_lake") / "lake"
    paths = staged_shop_on_lake(tmp_path_factory.mktemp("shop"), lake, CONFIG, before=LAST_DAY)
    return paths, lake


@pytest.fixture
def run_worker(spark, spark_cluster, monkeypatch):
    """A third worker for the other process's driver (the session's executors keep the first two);
    removed at the end."""
    monkeypatch.setenv("SHOP_PIPELINE_SPARK_UI", "0")
    monkeypatch.delenv("SHOP_PIPELINE_SPARK_SHUFFLE_PARTITIONS", raising=False)
    spark_cluster.ensure_workers()
    wait_for_executors(spark, 2)  # else the session's driver would take the new worker
    index = len(spark_cluster.workers)
    spark_cluster.start_worker(index)
    try:
        yield spark_cluster.workers[index]
    finally:
        spark_cluster.remove_worker(index)


def _materialize(paths: ShopPaths, engine: Engine) -> None:
    result = materialize(
        [product_daily_sales],
        resources={**default_resources(paths), "engine": engine},
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success


def _start_run(tmp_path: Path, paths: ShopPaths, lake: str, master: str) -> subprocess.Popen:
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(RUN))
    conf = ",".join(
        f"{k}={v}"
        for k, v in {
            "spark.driver.host": HOST,
            "spark.driver.bindAddress": HOST,
            "spark.driver.memory": "512m",
            "spark.executor.memory": "512m",
            "spark.cores.max": "1",
        }.items()
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARK_LOCAL_IP": HOST, "SHOP_PIPELINE_SPARK_UI": "0"}
    env.pop("SHOP_PIPELINE_SPARK_SHUFFLE_PARTITIONS", None)
    log = (tmp_path / "run.log").open("wb")
    return subprocess.Popen(
        [sys.executable, str(script), str(paths.home), lake, master, conf],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # the run and its driver JVM: killed together, as a lost pod is
    )


def _kill_when_writing(run: subprocess.Popen, table: lakes.LakeTable, log: Path, timeout: float = 600.0) -> None:
    """SIGKILL the run (and its driver JVM) once its write of `table` has begun: an aside folder."""
    _, base = table.filesystem()
    wap = Path(base, lakes.WAP)
    deadline = time.monotonic() + timeout
    try:
        while not (wap.is_dir() and any(p.is_dir() for p in wap.iterdir())):
            if run.poll() is not None:
                raise AssertionError(
                    f"the run ended ({run.returncode}) before its write began:\n{log.read_text()[-3000:]}"
                )
            assert time.monotonic() < deadline, "the run's write did not begin"
            time.sleep(0.005)
        run.send_signal(signal.SIGKILL)  # the run process first, as `kill -9 <pid>` would
    finally:
        run.kill()
        run.wait()
        with contextlib.suppress(ProcessLookupError):  # its driver JVM: gone with the run's pod too
            os.killpg(run.pid, signal.SIGKILL)


def _rows(table: lakes.LakeTable):
    with duckdb.connect() as con:
        return con.execute(f"SELECT * FROM {lakes.duckdb_source(table)}").df()


def _month_files(table: lakes.LakeTable, month: str) -> dict[str, tuple]:
    """A month folder's files: name -> (size, modification time in ns, SHA-256 of the bytes)."""
    _, base = table.filesystem()
    return {
        f.name: (f.stat().st_size, f.stat().st_mtime_ns, hashlib.sha256(f.read_bytes()).hexdigest())
        for f in Path(base, f"event_month={month}").iterdir()
    }


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEYS).reset_index(drop=True)


def test_a_run_killed_during_a_partition_write_keeps_the_old_rows_and_the_next_run_finishes(
    shop, spark, spark_cluster, run_worker, tmp_path
):
    paths, input_lake = shop
    lake = copy_lake(input_lake, tmp_path / "lake")
    engine = cluster_engine(lake, spark_cluster.master_url)
    table = lakes.lake_table(lake, TABLE)
    _materialize(paths, engine)
    old = _rows(table)
    assert len(old) > 20 and old["day"].max().date() < LAST_DAY
    january = _month_files(table, "2025-01")

    assert publish_staged_days(paths, lake, LAST_DAY) == [f"{LAST_DAY:%Y-%m}"]  # the last day lands
    run = _start_run(tmp_path, paths, lake, spark_cluster.master_url)
    _kill_when_writing(run, table, tmp_path / "run.log")
    assert run.returncode == -signal.SIGKILL

    _, base = table.filesystem()
    journals = [json.loads(p.read_text()) for p in Path(base, lakes.WAP).glob("*.json")]
    assert [j["state"] for j in journals] == [lakes.STAGING]  # killed while writing aside
    pd.testing.assert_frame_equal(_sorted(_rows(table)), _sorted(old))  # exactly the old rows, in DuckDB
    on_spark = spark.read.parquet(lakes.spark_uri(table.location)).toPandas()
    assert_same_rows(TABLE, old, on_spark, KEYS)  # and in Spark

    _materialize(paths, engine)  # the next run: no manual step
    assert not Path(base, lakes.WAP).exists() and not Path(base, lakes.TRASH).exists()
    new = _rows(table)
    assert new["day"].max().date() == LAST_DAY
    # incremental: the new day rewrote February only; January keeps its files, byte for byte
    assert january and _month_files(table, "2025-01") == january
    _materialize(paths, Engine())  # the full result: the table built from scratch in the warehouse
    with connect(paths.warehouse, read_only=True) as con:
        full = con.execute(f"SELECT * FROM {TABLE}").df()
    assert_same_rows(TABLE, full, new.drop(columns="event_month"), KEYS)
