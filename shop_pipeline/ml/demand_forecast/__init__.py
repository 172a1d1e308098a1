"""Demand forecast: units per product per day over the next 14 days, with an 80% interval.

data: the product x day panel and feature rows; candidates: seasonal-naive, linear, boosted
challenger, by_segment and their intervals (fitting: how they are fitted); statistical: the per-series
family (last value, window means, damped ETS, Croston, TSB, ADIDA) and the demand segments; train: the training run (the
rolling-origin backtest, the choice, the final fit); evaluate: the backtest, a saved model on the
same folds, drift; score: the served forecast; report: plots and the run's report; online: the
serving snapshot's part and the online predictor.
"""

from shop_pipeline.ml.common.spec import ModelSpec
from shop_pipeline.ml.demand_forecast import evaluate, online, report, score, spark_score, train
from shop_pipeline.ml.demand_forecast.candidates import (
    CANDIDATES,
    GATE_METRIC,
    HIGHER_IS_BETTER,
    METRICS,
    MODEL_NAME,
    FittedForecaster,
)
from shop_pipeline.sql import ddl

SCORE_TABLE = "scoring.demand_forecasts"

SPEC = ModelSpec(
    name=MODEL_NAME,
    title="Demand forecast",
    gate_metric=GATE_METRIC,
    higher_is_better=HIGHER_IS_BETTER,
    candidates=CANDIDATES,
    servable=CANDIDATES,
    references=(),
    default_candidate="challenger",
    reported_metrics=METRICS,
    artifact=FittedForecaster,
    # what the training reads (ml/common/lifecycle.training_inputs): unchanged, the registered version is reused
    training_inputs={
        "staging.events": "",
        "raw.products": "",
        "raw.promotions": "",
        "raw.ad_spend": "",
        "features.product_daily_sales": "",
    },
    training_settings=lambda s: {"horizon_days": s.forecast_horizon_days, "seed": s.seed},
    train=train.training_run,
    evaluate_saved=evaluate.evaluate_saved,
    report=report.training_report,
    score_table=SCORE_TABLE,
    scoring_inputs={
        "features.product_daily_sales": "",
        "staging.events": "",
        "raw.products": "",
        "raw.promotions": "",
        "raw.ad_spend": "",
    },
    # the table's columns too: scores kept from a version of the table without `expected` are not the same
    scoring_settings=lambda s: {"horizon_days": s.forecast_horizon_days, "columns": ddl.column_names(SCORE_TABLE)},
    score=score.score_table,
    score_on_spark=spark_score.plan,
    describe_scores=score.describe_scores,
    kept_columns=("day", "p10", "p50", "p90", "expected"),
    drift_features=evaluate.DRIFT_FEATURES,
    drift=evaluate.drift,
    snapshot_export=online.export_demand,
    online=online.DemandPredictor,
    training_upstream=("product_daily_sales",),
    scoring_upstream="product_daily_sales",
    drift_upstream=("product_daily_sales",),
    kind="sklearn",
    training_description=(
        "Demand forecast per product and day: a rolling-origin backtest (3 folds over the last weeks before the "
        "cut-off) of seasonal-naive, the statistical family (last value, 7 / 28 / 56-day means, damped-trend "
        "exponential smoothing, Croston, TSB, ADIDA), a linear regression baseline, a gradient-boosting challenger "
        "and by_segment (per demand segment, the candidate that forecast it best), each with an 80% "
        "interval, each fold forecasting the future frame serving would have built on its origin (last price seen, "
        "planned promotions, planned or recent ad spend); the model is refit up to the cut-off, saved with skops and "
        "registered with every comparison (the current champion included, on the same folds); it serves the "
        "candidate with the best backtest WAPE."
    ),
    gate_description="the demand forecast (backtest WAPE)",
    scoring_description=(
        "scoring.demand_forecasts: units per product for each of the next forecast_horizon_days after the cut-off, "
        "p10 / p50 / p90 (80% interval) and expected (p50 x the level factor learned on the backtest: the numbers "
        "to sum for totals), from the champion (loaded only when its SHA-256 matches the registry)."
    ),
)
