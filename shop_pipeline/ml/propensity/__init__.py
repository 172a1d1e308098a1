"""Purchase propensity and customer value: will a customer buy in the next h days (churn risk =
1 - p), how many orders and how much spend.

data: windows and labelled frames; candidates: RFM logistic, BG/NBD, MBG/NBD (bgnbd, mbgnbd),
calibrated boosting, value models (gamma_gamma); train: the run; evaluate, metrics: held-out
measurements, a saved model on the same window, drift; score: customer scores and segments;
report: plots, tables and the run's report.
"""

from shop_pipeline.ml.common.spec import ModelSpec
from shop_pipeline.ml.propensity import evaluate, report, score, train
from shop_pipeline.ml.propensity.candidates import (
    CANDIDATES,
    CHALLENGER,
    GATE_METRIC,
    HIGHER_IS_BETTER,
    MODEL_NAME,
    PROBABILISTIC,
    RANDOM,
    REPORTED_METRICS,
    SERVABLE,
    FittedPropensity,
    competed_candidates,
)

SPEC = ModelSpec(
    name=MODEL_NAME,
    title="Purchase propensity",
    gate_metric=GATE_METRIC,
    higher_is_better=HIGHER_IS_BETTER,
    candidates=CANDIDATES,
    servable=SERVABLE,
    references=(RANDOM,),
    default_candidate=CHALLENGER,
    reported_metrics=REPORTED_METRICS,
    artifact=FittedPropensity,
    # features at earlier cut-offs and labels come from the staged events; unchanged, the version is reused
    training_inputs={"staging.events": "", "features.customer_features": ""},
    training_settings=lambda s: {"horizon_days": s.propensity_horizon_days, "seed": s.seed},
    sampled_by_customer=True,
    fits_counts=True,
    train=train.training_run,
    evaluate_saved=evaluate.evaluate_saved,
    report=report.training_report,
    score_table="scoring.customer_scores",
    scoring_inputs={"features.customer_features": ""},
    score=score.score_table,
    describe_scores=score.describe_scores,
    score_rows=score.score_customers,
    competing=competed_candidates,
    drift_features=evaluate.DRIFT_FEATURES,
    drift=evaluate.drift,
    training_upstream=("customer_features",),
    scoring_upstream="customer_features",
    drift_upstream=("customer_features",),
    kind="sklearn",
    training_description=(
        "Purchase propensity and customer value. p_purchase: logistic regression on RFM (baseline), BG/NBD and "
        "MBG/NBD (fitted on the purchase history alone), calibrated gradient boosting (challenger) and a random "
        "reference, compared on the held-out window before the cut-off (ROC-AUC); the supervised candidates compete "
        "only when a labelled training window of the horizon fits in the history and holds enough customers, else "
        "the probabilistic models serve from the classic calibration / holdout set-up. expected_orders / "
        "expected_spend: hurdle, BG/NBD or MBG/NBD with Gamma-Gamma spend per order, chosen on orders RMSE (MAE, "
        "total error %, buys-again AUC reported). Refit, saved with skops and registered in ml.model_registry "
        "with every comparison in ml.model_evaluations (the current champion included, on the same window)."
    ),
    gate_description=(
        f"the propensity model ({', '.join(SERVABLE)} compete with a labelled training window, "
        f"{', '.join(PROBABILISTIC)} without one)"
    ),
    scoring_description=(
        "scoring.customer_scores: every customer as of the cut-off scored by the champion (loaded only when its "
        "SHA-256 matches the registry): p_purchase, churn_risk = 1 - p, expected orders and spend over the horizon, "
        "segment, model_version, as_of."
    ),
)
