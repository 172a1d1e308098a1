"""The real standalone cluster of the scale-out tests (cluster_fixtures.py) and the sessions
engine/spark_session.py opens on it: jobs spread over both workers, the engine-independent
settings hold on the executors, and a job survives the loss of a worker."""

import os
import threading
import time

import pytest

from shop_pipeline.engine.settings import EngineSettings
from shop_pipeline.engine.spark_session import ENGINE_INDEPENDENT_CONF, driver_conf, master_url, session_conf
from shop_pipeline_tests.cluster_fixtures import wait_for_executors


@pytest.fixture
def two_workers(spark_cluster, cluster_spark):
    """Both workers up (a test before may have killed one) and an executor on each."""
    spark_cluster.ensure_workers()
    wait_for_executors(cluster_spark, 2)
    return cluster_spark


def worker_of_task(cluster, work_dir: str) -> int:
    """The worker whose work folder a task ran in (<work-dir>/<app>/<executor>)."""
    [index] = [w.index for w in cluster.workers if work_dir.startswith(str(w.work_dir) + os.sep)]
    return index


def test_a_job_runs_on_both_workers_with_the_engine_independent_settings(spark_cluster, two_workers):
    spark = two_workers
    assert spark.sparkContext.master == spark_cluster.master_url
    for key, value in ENGINE_INDEPENDENT_CONF.items():
        assert spark.conf.get(key) == value, key
    assert spark.conf.get("spark.sql.shuffle.partitions") == "8"

    def where(rows):
        import pandas as pd

        time.sleep(0.3)  # long enough for both executors to take tasks
        for frame in rows:
            yield pd.DataFrame(
                {"id_sum": [int(frame["id"].sum())], "cwd": [os.getcwd()], "tz": [os.environ.get("TZ", "")]}
            )

    result = spark.range(0, 1000, numPartitions=8).mapInPandas(where, "id_sum long, cwd string, tz string").toPandas()
    assert result["id_sum"].sum() == sum(range(1000))
    assert {worker_of_task(spark_cluster, cwd) for cwd in result["cwd"]} == {0, 1}
    # the master and each worker see the application's executors: two distinct workers
    app_id = spark.sparkContext.applicationId
    assert {w["id"] for w in spark_cluster.alive_workers() if w["coresused"] == 1} == {
        w["id"] for w in spark_cluster.alive_workers()
    }
    for index in (0, 1):
        assert app_id in {e["appid"] for e in spark_cluster.worker_status(index)["executors"]}
    # UTC on the executors too: a timestamp without an offset is the same instant as in DuckDB
    [row] = spark.sql(
        "SELECT unix_timestamp(TIMESTAMP '2026-01-01 00:00:00') AS epoch, "
        "date_format(TIMESTAMP '2026-03-31 23:30:00', 'yyyy-MM') AS month"
    ).collect()
    assert (row.epoch, row.month) == (1767225600, "2026-03")


def test_dynamic_partition_overwrite_replaces_only_the_months_written(two_workers, tmp_path):
    spark = two_workers
    lake = (tmp_path / "lake" / "staging" / "events").as_uri()
    first = spark.createDataFrame([(1, "2026-01"), (2, "2026-02")], "event_id long, event_month string")
    first.write.mode("overwrite").partitionBy("event_month").parquet(lake)
    rerun = spark.createDataFrame([(3, "2026-02")], "event_id long, event_month string")
    rerun.write.mode("overwrite").partitionBy("event_month").parquet(lake)
    rows = sorted(tuple(r) for r in spark.read.parquet(lake).collect())
    assert rows == [(1, "2026-01"), (3, "2026-02")]


def test_a_job_finishes_on_the_remaining_worker_when_one_is_killed(spark_cluster, two_workers):
    spark = two_workers
    killed = {}

    def slow(rows):
        import pandas as pd

        for frame in rows:
            time.sleep(0.5)
            yield pd.DataFrame({"n": [len(frame)], "total": [int(frame["id"].sum())]})

    def kill_when_running():
        # once both executors have tasks running, lose worker 1 (and its executor) as a machine would
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            active = spark.sparkContext.statusTracker().getActiveStageIds()
            if active:
                info = spark.sparkContext.statusTracker().getStageInfo(active[0])
                if info and info.numActiveTasks >= 2:
                    break
            time.sleep(0.05)
        killed["worker"] = spark_cluster.kill_worker(1)

    killer = threading.Thread(target=kill_when_running)
    killer.start()
    result = spark.range(0, 1200, numPartitions=12).mapInPandas(slow, "n long, total long").toPandas()
    killer.join()
    # every task's result once, the lost ones recomputed on worker 0
    assert (result["n"].sum(), result["total"].sum()) == (1200, sum(range(1200)))
    worker = killed["worker"]
    with pytest.raises(ProcessLookupError):  # the worker and the executors it started are gone
        os.killpg(worker.process.pid, 0)
    assert spark_cluster.alive_worker_addresses() == {spark_cluster.workers[0].address}
    # and the next job runs on what is left (the next test that needs two workers starts it again)
    assert spark.range(100).selectExpr("sum(id)").first()[0] == 4950


def test_the_session_settings_by_how_spark_is_reached():
    local = EngineSettings(kind="spark", shuffle_partitions=3, spark_ui=False)
    assert master_url(local).startswith("local[")
    assert session_conf(local)["spark.sql.shuffle.partitions"] == "3"
    conf = driver_conf(local)
    assert conf["spark.ui.enabled"] == "false" and conf["spark.pyspark.python"]
    assert "-Duser.timezone=UTC" in conf["spark.executor.extraJavaOptions"]
    # executors on other machines run their own Python, unless PYSPARK_PYTHON names one
    remote_master = EngineSettings(kind="spark", spark_master="spark://10.1.2.3:7077")
    assert "spark.pyspark.python" not in driver_conf(remote_master) or os.environ.get("PYSPARK_PYTHON")
