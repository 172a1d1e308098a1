"""Where the shop's state lives, and the settings Dagster needs before anything runs.

Everything is under $SHOP_PIPELINE_HOME (default ./data). The environment variables read here
are the definition-time settings: Dagster needs them when the definitions load (the first
partition, the schedule's time, the landing sensor's tick interval), so they cannot be resource
config; a changed value takes effect when the code location reloads. The landing sensor's settle
period is read here too, at every tick. Everything a run or a sensor tick uses otherwise is a
resource field (resources.py) the UI shows; docs/operations.md, "Configuration", lists them all.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOME_ENV = "SHOP_PIPELINE_HOME"
PARTITIONS_START_ENV = "SHOP_PIPELINE_PARTITIONS_START"
DEFAULT_PARTITIONS_START = "2025-01-01"
PARTITIONS_START_FILE = "partitions_start"
TIMEZONE_ENV = "SHOP_PIPELINE_TIMEZONE"
DAILY_HOUR_ENV = "SHOP_PIPELINE_DAILY_HOUR"
DAILY_MINUTE_ENV = "SHOP_PIPELINE_DAILY_MINUTE"
LANDING_INTERVAL_ENV = "SHOP_PIPELINE_LANDING_INTERVAL_SECONDS"
SETTLE_SECONDS_ENV = "SHOP_PIPELINE_LANDING_SETTLE_SECONDS"
RETENTION_DAYS_ENV = "SHOP_PIPELINE_RETENTION_DAYS"  # how long events are kept (retention.py; unset: forever)


def env_number(name: str, default: float, kind=float, minimum: float = 0) -> Any:
    """The number in environment variable `name` (`default` when unset or empty), at least `minimum`."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ValueError(f"{name}={raw!r} must be >= {minimum}")
    return value


@dataclass(frozen=True)
class ScheduleSettings:
    """When the daily run starts: `hour:minute` in `timezone` (an IANA name)."""

    timezone: str = "UTC"
    hour: int = 6
    minute: int = 0

    @classmethod
    def from_env(cls) -> ScheduleSettings:
        timezone = os.environ.get(TIMEZONE_ENV, "").strip() or "UTC"
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{TIMEZONE_ENV}={timezone!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        hour = env_number(DAILY_HOUR_ENV, 6, int)
        minute = env_number(DAILY_MINUTE_ENV, 0, int)
        if hour > 23 or minute > 59:
            raise ValueError(f"{DAILY_HOUR_ENV}/{DAILY_MINUTE_ENV} must be a time of day, got {hour}:{minute}")
        return cls(timezone, hour, minute)

    @property
    def cron(self) -> str:
        return f"{self.minute} {self.hour} * * *"


def landing_interval_seconds() -> int:
    """Seconds between two ticks of the landing sensor (default 30; read when the definitions load)."""
    return env_number(LANDING_INTERVAL_ENV, 30, int, minimum=1)


def landing_settle_seconds() -> float:
    """A landed file counts as complete once it has not been modified for this long (default 30 s;
    read at every tick of the landing sensor)."""
    return env_number(SETTLE_SECONDS_ENV, 30.0)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity; os.cpu_count where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def partitions_start() -> str:
    """The first day a landed file may be dated (the month partitions themselves are the months
    that have files: defs/common.py).

    $SHOP_PIPELINE_PARTITIONS_START when set; else the day recorded in the shop home from the
    landed data (by the first `import` or `run`, see `record_partitions_start`); else 2025-01-01.
    """
    if os.environ.get(PARTITIONS_START_ENV):
        return os.environ[PARTITIONS_START_ENV]
    recorded = recorded_partitions_start(ShopPaths.from_env())
    return recorded.isoformat() if recorded else DEFAULT_PARTITIONS_START


def partition_bounds(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """[first partition day, tomorrow] (UTC): the days a landed file may be dated."""
    today = today or dt.datetime.now(dt.UTC).date()
    return dt.date.fromisoformat(partitions_start()), today + dt.timedelta(days=1)


def recorded_partitions_start(paths: ShopPaths) -> dt.date | None:
    try:
        return dt.date.fromisoformat(paths.partitions_start_file.read_text().strip())
    except (OSError, ValueError):
        return None


def record_partitions_start(paths: ShopPaths, first_day: dt.date) -> bool:
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
    def from_env(cls) -> ShopPaths:
        return cls(Path(os.environ.get(HOME_ENV, "data")).resolve())

    @classmethod
    def at(cls, home: str | os.PathLike) -> ShopPaths:
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

    def ensure(self) -> ShopPaths:
        for folder in (self.events_landing, self.warehouse.parent, self.models, self.reports, self.ground_truth):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.home.chmod(0o700)  # customer data: the owner's only, whatever the umask made it
        return self
