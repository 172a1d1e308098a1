"""Where the tables live and what computes them: DuckDB on one machine (the default) or Spark on
a cluster with the tables as Parquet on a lake (docs/cluster.md)."""
