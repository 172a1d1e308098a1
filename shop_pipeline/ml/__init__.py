"""Pure model code (no Dagster): splits, forecast candidates, metrics, registry."""
