"""One small local Spark session per test module (local[2]: at least two tasks run at once; UTC, no UI)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any


def local_session(app_name: str) -> Iterator[Any]:
    """A module fixture's body: a local[2] session with a 512 MB driver, stopped afterwards."""
    from pyspark.sql import SparkSession

    # the Python workers run this interpreter (its packages: shop_pipeline, scikit-learn, skops);
    # PySpark reads the variable, not spark.pyspark.python, when it starts a session itself
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "512m")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
