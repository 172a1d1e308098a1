"""Expectation suites as code (Great Expectations 1.x), one per table.

Suites validate one daily batch at a time as a pandas frame: GX's SQL path on DuckDB is
broken upstream (resolve_metric_bundle IndexError), and per-day frames keep memory bounded.
Bump SUITE_VERSION when an expectation changes, so results can be told apart over time.
"""

from __future__ import annotations

from typing import Any

from shop_pipeline.contracts import EVENT_COLUMNS, EVENT_TYPES

SUITE_VERSION = "1"
NUMBER_PATTERN = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
ISO_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
RAW_COLUMNS = ("partition_date", "source_file", "line", *EVENT_COLUMNS, "ingested_at")
STAGING_COLUMNS = (
    "partition_date", "event_id", "event_time", "event_type", "user_id", "session_id", "product_id",
    "category", "brand", "price", "quantity", "order_id", "is_late", "source_file", "line", "ingested_at",
)
STAGING_AUDIT_COLUMNS = ("hours_after_partition_start", "product_in_catalog")


def raw_events_suite(thresholds: dict[str, Any]):
    import great_expectations as gx
    import great_expectations.expectations as gxe

    from shop_pipeline.quality.validator import gx_context

    gx_context()

    t = thresholds["raw_suite"]
    suite = gx.ExpectationSuite(name=f"raw_events.v{SUITE_VERSION}")
    suite.add_expectation(gxe.ExpectTableColumnsToMatchSet(column_set=list(RAW_COLUMNS), exact_match=True))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInTypeList(column="line", type_list=["int64", "int32"]))
    for column in EVENT_COLUMNS:
        suite.add_expectation(gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=["object", "str", "string"]))
    for key in ("event_id", "user_id", "product_id"):
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=key, mostly=t["key_not_null_mostly"]))
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeInSet(column="event_type", value_set=list(EVENT_TYPES), mostly=t["event_type_known_mostly"])
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToMatchRegex(column="price", regex=NUMBER_PATTERN, mostly=t["price_numeric_mostly"])
    )
    suite.add_expectation(
        gxe.ExpectColumnValuesToMatchRegex(column="event_time", regex=ISO_TIMESTAMP_PATTERN, mostly=t["event_time_iso_mostly"])
    )
    return suite


def staging_events_suite(thresholds: dict[str, Any], check_catalog: bool):
    """The contract of published staging rows; check_catalog=False skips the catalog rule.

    Validated on frames from quality/audit.py, which adds two columns computed in DuckDB:
    hours_after_partition_start and product_in_catalog.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    from shop_pipeline.quality.validator import gx_context

    gx_context()
    rules = thresholds["staging_rules"]
    t = thresholds["staging_suite"]
    earliest_hours = -24.0 * int(rules["max_lateness_days"])
    latest_hours = 24.0 + int(rules["future_tolerance_minutes"]) / 60.0
    suite = gx.ExpectationSuite(name=f"staging_events.v{SUITE_VERSION}")
    suite.add_expectation(
        gxe.ExpectTableColumnsToMatchSet(column_set=[*STAGING_COLUMNS, *STAGING_AUDIT_COLUMNS], exact_match=True)
    )
    suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="event_id", mostly=t["event_id_unique_mostly"]))
    for column in ("event_id", "event_time", "event_type", "user_id", "product_id", "price", "quantity"):
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="event_type", value_set=list(EVENT_TYPES)))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="price", min_value=0, max_value=float(rules["max_price"])))
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="quantity", min_value=1, max_value=int(rules["max_quantity"])))
    # The event time lies inside its partition's window (allowing late events and clock skew).
    suite.add_expectation(
        gxe.ExpectColumnValuesToBeBetween(
            column="hours_after_partition_start", min_value=earliest_hours, max_value=latest_hours, strict_max=True
        )
    )
    if check_catalog:
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeInSet(
                column="product_in_catalog", value_set=[True], mostly=t["product_in_catalog_mostly"]
            )
        )
    return suite
