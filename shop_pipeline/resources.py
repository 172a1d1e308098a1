"""Dagster resources: the DuckDB warehouse, the shop's folders, the quality thresholds."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Optional

import duckdb
from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource

from shop_pipeline.quality.thresholds import load_thresholds
from shop_pipeline.settings import ShopPaths
from shop_pipeline.warehouse.connection import SESSION_CONFIG, ensure_schema


class ShopHome(ConfigurableResource):
    """The shop's state folder ($SHOP_PIPELINE_HOME): landing files, warehouse, models, reports."""

    home: str

    @property
    def paths(self) -> ShopPaths:
        return ShopPaths.at(self.home)


class Quality(ConfigurableResource):
    """Thresholds of the ingestion rules and expectation suites (quality/thresholds.yaml)."""

    thresholds_path: Optional[str] = None

    def thresholds(self) -> dict[str, Any]:
        return load_thresholds(self.thresholds_path)


@contextlib.contextmanager
def warehouse_connection(warehouse: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection with the warehouse's tables created."""
    with warehouse.get_connection() as con:
        ensure_schema(con)
        yield con


def default_resources(paths: ShopPaths | None = None) -> dict[str, Any]:
    paths = paths or ShopPaths.from_env()
    paths.warehouse.parent.mkdir(parents=True, exist_ok=True)
    return {
        "warehouse": DuckDBResource(database=str(paths.warehouse), connection_config=dict(SESSION_CONFIG)),
        "shop": ShopHome(home=str(paths.home)),
        "quality": Quality(),
    }
