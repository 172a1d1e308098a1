"""The Spark engine's side of the pipeline's steps (docs/cluster.md); `steps.py` picks the ingestion and
staging steps by engine, the feature and score assets pick theirs at the top of their bodies."""
