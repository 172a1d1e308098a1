"""Expectation suites as code (Great Expectations 1.x), one pair per table.

Each table's contract is two suites: `schema` (exact columns and their types) runs on a
small sample frame, and `rows` (the row-level expectations) runs on frames holding only the
columns it reads, a group of days at a time (quality/audit.py). GX's cost grows with every
column of the frame, and GX's SQL path on DuckDB is broken upstream (resolve_metric_bundle
IndexError), so pandas frames it is. Bump SUITE_VERSION when an expectation changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shop_pipeline.contracts import EVENT_COLUMNS, EVENT_TYPES
from shop_pipeline.quality.validator import SuiteDraft, expectations_module
from shop_pipeline.sql import ddl

SUITE_VERSION = "1"
NUMBER_PATTERN = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
ISO_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
RAW_COLUMNS = ddl.column_names("raw.events")  # partition_date, source_file, line, EVENT_COLUMNS, ingested_at
STAGING_COLUMNS = ddl.column_names("staging.events")
STAGING_AUDIT_COLUMNS = ("hours_after_partition_start", "product_in_catalog")
STAGING_TYPES = {
    "event_time": ("datetime64[ns]", "datetime64[us]"),
    "price": ("float64",),
    "quantity": ("int32", "int64"),
    "is_late": ("bool",),
    "line": ("int64",),
}


@dataclass(frozen=True)
class TableSuites:
    schema: Any  # gx.ExpectationSuite, validated on a sample of whole rows
    rows: Any  # gx.ExpectationSuite, validated on every row of the columns below
    row_columns: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.rows.name


def raw_events_suites(thresholds: dict[str, Any]) -> TableSuites:
    gxe = expectations_module()
    t = thresholds["raw_suite"]
    schema = SuiteDraft(f"raw_events_schema.v{SUITE_VERSION}")
    schema.add_expectation(gxe.ExpectTableColumnsToMatchSet(column_set=list(RAW_COLUMNS), exact_match=True))
    schema.add_expectation(gxe.ExpectColumnValuesToBeInTypeList(column="line", type_list=["int64", "int32"]))
    for column in EVENT_COLUMNS:
        schema.add_expectation(
            gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=["object", "str", "string"])
        )

    rows = SuiteDraft(f"raw_events.v{SUITE_VERSION}")
    for key in ("event_id", "user_id", "product_id"):
        rows.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=key, mostly=t["key_not_null_mostly"]))
    rows.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(
            column="event_type", value_set=list(EVENT_TYPES), mostly=t["event_type_known_mostly"]
        )
    )
    rows.add_expectation(
        gxe.ExpectColumnValuesToMatchRegex(column="price", regex=NUMBER_PATTERN, mostly=t["price_numeric_mostly"])
    )
    rows.add_expectation(
        gxe.ExpectColumnValuesToMatchRegex(
            column="event_time", regex=ISO_TIMESTAMP_PATTERN, mostly=t["event_time_iso_mostly"]
        )
    )
    return TableSuites(
        schema.build(), rows.build(), ("event_id", "user_id", "product_id", "event_type", "price", "event_time")
    )


def staging_events_suites(thresholds: dict[str, Any], check_catalog: bool) -> TableSuites:
    """The contract of published staging rows; check_catalog=False skips the catalog rule.

    Validated on frames from quality/audit.py, which adds two columns computed in DuckDB:
    hours_after_partition_start and product_in_catalog.
    """
    gxe = expectations_module()
    rules = thresholds["staging_rules"]
    t = thresholds["staging_suite"]
    schema = SuiteDraft(f"staging_events_schema.v{SUITE_VERSION}")
    schema.add_expectation(
        gxe.ExpectTableColumnsToMatchSet(column_set=[*STAGING_COLUMNS, *STAGING_AUDIT_COLUMNS], exact_match=True)
    )
    for column, types in STAGING_TYPES.items():
        schema.add_expectation(gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=list(types)))

    rows = SuiteDraft(f"staging_events.v{SUITE_VERSION}")
    rows.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="event_id", mostly=t["event_id_unique_mostly"]))
    for column in ("event_id", "event_time", "event_type", "user_id", "product_id", "price", "quantity"):
        rows.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    rows.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="event_type", value_set=list(EVENT_TYPES)))
    rows.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(column="price", min_value=0, max_value=float(rules["max_price"]))
    )
    rows.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(column="quantity", min_value=1, max_value=int(rules["max_quantity"]))
    )
    # The event time lies inside its partition's window (allowing late events and clock skew).
    rows.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="hours_after_partition_start",
            min_value=-24.0 * int(rules["max_lateness_days"]),
            max_value=24.0 + int(rules["future_tolerance_minutes"]) / 60.0,
            strict_max=True,
        )
    )
    if check_catalog:
        rows.add_expectation(
            gxe.ExpectColumnValuesToBeInSet(
                column="product_in_catalog", value_set=[True], mostly=t["product_in_catalog_mostly"]
            )
        )
    row_columns = (
        "event_id",
        "event_time",
        "event_type",
        "user_id",
        "product_id",
        "price",
        "quantity",
        "hours_after_partition_start",
        "product_in_catalog",
    )
    return TableSuites(schema.build(), rows.build(), row_columns)
