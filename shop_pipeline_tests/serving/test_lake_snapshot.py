"""The serving snapshot exported from the lake's Parquet tables equals the one exported from the
warehouse for the same data, file by file (serving/lake_snapshot.py)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from shop_pipeline.engine import lake
from shop_pipeline.ml.models import model
from shop_pipeline.serving import lake_snapshot
from shop_pipeline.serving.snapshot import publish_snapshot
from shop_pipeline.serving.store import Snapshot
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import connect, table_columns
from shop_pipeline.warehouse.scores import replace_scores
from shop_pipeline_tests.ml.cluster.shop import build_shop, copy_to_lake, register_models

NOW = dt.datetime(2030, 1, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def lake_shop(tmp_path_factory):
    """A scored shop (propensity and order risk; demand and recommendations never scored) in a
    warehouse, and every warehouse table copied onto a lake."""
    shop = build_shop(tmp_path_factory.mktemp("lake-snapshot-shop"))
    models_dir = shop.home / "models"
    rows = register_models(shop, models_dir)
    lake_uri = (shop.home / "lake").as_uri()
    with connect(shop.warehouse) as con:
        for name, row in rows.items():
            spec = model(name)
            scores = spec.score(con, spec.load(con, row, models_dir), row, shop.as_of, None)
            replace_scores(con, spec.score_table, scores)
        tables = [t for t in ddl.tables() if table_columns(con, t)]
        copy_to_lake(con, lake_uri, tables)
    return shop, models_dir, lake_uri, tables


def _files(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.iterdir()}


def assert_same_snapshot(a: Path, b: Path) -> None:
    files_a, files_b = _files(a), _files(b)
    assert sorted(files_a) == sorted(files_b)
    assert {"customer_scores.parquet", "fallback.parquet", "order_risk.skops"} <= set(files_a)
    for name, path in files_a.items():
        other = files_b[name]
        if name == "manifest.json":
            manifest_a, manifest_b = json.loads(path.read_text()), json.loads(other.read_text())
            for key in ("snapshot_id", "inputs_key"):
                manifest_a.pop(key), manifest_b.pop(key)
            assert manifest_a == manifest_b
        elif name.endswith(".parquet"):
            table_a, table_b = pq.read_table(path), pq.read_table(other)
            assert table_a.schema.remove_metadata() == table_b.schema.remove_metadata(), name
            assert table_a.num_rows == table_b.num_rows, name
            assert table_a.to_pylist() == table_b.to_pylist(), name  # every value, exactly
        else:  # models.json, the artifacts
            assert path.read_bytes() == other.read_bytes(), name


def test_the_snapshot_from_the_lake_equals_the_one_from_the_warehouse(lake_shop, tmp_path):
    shop, models_dir, lake_uri, tables = lake_shop
    assert {"staging.events", "scoring.customer_scores", "scoring.order_risk_scores", "ml.model_registry"} <= set(
        tables
    )
    with connect(shop.warehouse, read_only=True) as con:
        from_warehouse = publish_snapshot(con, tmp_path / "warehouse", models_dir, now=NOW)
    from_lake = lake_snapshot.publish_snapshot_from_lake(lake_uri, tmp_path / "lake", models_dir, now=NOW)

    assert from_lake.rows == from_warehouse.rows and from_lake.as_of == from_warehouse.as_of == shop.as_of
    assert from_lake.rows["customer_scores"] > 300 and from_lake.rows["recommendations"] == 0
    assert_same_snapshot(from_warehouse.path, from_lake.path)
    loaded = Snapshot.load(from_lake.path)  # what the API loads: the artifacts' SHA-256 checked
    assert loaded.snapshot_id == from_lake.snapshot_id


def test_the_registry_may_stay_in_a_duckdb_file(lake_shop, tmp_path):
    shop, models_dir, lake_uri, _ = lake_shop
    with connect(shop.warehouse, read_only=True) as con:
        from_warehouse = publish_snapshot(con, tmp_path / "warehouse", models_dir, now=NOW)
    from_lake = lake_snapshot.publish_snapshot_from_lake(
        lake_uri, tmp_path / "lake", models_dir, registry=shop.warehouse, now=NOW
    )
    assert_same_snapshot(from_warehouse.path, from_lake.path)


def test_a_write_in_progress_is_not_read(lake_shop, tmp_path):
    """Rows aside under _wap/ (a write not yet published) never reach the snapshot."""
    shop, _, lake_uri, _ = lake_shop
    table = lake.lake_table(lake_uri, "scoring.customer_scores")
    folder = Path(table.filesystem()[1])
    published = next(p for p in folder.iterdir() if p.name.endswith(".parquet"))
    aside = folder / lake.WAP / "20300101T000000000000-deadbeef"
    aside.mkdir(parents=True)
    shutil.copyfile(published, aside / published.name)
    try:
        with lake_snapshot.lake_connection(lake_uri) as con:
            rows = con.execute("SELECT count(*) FROM scoring.customer_scores").fetchone()[0]
        with connect(shop.warehouse, read_only=True) as con:
            assert rows == con.execute("SELECT count(*) FROM scoring.customer_scores").fetchone()[0]
    finally:
        shutil.rmtree(folder / lake.WAP)


def test_an_unchanged_lake_reuses_the_snapshot_and_a_new_write_publishes(lake_shop, tmp_path):
    shop, models_dir, lake_uri, _ = lake_shop
    root = tmp_path / "serving"
    first = lake_snapshot.publish_from_lake_if_changed(lake_uri, root, models_dir)
    again = lake_snapshot.publish_from_lake_if_changed(lake_uri, root, models_dir)
    assert not first.reused and again.reused and again.snapshot_id == first.snapshot_id

    with connect(shop.warehouse, read_only=True) as con:  # the scores written again: new files
        lake.write_partitions_from_duckdb(
            con, "SELECT * FROM scoring.customer_scores", lake.lake_table(lake_uri, "scoring.customer_scores")
        )
    after = lake_snapshot.publish_from_lake_if_changed(lake_uri, root, models_dir)
    assert not after.reused and after.snapshot_id != first.snapshot_id


def test_drift_measured_from_the_lake_equals_the_warehouse_and_its_references_reach_the_lake(lake_shop, tmp_path):
    """Spark mode's monitoring reads the lake (spark_mode/monitoring.py): the same PSI as the warehouse's
    measurement of the same data, and the references it records are published to the lake's registry."""
    from shop_pipeline.features.tables import build_product_daily_sales
    from shop_pipeline.ml.drift import measure_drift
    from shop_pipeline.spark_mode.monitoring import lake_monitoring_session

    shop, models_dir, lake_uri, _ = lake_shop
    lake_copy, warehouse_copy = tmp_path / "lake", tmp_path / "warehouse.duckdb"
    assert lake_uri == (shop.home / "lake").as_uri()
    shutil.copytree(shop.home / "lake", lake_copy)
    shutil.copyfile(shop.warehouse, warehouse_copy)
    with connect(warehouse_copy) as con:  # the demand forecast's drift reads it (the module's shop lacks it)
        build_product_daily_sales(con, shop.as_of)
        copy_to_lake(con, lake_copy.as_uri(), ["features.product_daily_sales"])

    with lake_monitoring_session(lake_copy.as_uri(), models_dir) as session:
        assert session.fingerprints["features.customer_features"].split(":")[0] != "0"
        [(references_before,)] = session.con.execute("SELECT count(*) FROM ml.drift_references").fetchall()
        from_lake = measure_drift(session.con, 7, 10, models_dir=session.models_dir)
    with connect(warehouse_copy) as con:
        from_warehouse = measure_drift(con, 7, 10, models_dir=models_dir)

    assert from_lake.measured and from_lake.measured.keys() == from_warehouse.measured.keys()
    for name, value in from_warehouse.measured.items():
        assert from_lake.measured[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert [(r.feature, r.reference_rows, r.current_rows) for r in from_lake.rows] == [
        (r.feature, r.reference_rows, r.current_rows) for r in from_warehouse.rows
    ]
    assert (from_lake.reference_window, from_lake.current_window) == (
        from_warehouse.reference_window,
        from_warehouse.current_window,
    )
    with lake_monitoring_session(lake_copy.as_uri(), models_dir) as session:
        [(references_after,)] = session.con.execute("SELECT count(*) FROM ml.drift_references").fetchall()
    assert references_after > references_before  # the champions' references were published on the lake
