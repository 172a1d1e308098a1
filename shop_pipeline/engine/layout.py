"""Where each warehouse table lives on the lake in Spark mode, and how it is partitioned.

Every table is Parquet under `<lake>/<schema>/<table>/`, so any Parquet reader finds it. Tables
that grow with the event log are split into Hive-style folders by event month
(`event_month=2026-01/`), derived from one date column of the row; a re-run rewrites only the
months it touches. The others are snapshots (a cut-off's features, a model's scores) or small
bookkeeping tables, rewritten whole.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

MONTH_COLUMN = "event_month"


@dataclass(frozen=True)
class TableLayout:
    table: str  # "schema.name", as in sql/tables/
    month_of: str | None = None  # the DATE column whose month names the partition; None: unpartitioned

    @property
    def schema(self) -> str:
        return self.table.split(".")[0]

    @property
    def name(self) -> str:
        return self.table.split(".")[1]

    @property
    def partition_column(self) -> str | None:
        return MONTH_COLUMN if self.month_of else None

    def location(self, lake: str) -> str:
        """The table's folder under the lake URI (no trailing slash)."""
        return f"{lake.rstrip('/')}/{self.schema}/{self.name}"


_MONTHLY = {
    "raw.events": "partition_date",
    "raw.rejected_lines": "partition_date",
    "staging.events": "partition_date",
    "staging.quarantined_events": "partition_date",
    "staging.duplicate_events": "partition_date",
    "features.product_daily_sales": "day",
    "features.order_features": "order_day",
}


def layout(table: str) -> TableLayout:
    """The lake layout of `table` ("schema.name"): monthly partitions or one unpartitioned folder."""
    return TableLayout(table, _MONTHLY.get(table))


def month_key(day: dt.date) -> str:
    """The partition value of a day: '2026-01' (the same text in DuckDB's strftime('%Y-%m') and
    Spark's date_format('yyyy-MM'))."""
    return f"{day.year:04d}-{day.month:02d}"
