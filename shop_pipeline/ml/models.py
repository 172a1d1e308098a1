"""Every model, in the order the pipeline shows them: what iterates models reads this list.

Adding a model is one package under ml/ with its ModelSpec (ml/common/spec.py) and one line here;
the training, gate and score assets (defs/models.py), the drift measurement (ml/drift.py), the
serving snapshot (serving/snapshot.py), the API's model list and the run summary follow.
"""

from __future__ import annotations

from shop_pipeline.ml import demand_forecast, order_risk, propensity, recommendation
from shop_pipeline.ml.common.spec import ModelSpec

MODELS: list[ModelSpec] = [
    demand_forecast.SPEC,
    propensity.SPEC,
    recommendation.SPEC,
    order_risk.SPEC,
]


def model(name: str) -> ModelSpec:
    """The spec of the model registered as `name`."""
    for spec in MODELS:
        if spec.name == name:
            return spec
    raise KeyError(f"no model {name!r}; the models are {', '.join(spec.name for spec in MODELS)}")
