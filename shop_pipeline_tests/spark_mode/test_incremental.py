"""Incremental runs in Spark mode (issue 22): a new day and a late file for an old month rewrite only
the touched months of the lake, and the result equals a full rebuild.

A tiny generated shop spans January to March 2025; a few of its daily files land first (days in
each of the three months), and raw_events and clean_events run through Dagster in Spark mode on the
test cluster. Then a new day (March) and a late file for January (a January day's file held back)
land and the same assets run again. February's folders of raw.events, staging.events,
staging.quarantined_events and staging.duplicate_events must be untouched: the same files, byte for
byte, with the same modification times. January and March are rewritten, and every lake table and
the manifest equal a full rebuild: a shop that received all the files at once, built by the default
engine (the same tables on both engines is test_staging_parity.py's claim; a third Spark staging run
would double this test's time).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from shop_pipeline.definitions import ASSETS
from shop_pipeline.defs.common import add_partitions
from shop_pipeline.engine import lake as lakes
from shop_pipeline.pipeline_run import RANGE_END_TAG, RANGE_START_TAG
from shop_pipeline.resources import default_resources
from shop_pipeline.settings import ShopPaths
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.cluster_fixtures import wait_for_executors
from shop_pipeline_tests.spark_mode.lake_shop import cluster_engine

pytest.importorskip("pyspark")
# Three staging runs, two of them Spark's (hundreds of small Spark jobs each): over the default
# suite's budget on a loaded 2-core machine. Run with -m slow.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

START = dt.date(2025, 1, 29)
DAYS = 33  # 2025-01-29 .. 2025-03-02
# days whose planted defects (a malformed line, duplicates) stay within the raw suite's 1% per day
FIRST = [dt.date(2025, 1, 29), dt.date(2025, 2, 16), dt.date(2025, 2, 17), dt.date(2025, 3, 1)]
NEW_DAY = dt.date(2025, 3, 2)
LATE = dt.date(2025, 1, 31)  # January's file that lands after the January partitions were written
MONTHS = [dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)]
SELECTION = AssetSelection.assets("raw_products", "raw_events", "clean_events", "quarantined_events")
MONTHLY = ("raw.events", "staging.events", "staging.quarantined_events", "staging.duplicate_events")
KEYS = ["source_file", "line"]
FEBRUARY = "event_month=2025-02"  # the month neither the new day nor the late file touches


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("generated")
    generate_shop(home, GeneratorConfig(events=4_000, days=DAYS, seed=3, start=START))
    return home


def _land(generated: Path, home: Path, days: list[dt.date]) -> None:
    """The shop's side files, and its daily event files of `days` (none other), in `home`'s landing."""
    source, target = generated / "landing", home / "landing"
    for path in source.rglob("*"):
        if path.is_file() and (path.parent.name != "events" or _day_of(path) in days):
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.relative_to(source))


def _day_of(path: Path) -> dt.date | None:
    try:
        return dt.date.fromisoformat(path.name.split(".")[0].removeprefix("events_")[:10])
    except ValueError:
        return None


def _run(paths: ShopPaths, lake: str | None, master: str, instance: DagsterInstance) -> None:
    """The ingestion and staging assets over every month, on the lake `lake` (Spark mode on the test
    cluster), or in the shop's warehouse when `lake` is None (the default engine)."""
    add_partitions(instance, MONTHS)
    resources = default_resources(paths)
    if lake is not None:
        resources["engine"] = cluster_engine(lake, master)
    result = materialize(
        ASSETS,
        selection=SELECTION,
        resources=resources,
        instance=instance,
        tags={RANGE_START_TAG: MONTHS[0].isoformat(), RANGE_END_TAG: MONTHS[-1].isoformat()},
    )
    assert result.success


def _month_files(lake: str, table: str) -> dict[str, dict[str, tuple]]:
    """month -> {file name: (size, mtime in ns, SHA-256 of its bytes)} of the table's month folders."""
    _, base = lakes.lake_table(lake, table).filesystem()
    return {
        folder.name: {
            f.name: (f.stat().st_size, f.stat().st_mtime_ns, hashlib.sha256(f.read_bytes()).hexdigest())
            for f in folder.iterdir()
        }
        for folder in sorted(Path(base).glob("event_month=*"))
    }


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    # when a file was ingested is each shop's own clock; the month folder is the lake's
    frame = frame.drop(columns=["ingested_at", "event_month"], errors="ignore")
    return frame[sorted(frame.columns)].sort_values(KEYS).reset_index(drop=True)


def _lake_rows(lake: str, table: str) -> pd.DataFrame:
    with duckdb.connect() as con:
        return _comparable(con.execute(f"SELECT * FROM {lakes.duckdb_source(lakes.lake_table(lake, table))}").df())


def _warehouse_rows(paths: ShopPaths, table: str) -> pd.DataFrame:
    with connect(paths.warehouse, read_only=True) as con:
        return _comparable(con.execute(f"SELECT * FROM {table}").df())


def _manifest(paths: ShopPaths) -> pd.DataFrame:
    columns = "path, partition_date, status, rows_read, rows_clean, rows_quarantined, rows_duplicate"
    with connect(paths.warehouse, read_only=True) as con:
        return con.execute(f"SELECT {columns} FROM raw.ingested_files ORDER BY path").df()


@pytest.fixture
def master(spark, spark_cluster, monkeypatch) -> str:
    """The test cluster with both workers (the session's executors), its master URL."""
    monkeypatch.setenv("SHOP_PIPELINE_SPARK_UI", "0")
    monkeypatch.delenv("SHOP_PIPELINE_SPARK_SHUFFLE_PARTITIONS", raising=False)
    spark_cluster.ensure_workers()
    wait_for_executors(spark, 2)
    return spark_cluster.master_url


def test_a_new_day_and_a_late_file_rewrite_only_their_months(generated, master, tmp_path):
    incremental = ShopPaths.at(tmp_path / "incremental").ensure()
    lake = (tmp_path / "incremental_lake").as_uri()
    instance = DagsterInstance.ephemeral()
    _land(generated, incremental.home, FIRST)
    _run(incremental, lake, master, instance)
    before = {table: _month_files(lake, table) for table in MONTHLY}
    assert all(FEBRUARY in months for months in before.values()), {t: list(m) for t, m in before.items()}
    assert len(before["staging.events"]) == 3

    _land(generated, incremental.home, [NEW_DAY, LATE])
    _run(incremental, lake, master, instance)
    after = {table: _month_files(lake, table) for table in MONTHLY}
    for table in MONTHLY:
        assert after[table][FEBRUARY] == before[table][FEBRUARY], table  # not rewritten: the same bytes
        for month in set(after[table]) - {FEBRUARY}:  # January and March: rewritten
            assert set(after[table][month]).isdisjoint(before[table].get(month, {})), (table, month)
    assert set(after["staging.events"]) == set(before["staging.events"])

    rebuilt = ShopPaths.at(tmp_path / "rebuilt").ensure()
    _land(generated, rebuilt.home, [*FIRST, NEW_DAY, LATE])
    _run(rebuilt, None, master, DagsterInstance.ephemeral())
    for table in MONTHLY:
        pd.testing.assert_frame_equal(
            _lake_rows(lake, table), _warehouse_rows(rebuilt, table), check_dtype=False, obj=table
        )
    pd.testing.assert_frame_equal(_manifest(incremental), _manifest(rebuilt))
