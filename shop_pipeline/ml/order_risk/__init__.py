"""Order risk (fraud): score each order and flag the riskiest within an alert budget.

data: labels and windows; candidates: the z-score rule, isolation forest, boosted classifier;
train: evaluate them (evaluate, metrics) and refit the served one; score: risk scores and
explanations; report: plots, tables and the run's report; online, order_history: the serving
snapshot's part and one order scored online.
"""

from shop_pipeline.ml.common.spec import ModelSpec
from shop_pipeline.ml.order_risk import evaluate, online, report, score, train
from shop_pipeline.ml.order_risk.candidates import (
    CANDIDATES,
    CHALLENGER,
    GATE_METRIC,
    HIGHER_IS_BETTER,
    MODEL_NAME,
    REFERENCES,
    REPORTED_METRICS,
    SERVABLE,
    UNSUPERVISED,
    FittedOrderRisk,
)
from shop_pipeline.ml.order_risk.score import SCORE_COLUMNS

SPEC = ModelSpec(
    name=MODEL_NAME,
    title="Order risk",
    gate_metric=GATE_METRIC,
    higher_is_better=HIGHER_IS_BETTER,
    candidates=CANDIDATES,
    servable=SERVABLE,
    references=REFERENCES,
    default_candidate=CHALLENGER,
    reported_metrics=REPORTED_METRICS,
    artifact=FittedOrderRisk,
    training_inputs={"features.order_features": "", "raw.order_labels": ""},
    training_settings=lambda s: {
        "seed": s.seed,
        "alert_budget": s.order_risk_alert_budget,
        "maturity_days": s.order_risk_label_maturity_days,
    },
    sampled_by_customer=True,
    train=train.training_run,
    evaluate_saved=evaluate.evaluate_saved,
    report=report.training_report,
    score_table="scoring.order_risk_scores",
    scoring_inputs={"features.order_features": ""},
    score=score.score_table,
    describe_scores=score.describe_scores,
    score_rows=score.score_rows,
    kept_columns=SCORE_COLUMNS,
    unmeasured_mode=UNSUPERVISED,
    reused_shown=lambda row: {"mode": row.parameters.get("mode", "unknown")},
    drift_features=evaluate.DRIFT_FEATURES,
    drift=evaluate.drift,
    snapshot_export=online.export_order_risk,
    online=online.OrderRiskScorer,
    training_upstream=("order_features", "order_labels"),
    scoring_upstream="order_features",
    kind="sklearn",
    training_description=(
        "Order risk: the amount z-score rule (reference), an IsolationForest (unsupervised) and a gradient-boosting "
        "classifier on the chargeback labels known by the cut-off, compared on the last labelled days (orders old "
        "enough for their chargebacks to have arrived). The best servable one is refit, saved with skops and "
        "registered with every comparison. Without labels the isolation forest is trained but cannot be measured."
    ),
    gate_description=(
        "the order-risk model (without chargeback labels nothing can be measured: the check then fails "
        "as a warning that does not block, and scoring uses the unvalidated isolation forest, saying so)"
    ),
    scoring_description=(
        "scoring.order_risk_scores: every order before the cut-off scored by the champion: risk_score (higher is "
        "riskier), flagged (within the alert budget), the top contributing features of flagged orders, "
        "model_version, features_hash (a fingerprint of the scored inputs: orders already scored by this model "
        "version with the same inputs keep their score and explanation, so a daily run scores only new orders), "
        "as_of. With no champion and no labels, the unvalidated isolation forest scores, and the "
        "metadata says so."
    ),
)
