"""Definition-time table schemas shown in the UI (dagster/column_schema)."""

from shop_pipeline.defs.common import table_schema

RAW_EVENTS = table_schema(
    [
        ("partition_date", "DATE", "day of the landed file (its partition)"),
        ("source_file", "VARCHAR", "path relative to the landing folder"),
        ("line", "BIGINT", "1-based data line in the file"),
        ("event_id", "VARCHAR", "as landed (text)"),
        ("event_time", "VARCHAR", "as landed (text)"),
        ("event_type", "VARCHAR", "as landed (text)"),
        ("user_id", "VARCHAR", "as landed (text)"),
        ("session_id", "VARCHAR", "as landed (text)"),
        ("product_id", "VARCHAR", "as landed (text)"),
        ("category", "VARCHAR", "as landed (text)"),
        ("brand", "VARCHAR", "as landed (text)"),
        ("price", "VARCHAR", "as landed (text)"),
        ("quantity", "VARCHAR", "as landed (text)"),
        ("order_id", "VARCHAR", "as landed (text)"),
        ("ingested_at", "TIMESTAMP", "first time these bytes were ingested (UTC)"),
    ]
)

CLEAN_EVENTS = table_schema(
    [
        ("partition_date", "DATE", "day of the landed file"),
        ("event_id", "VARCHAR", "unique per event"),
        ("event_time", "TIMESTAMP", "UTC"),
        ("event_type", "VARCHAR", "view | cart | remove_from_cart | purchase"),
        ("user_id", "VARCHAR", ""),
        ("session_id", "VARCHAR", ""),
        ("product_id", "VARCHAR", ""),
        ("category", "VARCHAR", ""),
        ("brand", "VARCHAR", ""),
        ("price", "DOUBLE", "unit price paid or shown"),
        ("quantity", "INTEGER", ">= 1"),
        ("order_id", "VARCHAR", "set on purchases"),
        ("is_late", "BOOLEAN", "event_time falls before the file's day"),
        ("source_file", "VARCHAR", "lineage: landed file"),
        ("line", "BIGINT", "lineage: 1-based data line"),
        ("ingested_at", "TIMESTAMP", "UTC"),
    ]
)

QUARANTINED_EVENTS = table_schema(
    [
        ("partition_date", "DATE", "day of the landed file"),
        ("source_file", "VARCHAR", "landed file"),
        ("line", "BIGINT", "1-based data line"),
        ("event_id", "VARCHAR", "when readable"),
        ("raw_record", "VARCHAR", "the line, or its fields as JSON"),
        ("reason_code", "VARCHAR", "first rule the row breaks"),
        ("reason", "VARCHAR", "the same, for a person"),
    ]
)

PRODUCTS = table_schema(
    [
        ("product_id", "VARCHAR", "catalog key"),
        ("name", "VARCHAR", ""),
        ("category", "VARCHAR", ""),
        ("brand", "VARCHAR", ""),
        ("base_price", "DOUBLE", "list price before promotions"),
        ("launched_on", "DATE", ""),
    ]
)
