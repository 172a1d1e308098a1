"""engine/spark_session.py over Spark Connect (SPARK_REMOTE), against a real Connect server: the
way in to a managed cluster. The engine-independent settings are set on the remote session, and
a Python function runs on the server's side."""

from shop_pipeline.engine.settings import EngineSettings
from shop_pipeline.engine.spark_session import ENGINE_INDEPENDENT_CONF, spark_session


def test_a_session_over_spark_connect_gets_the_same_settings_and_runs_python(spark_connect_server):
    settings = EngineSettings(kind="spark", spark_remote=spark_connect_server.url, shuffle_partitions=3)
    assert settings.uses_connect
    with spark_session(settings, {"spark.sql.shuffle.partitions": "2"}) as spark:
        assert type(spark).__module__.startswith("pyspark.sql.connect")
        for key, value in ENGINE_INDEPENDENT_CONF.items():
            assert spark.conf.get(key) == value, key
        assert spark.conf.get("spark.sql.shuffle.partitions") == "2"  # the caller's setting wins

        def double(frames):
            for frame in frames:
                yield frame.assign(id=frame["id"] * 2)

        total = spark.range(10).mapInPandas(double, "id long").selectExpr("sum(id) AS total").first()["total"]
        assert total == 90
        [row] = spark.sql("SELECT date_format(TIMESTAMP '2026-03-31 23:30:00', 'yyyy-MM') AS month").collect()
        assert row.month == "2026-03"
