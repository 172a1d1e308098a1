"""Incremental runs in Spark mode (issue 22): a new day and a late file for an old month rewrite only
the touched months of the lake, and the result equals a full rebuild.

A tiny generated shop spans January to March 2025. One daily file of each month lands first, and
raw_events and clean_events run through Dagster in Spark mode on the test cluster. Then a new day
(March) and a late file for January (a January day's file held back) land and the same assets run
again. February's folders of raw.events, staging.events, staging.quarantined_events and
staging.duplicate_events must be untouched: the same files, byte for byte, with the same
modification times. January's and March's are rewritten, and every lake table and the manifest
equal a full rebuild: a shop that received all the files at once, built by the default engine (the
same tables on both engines is test_staging_parity.py's claim, and the cheap reference keeps this
file to two Spark staging runs).

The two Spark runs happen once per module (`landed`); each test reads one claim off them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from dataclasses import dataclass
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
# The one test of the incremental claim against the real cluster: in the default suite (CI runs it).
pytestmark = pytest.mark.timeout(1800)

START = dt.date(2025, 1, 29)
DAYS = 33  # 2025-01-29 .. 2025-03-02
# one file per month; their planted defects (a malformed line, duplicates) stay within the raw
# suite's 1% per day
FIRST = [dt.date(2025, 1, 29), dt.date(2025, 2, 16), dt.date(2025, 3, 1)]
NEW_DAY = dt.date(2025, 3, 2)
LATE = dt.date(2025, 1, 31)  # January's file that lands after the January partitions were written
MONTHS = [dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)]
SELECTION = AssetSelection.assets("raw_products", "raw_events", "clean_events", "quarantined_events")
MONTHLY = ("raw.events", "staging.events", "staging.quarantined_events", "staging.duplicate_events")
KEYS = ["source_file", "line"]
FEBRUARY = "event_month=2025-02"  # the month neither the new day nor the late file touches
TOUCHED = ("event_month=2025-01", "event_month=2025-03")


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


def _run(paths: ShopPaths, lake: str | None, master: str | None, instance: DagsterInstance) -> None:
    """The ingestion and staging assets over every month, on the lake `lake` (Spark mode on the test
    cluster `master`), or in the shop's warehouse when `lake` is None (the default engine)."""
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
    """month folder -> {file name: (size, mtime in ns, SHA-256 of its bytes)} of the table."""
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


@dataclass
class Landed:
    """The incremental shop after both runs, its lake's month folders before and after the second,
    and the shop that received every file at once (the default engine's warehouse)."""

    incremental: ShopPaths
    lake: str
    before: dict[str, dict[str, dict[str, tuple]]]  # table -> month folder -> file -> (size, mtime, sha)
    after: dict[str, dict[str, dict[str, tuple]]]
    rebuilt: ShopPaths


@pytest.fixture(scope="module")
def landed(spark, spark_cluster, tmp_path_factory) -> Landed:
    generated = tmp_path_factory.mktemp("generated")
    generate_shop(generated, GeneratorConfig(events=4_000, days=DAYS, seed=3, start=START))
    root = tmp_path_factory.mktemp("incremental")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SHOP_PIPELINE_SPARK_UI", "0")  # the settings of the `spark` fixture's session
        env.delenv("SHOP_PIPELINE_SPARK_SHUFFLE_PARTITIONS", raising=False)
        spark_cluster.ensure_workers()  # both workers (a fault test may have killed one)
        wait_for_executors(spark, 2)
        incremental = ShopPaths.at(root / "incremental").ensure()
        lake = (root / "incremental_lake").as_uri()
        instance = DagsterInstance.ephemeral()
        _land(generated, incremental.home, FIRST)
        _run(incremental, lake, spark_cluster.master_url, instance)
        before = {table: _month_files(lake, table) for table in MONTHLY}
        _land(generated, incremental.home, [NEW_DAY, LATE])
        _run(incremental, lake, spark_cluster.master_url, instance)
        after = {table: _month_files(lake, table) for table in MONTHLY}
    rebuilt = ShopPaths.at(root / "rebuilt").ensure()
    _land(generated, rebuilt.home, [*FIRST, NEW_DAY, LATE])
    _run(rebuilt, None, None, DagsterInstance.ephemeral())
    return Landed(incremental, lake, before, after, rebuilt)


def test_the_untouched_month_keeps_its_files_byte_for_byte(landed):
    for table in MONTHLY:
        assert FEBRUARY in landed.before[table], (table, list(landed.before[table]))
        assert landed.after[table][FEBRUARY] == landed.before[table][FEBRUARY], table  # same bytes, same mtimes


def test_the_new_day_and_the_late_file_rewrite_their_months(landed):
    for table in ("raw.events", "staging.events"):  # both months have rows in these before and after
        assert set(landed.before[table]) == set(landed.after[table]) == {FEBRUARY, *TOUCHED}, table
    for table in MONTHLY:
        for month in TOUCHED:  # every file of the month replaced (new write ids, new bytes)
            before, after = landed.before[table].get(month, {}), landed.after[table].get(month, {})
            assert set(after).isdisjoint(before), (table, month)
            assert after or not before, (table, month)  # rows there before are there after


def test_the_lake_and_the_manifest_equal_a_full_rebuild(landed):
    for table in MONTHLY:
        rebuilt = _warehouse_rows(landed.rebuilt, table)
        assert len(rebuilt) > 0, table  # every table has rows to compare (planted defects, duplicates)
        pd.testing.assert_frame_equal(_lake_rows(landed.lake, table), rebuilt, check_dtype=False, obj=table)
    clean = _lake_rows(landed.lake, "staging.events")
    assert clean["source_file"].str.contains(LATE.isoformat()).any()  # the late file's rows reached January
    pd.testing.assert_frame_equal(_manifest(landed.incremental), _manifest(landed.rebuilt))
