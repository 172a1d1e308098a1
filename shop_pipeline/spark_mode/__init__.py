"""The Spark engine's side of the pipeline's steps (docs/cluster.md)."""
