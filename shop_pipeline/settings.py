"""Where the shop's state lives. Everything is under $SHOP_PIPELINE_HOME (default ./data)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "SHOP_PIPELINE_HOME"
PARTITIONS_START_ENV = "SHOP_PIPELINE_PARTITIONS_START"
DEFAULT_PARTITIONS_START = "2025-01-01"


def partitions_start() -> str:
    """First day of the daily partitions; data dated earlier needs this moved back."""
    return os.environ.get(PARTITIONS_START_ENV, DEFAULT_PARTITIONS_START)


@dataclass(frozen=True)
class ShopPaths:
    home: Path

    @classmethod
    def from_env(cls) -> "ShopPaths":
        return cls(Path(os.environ.get(HOME_ENV, "data")).resolve())

    @classmethod
    def at(cls, home: str | os.PathLike) -> "ShopPaths":
        return cls(Path(home).resolve())

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def events_landing(self) -> Path:
        return self.landing / "events"

    @property
    def catalog_file(self) -> Path:
        return self.landing / "catalog" / "products.csv"

    @property
    def ad_spend_file(self) -> Path:
        return self.landing / "marketing" / "ad_spend.csv"

    @property
    def promotions_file(self) -> Path:
        return self.landing / "marketing" / "promotions.csv"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse" / "shop.duckdb"

    @property
    def models(self) -> Path:
        return self.home / "models"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def ground_truth(self) -> Path:
        return self.home / "ground_truth"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster_home"

    def ensure(self) -> "ShopPaths":
        for folder in (self.events_landing, self.warehouse.parent, self.models, self.reports, self.ground_truth):
            folder.mkdir(parents=True, exist_ok=True)
        return self
