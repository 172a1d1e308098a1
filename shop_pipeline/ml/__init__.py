"""Pure model code (no Dagster): one package per model, named as its registry name, the same modules in
each and its ModelSpec in its __init__.py.

demand_forecast/, propensity/, recommendation/, order_risk/: data, candidates, train, evaluate, score,
report (and the model's own metrics, estimators or online code); models.py: MODELS, every model's
spec; drift.py: every model's drift; common/: what they share.
"""
