"""Point-in-time feature tables built in DuckDB (no Dagster imports)."""
