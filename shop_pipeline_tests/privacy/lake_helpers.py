"""A Spark-mode shop for the privacy tests: the package's pseudonymised shop, copied, with its tables laid
out on a lake under the home as a Spark-mode run leaves them (Hive month folders for the monthly
tables: spark_mode/lake_shop.copy_to_lake), and what the tests compare on it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pandas as pd

from shop_pipeline.engine import lake as lakes
from shop_pipeline.engine.lake_views import attach_lake
from shop_pipeline.engine.settings import ENGINE_ENV, LAKE_ENV, MODELS_URI_ENV
from shop_pipeline.pseudonyms import PSEUDONYM_KEY_ENV, PSEUDONYM_KEY_FILE_ENV
from shop_pipeline.settings import ShopPaths
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.privacy.conftest import copied
from shop_pipeline_tests.spark_mode.lake_shop import copy_to_lake

# What a Spark-mode run leaves on the lake (the warehouse file keeps the manifest and the privacy tables)
LAKE_TABLES = (
    "raw.events",
    "raw.rejected_lines",
    "raw.products",
    "raw.promotions",
    "raw.ad_spend",
    "raw.order_labels",
    "raw.ingested_files",
    "staging.events",
    "staging.quarantined_events",
    "staging.duplicate_events",
    "features.product_daily_sales",
    "features.customer_features",
    "features.customer_labels",
    "features.interactions",
    "features.order_features",
    "scoring.customer_scores",
    "scoring.order_risk_scores",
    "scoring.recommendations",
    "scoring.demand_forecasts",
    "ml.model_registry",
    "ml.model_evaluations",
)


def spark_mode_env(monkeypatch, paths: ShopPaths, key_file: Path) -> None:
    monkeypatch.setenv(ENGINE_ENV, "spark")
    monkeypatch.setenv(LAKE_ENV, (paths.home / "lake").as_uri())
    monkeypatch.setenv(MODELS_URI_ENV, str(paths.models))
    monkeypatch.setenv(PSEUDONYM_KEY_FILE_ENV, str(key_file))
    monkeypatch.delenv(PSEUDONYM_KEY_ENV, raising=False)


def spark_mode_shop(pseudonymised_shop, target: Path) -> ShopPaths:
    """A copy of the built shop with its tables on a lake under the home."""
    paths = copied(pseudonymised_shop, target)
    with connect(paths.warehouse, read_only=True) as con:
        present = {
            f"{s}.{t}"
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary"
            ).fetchall()
        }
        copy_to_lake(con, paths.home / "lake", [t for t in LAKE_TABLES if t in present])
    return paths


def lake_files(lake: Path) -> dict[str, tuple]:
    """Every file under the lake: relative path -> (size, modification time in ns, SHA-256)."""
    return {
        p.relative_to(lake).as_posix(): (
            p.stat().st_size,
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(lake.rglob("*"))
        if p.is_file()
    }


def lake_rows(lake: Path) -> dict[str, pd.DataFrame]:
    """Every lake table's rows, typed as its DDL, in a stable order."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        tables = attach_lake(con, lake.as_uri(), LAKE_TABLES)
        frames = {}
        for table in tables:
            frame = con.execute(f"SELECT * FROM {table}").df()
            frames[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
        return frames


def warehouse_rows(paths: ShopPaths) -> dict[str, pd.DataFrame]:
    """The warehouse's rows of the lake tables (their DDL's columns), ordered as lake_rows orders them."""
    frames = {}
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        present = {f"{s}.{t}" for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}
        for table in (t for t in LAKE_TABLES if t in present):
            columns = ", ".join(f'"{c}"' for c in ddl.column_names(table))
            frame = con.execute(f"SELECT {columns} FROM {table}").df()
            frames[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return frames


def assert_lake_equals_warehouse(paths: ShopPaths) -> None:
    """Every lake table holds what the warehouse holds after the same operation (the DuckDB path is the
    reference: tested on its own in test_forget.py / test_retention.py); the lake's copy of the
    manifest is refreshed by the next ingestion, not by forget."""
    lake, warehouse = lake_rows(paths.home / "lake"), warehouse_rows(paths)
    for table, frame in lake.items():
        if table != "raw.ingested_files":
            pd.testing.assert_frame_equal(frame, warehouse[table], check_dtype=False, obj=table)


def month_of(relative: str) -> str | None:
    """The month of a lake file's path relative to the lake (None: not in a month folder)."""
    part = relative.split("/")[2] if relative.count("/") >= 3 else ""
    return part.removeprefix(f"{lakes.MONTH_COLUMN}=") if part.startswith(f"{lakes.MONTH_COLUMN}=") else None
