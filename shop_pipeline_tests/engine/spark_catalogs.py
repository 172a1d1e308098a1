"""A clean catalog for an engine test module: the tests share one Spark session (the `spark`
fixture of cluster_fixtures.py), and each module registers the tables on its own temporary lake."""

from __future__ import annotations

from shop_pipeline.engine.spark_catalog import quote_identifier, register_tables
from shop_pipeline.sql import ddl


def fresh_catalog(spark, lake: str) -> None:
    """Drop the previous module's databases and temp views, then register every table on `lake`."""
    for view in spark.catalog.listTables():
        if view.isTemporary:
            spark.catalog.dropTempView(view.name)
    spark.catalog.clearCache()
    for schema in dict.fromkeys(t.split(".")[0] for t in ddl.tables()):
        spark.sql(f"DROP DATABASE IF EXISTS {quote_identifier(schema)} CASCADE")
    register_tables(spark, lake)
