"""One small local Spark session for the engine tests (no cluster): local[1], UI off, UTC.

The session is shared by every test module of the process (getOrCreate) and stopped at exit;
each module registers the tables on its own temporary lake (`fresh_catalog`).
"""

from __future__ import annotations

import atexit

from shop_pipeline.engine.spark_catalog import quote_identifier, register_tables
from shop_pipeline.sql import ddl


def local_spark():
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("shop_pipeline_tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "768m")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.default.parallelism", "1")
        .config("spark.sql.catalogImplementation", "in-memory")
        .config("spark.sql.adaptive.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    atexit.register(spark.stop)
    return spark


def fresh_catalog(spark, lake: str) -> None:
    """Drop the previous module's databases and temp views, then register every table on `lake`."""
    for view in spark.catalog.listTables():
        if view.isTemporary:
            spark.catalog.dropTempView(view.name)
    spark.catalog.clearCache()
    for schema in dict.fromkeys(t.split(".")[0] for t in ddl.tables()):
        spark.sql(f"DROP DATABASE IF EXISTS {quote_identifier(schema)} CASCADE")
    register_tables(spark, lake)
