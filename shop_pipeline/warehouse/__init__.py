"""Plain DuckDB logic of the ingestion and staging stages (no Dagster imports)."""
