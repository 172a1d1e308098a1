"""A staged shop and a lake holding its raw and staging tables, for the Spark-mode feature tests.

The shop is ingested and staged into its DuckDB warehouse by the pipeline's own code, then the
tables the feature assets read on Spark are copied to a lake folder (Hive month folders for the
monthly ones), as test_sql_parity.py does. `copy_lake` gives each run a lake of its own.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from shop_pipeline.engine import lake as lakes
from shop_pipeline.engine.layout import MONTH_COLUMN, layout
from shop_pipeline.resources import Engine
from shop_pipeline.settings import ShopPaths
from shop_pipeline.sources.landing import discover
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.catalog import load_catalog, load_marketing
from shop_pipeline.warehouse.connection import connect
from shop_pipeline.warehouse.ingest import load_batch, publish_batch
from shop_pipeline.warehouse.staging import StagingRules, file_counts, publish_staging, stage_days

FEATURE_INPUTS = ("raw.products", "raw.promotions", "raw.ad_spend", "staging.events")
FEATURE_KEYS = {
    "features.product_daily_sales": ["product_id", "day"],
    "features.customer_features": ["customer_id"],
    "features.interactions": ["customer_id", "product_id"],
    "features.order_features": ["customer_id", "order_id"],
}


def stage_shop(home: Path, config: GeneratorConfig) -> tuple[ShopPaths, list[dt.date]]:
    """Generate a shop in `home` and ingest and stage all of it into its warehouse; its days."""
    paths = ShopPaths.at(home).ensure()
    generate_shop(paths.home, config)
    landing = paths.home / "landing"
    with connect(paths.warehouse) as con:
        load_catalog(con, landing / "catalog" / "products.csv")
        load_marketing(con, landing / "marketing" / "ad_spend.csv", landing / "marketing" / "promotions.csv")
        files = discover(landing)
        days = sorted({f.day for f in files})
        load_batch(con, files, days, now=dt.datetime(2030, 1, 1))
        publish_batch(con, days)
        stage_days(con, days, StagingRules())
        publish_staging(con, days, file_counts(con, days))
    return paths, days


def copy_to_lake(con, lake: Path, tables, before: dt.date | None = None) -> None:
    """Copy `tables` of the warehouse `con` to the lake folder `lake` (Hive month folders for the
    monthly ones; only the days before `before` when given)."""
    lake.mkdir(parents=True, exist_ok=True)
    for table in tables:
        where = layout(table)
        target = where.location(str(lake))
        (lake / where.schema).mkdir(exist_ok=True)
        if where.partition_column:
            until = "" if before is None else f"WHERE partition_date < DATE '{before.isoformat()}'"
            con.execute(
                f"COPY (SELECT *, strftime({where.month_of}, '%Y-%m') AS {MONTH_COLUMN} FROM {table} {until}) "
                f"TO '{target}' (FORMAT parquet, PARTITION_BY ({MONTH_COLUMN}))"
            )
        else:
            (lake / where.schema / where.name).mkdir()
            con.execute(f"COPY {table} TO '{target}/part-0.parquet' (FORMAT parquet)")


def staged_shop_on_lake(home: Path, lake: Path, config: GeneratorConfig, before: dt.date | None = None) -> ShopPaths:
    """Generate a shop in `home`, ingest and stage it into its warehouse, and copy the feature
    assets' input tables to the lake folder `lake` (staging.events: only the days before `before`
    when given; `publish_staged_days` lands the others later)."""
    paths, _ = stage_shop(home, config)
    with connect(paths.warehouse) as con:
        copy_to_lake(con, lake, FEATURE_INPUTS, before)
    return paths


def publish_staged_days(paths: ShopPaths, lake: str, since: dt.date) -> list[str]:
    """The staged days from `since` on land on the lake: their months of staging.events are
    rewritten from the warehouse (lake.write_partitions_from_duckdb); returns those months."""
    with connect(paths.warehouse, read_only=True) as con:
        query = "SELECT * FROM staging.events WHERE partition_date >= date_trunc('month', $since)"
        months = [
            m
            for (m,) in con.execute(
                f"SELECT DISTINCT strftime(partition_date, '%Y-%m') FROM ({query}) ORDER BY 1", {"since": since}
            ).fetchall()
        ]
        lakes.write_partitions_from_duckdb(
            con, query, lakes.lake_table(lake, "staging.events"), months=months, parameters={"since": since}
        )
    return months


def copy_lake(source: Path, target: Path) -> str:
    """A copy of the lake folder `source` at `target`; its URI."""
    shutil.copytree(source, target)
    return target.as_uri()


def cluster_engine(lake: str, master_url: str) -> Engine:
    """The Engine resource in Spark mode on the test cluster: the settings of the `spark` fixture's
    session, so Engine.spark() hands back that session (no driver of its own)."""
    return Engine(kind="spark", lake=lake, spark_master=master_url)
