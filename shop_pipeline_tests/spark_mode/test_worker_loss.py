"""A Spark worker lost while a feature asset materializes (issue 22, faults): the run finishes and
its table equals that of an undisturbed run, by Spark's own task retry.

The product_daily_sales asset (the largest feature table: a product x day grid with windows) runs
through Dagster on the shop's warehouse with the DuckDB engine (the undisturbed reference;
test_feature_parity.py shows both engines build the same table) and in Spark mode on the test
cluster (two workers, one executor each) while worker 1 is killed. The kill lands while a task
runs there: when the driver sees a task running on worker 1's executor, the worker and its executor
are frozen (SIGSTOP) and, if the driver still counts a task in flight there, SIGKILLed (a machine
lost); otherwise they are thawed and the watch goes on. The run's Spark jobs must then show failed
tasks (those lost with the executor) and the table must equal the undisturbed one (same keys and
rows, numbers within 1e-9 relative). The worker is
started again afterwards, so the session's later tests have both executors back.
"""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from shop_pipeline.defs.features import product_daily_sales
from shop_pipeline.resources import Engine, default_resources
from shop_pipeline.settings import ShopPaths
from shop_pipeline.spark_mode.features import lake_summary_connection
from shop_pipeline.synth import GeneratorConfig
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.cluster_fixtures import running_tasks, wait_for_executors
from shop_pipeline_tests.engine.test_sql_parity import assert_same_rows
from shop_pipeline_tests.spark_mode.lake_shop import FEATURE_KEYS, cluster_engine, copy_lake, staged_shop_on_lake

pytest.importorskip("pyspark")
pytestmark = pytest.mark.timeout(1200)  # JVMs and Spark jobs on a loaded 2-core machine

ASSETS = [product_daily_sales]
TABLE = "features.product_daily_sales"
LOST = 1  # the worker killed
JOB_GROUP = "worker-loss-run"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    lake = tmp_path_factory.mktemp("input_lake") / "lake"
    home = tmp_path_factory.mktemp("shop")
    return staged_shop_on_lake(home, lake, GeneratorConfig(events=2_000, days=40, seed=5)), lake


@pytest.fixture
def both_workers(spark, spark_cluster, monkeypatch):
    """Both workers up with an executor each, before and after the test (a killed one is restarted)."""
    monkeypatch.setenv("SHOP_PIPELINE_SPARK_UI", "0")
    monkeypatch.delenv("SHOP_PIPELINE_SPARK_SHUFFLE_PARTITIONS", raising=False)
    spark_cluster.ensure_workers()
    wait_for_executors(spark, 2)
    try:
        yield spark
    finally:
        spark_cluster.ensure_workers()
        wait_for_executors(spark, 2)


def _materialize(paths: ShopPaths, engine: Engine) -> None:
    result = materialize(
        ASSETS, resources={**default_resources(paths), "engine": engine}, instance=DagsterInstance.ephemeral()
    )
    assert result.success


class WorkerKiller(threading.Thread):
    """Kills worker `index` of `cluster` once a task of `spark`'s application is in flight there."""

    def __init__(self, spark, cluster, index: int, timeout: float = 300.0) -> None:
        super().__init__(daemon=True)
        self.spark, self.cluster, self.index, self.timeout = spark, cluster, index, timeout
        self.killed_with_running_tasks = 0  # the driver's count of tasks in flight on it when it died
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._watch()
        except BaseException as error:
            self.error = error

    def _watch(self) -> None:
        deadline = time.monotonic() + self.timeout
        ports = self.cluster.worker_ports(self.index)
        while not self.stop.is_set() and time.monotonic() < deadline:
            if running_tasks(self.spark, ports):
                self.cluster.pause_worker(self.index)
                try:
                    in_flight = running_tasks(self.spark, ports)
                except BaseException:
                    self.cluster.resume_worker(self.index)
                    raise
                if in_flight:  # frozen with a task in flight: lose the machine now
                    self.cluster.kill_worker(self.index)
                    self.killed_with_running_tasks = in_flight
                    return
                self.cluster.resume_worker(self.index)  # the task had just finished: watch on
            time.sleep(0.01)


def _on_lake(lake: str) -> pd.DataFrame:
    with lake_summary_connection(lake, [TABLE]) as con:
        return con.execute(f"SELECT * FROM {TABLE}").df()


def _in_warehouse(paths: ShopPaths) -> pd.DataFrame:
    with connect(paths.warehouse, read_only=True) as con:
        return con.execute(f"SELECT * FROM {TABLE}").df()


def test_a_worker_killed_during_a_feature_asset_changes_nothing_in_its_table(
    shop, both_workers, spark_cluster, tmp_path
):
    spark = both_workers
    paths, input_lake = shop
    disturbed = copy_lake(input_lake, tmp_path / "disturbed")
    _materialize(paths, Engine())  # the undisturbed table, in the warehouse

    killer = WorkerKiller(spark, spark_cluster, LOST)
    context = spark.sparkContext
    context.setJobGroup(JOB_GROUP, "a feature asset while a worker is lost")
    killer.start()
    try:
        _materialize(paths, cluster_engine(disturbed, spark_cluster.master_url))
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
        killer.stop.set()
        killer.join(60)
    assert killer.error is None, killer.error
    assert killer.killed_with_running_tasks >= 1, "the run ended before a task ran on the worker to kill"
    assert spark_cluster.alive_worker_addresses() == {spark_cluster.workers[0].address}
    # Not asserted: a failed-task count. The status tracker shows a stage's latest attempt, which after
    # the lost executor's resubmission may count 0 failures (seen in CI); the proof that tasks were lost
    # is the kill landing while the driver counted a task in flight on that worker (above).

    expected = _in_warehouse(paths)
    assert len(expected) > 20
    assert_same_rows(TABLE, expected, _on_lake(disturbed), FEATURE_KEYS[TABLE])
