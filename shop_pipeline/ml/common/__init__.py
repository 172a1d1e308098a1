"""What every model shares (no Dagster): the ModelSpec and TrainingRun (spec), the registry, lifecycle
and promotion gate, metrics, PSI and the champions' drift references, time splits, the serving
snapshot's files, thread limits, plots and the HTML report."""
