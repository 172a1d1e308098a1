"""A small generated shop in a DuckDB warehouse (ingested, staged, features built) for the cluster tests,
and its tables copied onto a lake."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from shop_pipeline.engine import lake
from shop_pipeline.features.order_features import build_order_features
from shop_pipeline.features.tables import build_customer_features
from shop_pipeline.sources.landing import discover
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.connection import connect
from shop_pipeline.warehouse.order_labels import load_order_labels
from shop_pipeline_tests.warehouse.helpers import run_days

# small enough for a loaded 2-core machine, with repeat buyers for BG/NBD and Gamma-Gamma (and the
# generator's planted defects: quarantined lines, duplicates, late events)
CONFIG = GeneratorConfig(events=15_000, days=45, seed=5, fraud_rate=0.03)


@dataclass(frozen=True)
class SmallShop:
    home: Path
    warehouse: Path
    as_of: dt.date
    days: list[dt.date]


def build_shop(home: Path, config: GeneratorConfig = CONFIG) -> SmallShop:
    generate_shop(home, config)
    warehouse = home / "warehouse.duckdb"
    with connect(warehouse) as con:
        days = sorted({f.day for f in discover(home / "landing")})
        run_days(con, home / "landing", days, now=dt.datetime(2030, 1, 1))
        load_order_labels(con, home / "landing" / "labels")
        as_of = days[-1]
        build_customer_features(con, as_of)
        build_order_features(con, as_of)
    return SmallShop(home, warehouse, as_of, days)


def copy_to_lake(con, lake_uri: str, tables: list[str]) -> None:
    """Copy warehouse tables onto the lake with the lake's own write path."""
    for table in tables:
        lake.write_partitions_from_duckdb(con, f"SELECT * FROM {table}", lake.lake_table(lake_uri, table))
