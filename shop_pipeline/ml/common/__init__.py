"""What the four models share: the registry, lifecycle and promotion gate, metrics, drift,
time splits, thread limits, plots and the HTML report (no Dagster)."""
