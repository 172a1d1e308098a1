"""Pure model code (no Dagster): one package per model, the same modules in each.

forecast/, propensity/, recommend/, order_risk/: data, candidates, train, evaluate, score, report
(and the model's own metrics or estimators); common/: registry, lifecycle and promotion gate,
metrics, drift, splits, threads, plots and the HTML report.
"""
