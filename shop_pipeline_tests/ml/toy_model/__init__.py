"""The toy fifth model: its package (model.py, its score table's DDL) and this spec are all it takes."""

from pathlib import Path

from shop_pipeline.ml.common.spec import ModelSpec
from shop_pipeline_tests.ml.toy_model import model

SPEC = ModelSpec(
    name=model.MODEL_NAME,
    title="Toy basket value",
    gate_metric=model.GATE_METRIC,
    higher_is_better=False,
    candidates=model.CANDIDATES,
    servable=model.CANDIDATES,
    references=(),
    default_candidate=model.CUSTOMER_MEAN,
    reported_metrics=(model.GATE_METRIC,),
    artifact=model.BasketValueModel,
    training_inputs={"features.customer_features": ""},
    train=model.training_run,
    evaluate_saved=model.evaluate_saved,
    report=model.report,
    score_table="scoring.toy_basket_values",
    score_ddl=Path(__file__).with_name("scoring.toy_basket_values.sql"),
    scoring_inputs={"features.customer_features": ""},
    score=model.score,
    describe_scores=model.describe_scores,
    training_upstream=("customer_features",),
    scoring_upstream="customer_features",
    training_description="A toy: each customer's next order value (their own average, or the shop's).",
    gate_description="the toy basket value (MAE)",
    scoring_description="scoring.toy_basket_values: every customer's expected next order value.",
)
