"""What the staging steps of both engines return, and the summary queries they run (no Dagster)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from shop_pipeline.quality.suites import SUITE_VERSION
from shop_pipeline.quality.validator import SuiteOutcome
from shop_pipeline.warehouse.staging import conservation_breaks

STAGING_SUITE_NAME = f"staging_events.v{SUITE_VERSION}"

# Per month (its first day) of $days: what the partition holds after the run.
CLEAN_PER_MONTH = """
SELECT CAST(date_trunc('month', partition_date) AS DATE), count(*), count(*) FILTER (WHERE is_late),
       min(event_time), max(event_time)
FROM staging.events WHERE list_contains($days, partition_date) GROUP BY 1"""
QUARANTINED_PER_MONTH = """
SELECT CAST(date_trunc('month', partition_date) AS DATE), count(*)
FROM staging.quarantined_events WHERE list_contains($days, partition_date) GROUP BY 1"""
DUPLICATES_PER_MONTH = """
SELECT CAST(date_trunc('month', partition_date) AS DATE), count(*)
FROM staging.duplicate_events WHERE list_contains($days, partition_date) GROUP BY 1"""
REASONS = """
SELECT CAST(date_trunc('month', partition_date) AS DATE) AS month, reason_code, count(*) AS rows,
       any_value(source_file || ':' || line) AS example_line, any_value(reason) AS example_reason
FROM staging.quarantined_events WHERE list_contains($days, partition_date)
GROUP BY ALL ORDER BY month, rows DESC"""


@dataclass
class Audited:
    """A staged batch and its audit: what the asset's checks report, and what publish takes."""

    stale: list[dt.date]  # the days staged (none: nothing changed)
    counts: pd.DataFrame  # per landed file: rows read and what became of them
    outcome: SuiteOutcome
    validation_seconds: float

    @property
    def breaks(self) -> pd.DataFrame:
        return conservation_breaks(self.counts)


@dataclass
class StagingSummary:
    """After a run, per month (a date, its first day): what the partitions hold."""

    clean: dict[dt.date, tuple]  # rows, late rows, first and last event time
    quarantined: dict[dt.date, tuple]
    duplicates: dict[dt.date, tuple]
    reasons: pd.DataFrame
    files: pd.DataFrame


def per_month(rows) -> dict[dt.date, tuple]:
    """Rows keyed by their first column (a month's first day)."""
    return {month: tuple(values) for month, *values in rows}
