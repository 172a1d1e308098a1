"""Where the shop's state lives. Everything is under $SHOP_PIPELINE_HOME (default ./data)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "SHOP_PIPELINE_HOME"
PARTITIONS_START_ENV = "SHOP_PIPELINE_PARTITIONS_START"
DEFAULT_PARTITIONS_START = "2025-01-01"
PARTITIONS_START_FILE = "partitions_start"


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity; os.cpu_count where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def partitions_start() -> str:
    """First day of the daily partitions.

    $SHOP_PIPELINE_PARTITIONS_START when set; else the day recorded in the shop home from the
    landed data (by the first `import` or `run`, see `record_partitions_start`); else 2025-01-01.
    Read when the definitions load, so the UI's partitions span the shop's data.
    """
    if os.environ.get(PARTITIONS_START_ENV):
        return os.environ[PARTITIONS_START_ENV]
    recorded = recorded_partitions_start(ShopPaths.from_env())
    return recorded.isoformat() if recorded else DEFAULT_PARTITIONS_START


def partition_bounds(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """[first partition day, tomorrow] (UTC): the days a landed file may be dated."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    return dt.date.fromisoformat(partitions_start()), today + dt.timedelta(days=1)


def recorded_partitions_start(paths: "ShopPaths") -> dt.date | None:
    try:
        return dt.date.fromisoformat(paths.partitions_start_file.read_text().strip())
    except (OSError, ValueError):
        return None


def record_partitions_start(paths: "ShopPaths", first_day: dt.date) -> bool:
    """Record the first landed day as the shop's first partition, once: True when recorded now.

    Kept once written, so a later file dated before it is refused (with the reason) instead of
    silently adding partitions; moving it is a deliberate act ($SHOP_PIPELINE_PARTITIONS_START).
    """
    if recorded_partitions_start(paths) is not None:
        return False
    paths.home.mkdir(parents=True, exist_ok=True)
    tmp = paths.partitions_start_file.with_suffix(".tmp")
    tmp.write_text(first_day.isoformat() + "\n")
    os.replace(tmp, paths.partitions_start_file)
    return True


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
    def partitions_start_file(self) -> Path:
        return self.home / PARTITIONS_START_FILE

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster_home"

    def ensure(self) -> "ShopPaths":
        for folder in (self.events_landing, self.warehouse.parent, self.models, self.reports, self.ground_truth):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.home.chmod(0o700)  # customer data: the owner's only, whatever the umask made it
        return self
