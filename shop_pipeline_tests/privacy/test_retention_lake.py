"""The retention purge in Spark mode: the lake loses what the warehouse loses, month by month.

On the Spark-mode copy of the package's pseudonymised shop (lake_helpers.py; 2025-01-01 .. 2025-02-09),
a purge with its cut-off early in February must: empty January from every monthly table (its folders
gone), rewrite February without the rows before the cut-off (the late January events landed in
February's files among them), erase from the feature, score and label tables the customers left
without an event, leave every table equal to the warehouse's after the same purge (the DuckDB purge
is the reference, test_retention.py), and a second purge must write nothing.
"""

from __future__ import annotations

import datetime as dt

import pytest

from shop_pipeline.retention import RETENTION_LOG, purge_expired
from shop_pipeline_tests.privacy.lake_helpers import (
    assert_lake_equals_warehouse,
    lake_files,
    lake_rows,
    spark_mode_env,
    spark_mode_shop,
)

pytest.importorskip("pyspark")
pytestmark = pytest.mark.timeout(2400)  # the shared shop's build, and JVMs on a busy 2-core machine
# slow (-m slow): the purge's lake rewrite is the erasure's (test_forget_lake.py, in the default suite) with a date filter
pytestmark = [pytestmark, pytest.mark.slow]

CUTOFF = dt.date(2025, 2, 3)
NOW = dt.datetime(2025, 2, 10, 6, 0)
RETENTION_DAYS = (NOW.date() - CUTOFF).days


def test_the_purge_empties_old_months_and_rewrites_the_boundary_month_on_the_lake(
    pseudonymised_shop, key_file, tmp_path, monkeypatch, spark
):
    paths = spark_mode_shop(pseudonymised_shop, tmp_path / "home")
    spark_mode_env(monkeypatch, paths, key_file)
    lake = paths.home / "lake"
    before = lake_rows(lake)
    assert (lake / "staging" / "events" / "event_month=2025-01").is_dir()
    assert (before["staging.events"]["event_time"] < str(CUTOFF)).any()

    report = purge_expired(paths, RETENTION_DAYS, now=NOW, spark=spark)

    assert report.cutoff == CUTOFF.isoformat() and report.lake_rows_removed
    for table in ("raw.events", "staging.events", "features.product_daily_sales"):
        assert not (lake / table.replace(".", "/") / "event_month=2025-01").exists(), table
        assert report.lake_partitions_rewritten[table] == ["2025-01", "2025-02"], table
    after = lake_rows(lake)
    assert (after["staging.events"]["event_time"] >= str(CUTOFF)).all() and len(after["staging.events"])
    assert (after["raw.events"]["partition_date"] >= str(CUTOFF)).all()
    assert report.lake_customers_gone > 0
    assert_lake_equals_warehouse(paths)
    assert RETENTION_LOG and (paths.logs / RETENTION_LOG).read_text().count("lake_rows_removed") == 1
    assert not any("WARNING" in note for note in report.notes)

    files = {relative: state[:2] for relative, state in lake_files(lake).items()}
    again = purge_expired(paths, RETENTION_DAYS, now=NOW, spark=spark)
    assert again.lake_rows_removed == {} and again.rows_removed == {}
    assert {relative: state[:2] for relative, state in lake_files(lake).items()} == files
