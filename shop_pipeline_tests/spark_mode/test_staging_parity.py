"""raw_events and clean_events / quarantined_events give the same tables in both engines.

A tiny generated shop (with its planted defects: malformed lines, bad values, duplicates, an
unreadable file) spanning two months is materialized through `dagster.materialize` once with the
DuckDB engine and once with the Spark engine (the test cluster's session, a temporary lake). The
staging tables on the lake must equal the warehouse's (same keys, row counts and values, money
exact), the manifests must agree (the same files failed, the same counts per file) and conserve
every file's rows. A blocking check that fails in Spark mode publishes nothing to the lake. A new
day and a late file for the old month rewrite only that month's folders, giving what a full
rebuild gives.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from shop_pipeline.definitions import ASSETS
from shop_pipeline.defs.common import add_partitions
from shop_pipeline.engine.lake_views import attach_lake
from shop_pipeline.pipeline_run import RANGE_END_TAG, RANGE_START_TAG
from shop_pipeline.resources import Engine, default_resources
from shop_pipeline.settings import ShopPaths
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.connection import connect
from shop_pipeline.warehouse.staging import conservation_breaks, published_file_counts
from shop_pipeline_tests.landing_fixtures import write_catalog

# Ingestion and staging through Dagster on both engines, then a late file: about ten minutes on a
# loaded 2-core machine, over the default suite's budget. Run with -m slow.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

pytest.importorskip("pyspark")

START = dt.date(2025, 1, 27)
DAYS = 8  # 2025-01-27 .. 2025-02-03: two months
MONTHS = [dt.date(2025, 1, 1), dt.date(2025, 2, 1)]
SELECTION = AssetSelection.assets("raw_products", "raw_events", "clean_events", "quarantined_events")
KEYS = ["source_file", "line"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("generated")
    generate_shop(home, GeneratorConfig(events=1_200, days=DAYS, seed=7, start=START))
    return home


def _shop(generated: Path, target: Path) -> ShopPaths:
    shutil.copytree(generated / "landing", target / "landing")
    return ShopPaths.at(target).ensure()


def _engine(spark, lake: Path) -> Engine:
    return Engine(kind="spark", lake=f"file://{lake}", spark_master=spark.sparkContext.master)


def _run(paths: ShopPaths, engine: Engine | None = None, instance=None):
    instance = instance or DagsterInstance.ephemeral()
    add_partitions(instance, MONTHS)
    resources = default_resources(paths)
    if engine is not None:
        resources["engine"] = engine
    return materialize(
        ASSETS,
        selection=SELECTION,
        resources=resources,
        instance=instance,
        tags={RANGE_START_TAG: MONTHS[0].isoformat(), RANGE_END_TAG: MONTHS[-1].isoformat()},
        raise_on_error=False,
    )


def _warehouse(paths: ShopPaths, table: str) -> pd.DataFrame:
    with connect(paths.warehouse, read_only=True) as con:
        return con.execute(f"SELECT * FROM {table}").df()


def _lake(lake: Path, table: str) -> pd.DataFrame:
    con = duckdb.connect()
    try:
        assert table in attach_lake(con, f"file://{lake}", [table]), f"{table} is not on the lake"
        return con.execute(f"SELECT * FROM {table}").df()
    finally:
        con.close()


def _same(name: str, left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> None:
    assert len(left) == len(right), f"{name}: {len(left)} rows in DuckDB, {len(right)} on the lake"
    # when a file was ingested is each shop's own clock (the two shops ingest at different times)
    left, right = left.drop(columns="ingested_at", errors="ignore"), right.drop(columns="ingested_at", errors="ignore")
    left = left.sort_values(keys).reset_index(drop=True)
    right = right[left.columns].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False, obj=name)


def _manifest(paths: ShopPaths) -> pd.DataFrame:
    columns = "path, partition_date, status, rows_read, rows_clean, rows_quarantined, rows_duplicate"
    with connect(paths.warehouse, read_only=True) as con:
        return con.execute(f"SELECT {columns} FROM raw.ingested_files ORDER BY path").df()


def _assert_parity(duck: ShopPaths, spark_shop: ShopPaths, lake: Path) -> None:
    for table in ("staging.events", "staging.duplicate_events", "raw.events", "raw.rejected_lines"):
        _same(table, _warehouse(duck, table), _lake(lake, table), KEYS)
    quarantined_duck, quarantined_lake = (
        _warehouse(duck, "staging.quarantined_events"),
        _lake(lake, "staging.quarantined_events"),
    )
    _same("staging.quarantined_events", quarantined_duck, quarantined_lake, KEYS)
    assert (
        quarantined_duck["reason_code"].value_counts().to_dict()
        == quarantined_lake["reason_code"].value_counts().to_dict()
    )
    pd.testing.assert_frame_equal(_manifest(duck), _manifest(spark_shop))
    with connect(spark_shop.warehouse, read_only=True) as con:
        days = [r[0] for r in con.execute("SELECT DISTINCT partition_date FROM raw.ingested_files").fetchall()]
        assert conservation_breaks(published_file_counts(con, days)).empty


def _month_files(lake: Path, table: str) -> dict[str, tuple[str, ...]]:
    folder = lake / table.replace(".", "/")
    return {
        month.name: tuple(sorted((f.name, f.stat().st_mtime_ns) for f in month.glob("*.parquet")))
        for month in sorted(folder.glob("event_month=*"))
    }


def test_spark_mode_stages_what_duckdb_stages(spark, generated, tmp_path):
    duck = _shop(generated, tmp_path / "duck")
    spark_shop = _shop(generated, tmp_path / "spark")
    lake = tmp_path / "lake"
    engine = _engine(spark, lake)
    assert engine.spark() is spark  # the test cluster's session, not a driver of its own

    assert _run(duck).success
    instance = DagsterInstance.ephemeral()
    result = _run(spark_shop, engine, instance)
    assert result.success
    with connect(spark_shop.warehouse, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.events").fetchone()[0] == 0  # the rows are on the lake
    failed = _manifest(duck).query("status == 'failed'")
    _assert_parity(duck, spark_shop, lake)
    assert len(_warehouse(duck, "staging.quarantined_events")) > 0
    assert len(_warehouse(duck, "staging.duplicate_events")) > 0
    assert failed.equals(_manifest(spark_shop).query("status == 'failed'"))

    # incremental: a late file for January lands (a part of a day's file under a new name: new
    # bytes, its rows duplicates of events already staged)
    before = {t: _month_files(lake, t) for t in ("staging.events", "raw.events")}
    for shop in (duck, spark_shop):
        events = shop.landing / "events"
        lines = (events / "events_2025-01-28.csv").read_text().splitlines()
        (events / "events_2025-01-28_late.csv").write_text("\n".join(lines[:6]) + "\n")
    assert _run(duck).success
    assert _run(spark_shop, engine, instance).success
    after = {t: _month_files(lake, t) for t in ("staging.events", "raw.events")}
    for table in after:
        changed = [m for m in after[table] if after[table][m] != before[table].get(m)]
        assert changed == ["event_month=2025-01"], (table, changed)
    _assert_parity(duck, spark_shop, lake)


def test_a_failing_blocking_check_publishes_nothing_in_spark_mode(spark, generated, tmp_path):
    shop = _shop(generated, tmp_path / "spark")
    write_catalog(shop.landing, product_ids=["not-a-product"])  # breaks product_in_catalog_mostly
    lake = tmp_path / "lake"
    result = _run(shop, _engine(spark, lake))
    assert not result.success
    staged = [e for e in result.get_asset_materialization_events() if e.asset_key.path[0] == "clean_events"]
    assert staged == []
    assert (lake / "raw" / "events").is_dir()  # the raw months were published
    for table in ("events", "quarantined_events", "duplicate_events"):
        folder = lake / "staging" / table
        assert not folder.exists() or not list(folder.rglob("*.parquet")), table
    with connect(shop.warehouse, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM staging.staged_days").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM raw.ingested_files WHERE rows_clean IS NOT NULL").fetchone()[0] == 0
