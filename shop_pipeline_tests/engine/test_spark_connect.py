"""engine/spark_session.py over Spark Connect (SPARK_REMOTE), against a real Connect server: the
way in to a managed cluster. The engine-independent settings are set on the remote session, and
a Python function runs on the server's side.

PySpark runs one way per process (a Connect client marks the whole process as one), so the
client runs in a process of its own, leaving this one free for the cluster tests' driver."""

import json
import subprocess
import sys

import pytest

from shop_pipeline.engine.settings import EngineSettings
from shop_pipeline.engine.spark_session import ENGINE_INDEPENDENT_CONF, open_session

# starts a Spark Connect server JVM of its own (about a minute): run with -m slow
pytestmark = pytest.mark.slow

CLIENT = """
import json, sys
from shop_pipeline.engine.settings import EngineSettings
from shop_pipeline.engine.spark_session import ENGINE_INDEPENDENT_CONF, spark_session

settings = EngineSettings(kind="spark", spark_remote=sys.argv[1], shuffle_partitions=3)
with spark_session(settings, {"spark.sql.shuffle.partitions": "2"}) as spark:
    def double(frames):
        for frame in frames:
            yield frame.assign(id=frame["id"] * 2)

    [row] = spark.sql("SELECT date_format(TIMESTAMP '2026-03-31 23:30:00', 'yyyy-MM') AS month").collect()
    print(json.dumps({
        "module": type(spark).__module__,
        "conf": {key: spark.conf.get(key) for key in [*ENGINE_INDEPENDENT_CONF, "spark.sql.shuffle.partitions"]},
        "total": spark.range(10).mapInPandas(double, "id long").selectExpr("sum(id) AS total").first()["total"],
        "month": row.month,
    }))
    # the process is a Connect client now: a driver of its own is refused, saying why
    try:
        spark_session(EngineSettings(kind="spark", spark_master="local[1]")).__enter__()
    except RuntimeError as error:
        print(json.dumps({"refused": str(error)}))
"""


def test_a_session_over_spark_connect_gets_the_same_settings_and_runs_python(spark_connect_server):
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, spark_connect_server.url],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    session, refusal = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert session["module"].startswith("pyspark.sql.connect")
    assert session["conf"] == {**ENGINE_INDEPENDENT_CONF, "spark.sql.shuffle.partitions": "2"}  # the caller's wins
    assert (session["total"], session["month"]) == (90, "2026-03")
    assert "has used Spark Connect" in refusal["refused"]


def test_a_driver_process_refuses_a_connect_session_and_a_second_master(cluster_spark):
    with pytest.raises(RuntimeError, match="already runs a Spark driver"):
        open_session(EngineSettings(kind="spark", spark_remote="sc://127.0.0.1:15002"))
    # PySpark would hand back the running driver on the cluster's master: refused instead
    with pytest.raises(RuntimeError, match=r"a Spark driver on spark://127\.0\.0\.1:\d+ already runs"):
        open_session(EngineSettings(kind="spark", spark_master="local[1]"))
