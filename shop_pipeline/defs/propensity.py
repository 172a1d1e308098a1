"""Purchase propensity and customer value: train -> evaluate and gate -> score (groups training, evaluation,
scoring). The model code is ml/propensity/."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from shop_pipeline.defs.common import DUCKDB_POOL, markdown_table
from shop_pipeline.defs.models_common import (
    ML_TEAM,
    SCORES_REWRITTEN,
    float_metrics,
    model_step,
    prepare_training,
    promotion_gate_asset,
    require_champion,
    reused_result,
    score_table_asset,
    scoring_key,
    skips_when_data_is_short,
    training_metadata,
)
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.html_report import write_html_report
from shop_pipeline.ml.common.lifecycle import SERVING_PARAMETER, champion_comparison, register_trained
from shop_pipeline.ml.common.plots import png_markdown
from shop_pipeline.ml.propensity.candidates import (
    CHALLENGER,
    MODEL_NAME,
    PROBABILISTIC,
    RANDOM,
    SERVABLE,
    FittedPropensity,
    candidate_parameters,
)
from shop_pipeline.ml.propensity.evaluate import evaluate_fitted
from shop_pipeline.ml.propensity.report import metrics_table_markdown, propensity_report_sections
from shop_pipeline.ml.propensity.score import score_customers
from shop_pipeline.ml.propensity.train import metrics_rows, run_propensity
from shop_pipeline.resources import ModelingWindow, ModelThreads, ShopHome, Warehouse
from shop_pipeline.warehouse.scores import replace_scores, unchanged_scores

GATE_METRIC = "roc_auc"
REPORTED_METRICS = ("roc_auc", "pr_auc", "brier", "lift_at_top_decile", "f1", "orders_mae", "orders_rmse",
                    "orders_total_error_pct", "orders_buys_again_auc")
# registry parameter: the servable candidates that competed in a version (the supervised ones do
# not when the history holds no labelled training window; the gate compares with those that did)
COMPETED_PARAMETER = "competed_candidates"
VALUE_PARAMETER = "value_candidate"
# what the training reads (ml/common/lifecycle.training_inputs): features at earlier cut-offs and labels
# come from the staged events; unchanged, the registered version is reused
TRAINING_INPUTS = {"staging.events": "", "features.customer_features": ""}
SCORES_TABLE = "scoring.customer_scores"
SCORING_INPUTS = {"features.customer_features": ""}


@asset(
    group_name="training",
    kinds={"sklearn", "duckdb"},
    owners=ML_TEAM,
    pool=DUCKDB_POOL,
    deps=["customer_features"],
    description=(
        "Purchase propensity and customer value. p_purchase: logistic regression on RFM (baseline), BG/NBD and "
        "MBG/NBD (fitted on the purchase history alone), calibrated gradient boosting (challenger) and a random "
        "reference, compared on the held-out window before the cut-off (ROC-AUC); the supervised candidates compete "
        "only when a labelled training window of the horizon fits in the history and holds enough customers, else "
        "the probabilistic models serve from the classic calibration / holdout set-up. expected_orders / "
        "expected_spend: hurdle, BG/NBD or MBG/NBD with Gamma-Gamma spend per order, chosen on orders RMSE (MAE, "
        "total error %, buys-again AUC reported). Refit, saved with skops and registered in ml.model_registry "
        "with every comparison in ml.model_evaluations (the current champion included, on the same window)."
    ),
)
@skips_when_data_is_short
def propensity_model(context: AssetExecutionContext, warehouse: Warehouse, window: ModelingWindow, shop: ShopHome,
                     model_threads: ModelThreads):
    with model_step(warehouse, window, model_threads) as (con, as_of):
        training = prepare_training(context, con, MODEL_NAME, tables=TRAINING_INPUTS, as_of=as_of,
                                    settings={"horizon_days": window.propensity_horizon_days, "seed": window.seed},
                                    models_dir=shop.paths.models)
        if training.reusable is not None:
            return reused_result(con, training, reports=shop.paths.reports, as_of=as_of,
                                 metric_names=REPORTED_METRICS)
        run = run_propensity(con, as_of, horizon_days=window.propensity_horizon_days, seed=window.seed)
        plan = run.plan
        champion = champion_comparison(
            con, MODEL_NAME, plan.eval_label_window[0], CHALLENGER,
            lambda row: evaluate_fitted(
                FittedPropensity.from_artifact(registry.load_model(con, MODEL_NAME, row.version, models_dir=shop.paths.models)),
                run.test_frame, plan.eval_horizon_days,
            ),
        )
        parameters = {
            **candidate_parameters(run.chosen, window.seed, len(run.test_frame)),
            "horizon_days": window.propensity_horizon_days,
            SERVING_PARAMETER: run.chosen,
            COMPETED_PARAMETER: run.evaluated_candidates,
            VALUE_PARAMETER: run.value_chosen,
            "window_mode": plan.mode,
        }
        trained = register_trained(
            con,
            models_dir=shop.paths.models,
            model_name=MODEL_NAME,
            artifact=run.fitted.to_artifact(),
            parameters=parameters,
            features=list(run.fitted.columns),
            window=plan.eval_label_window,
            train_start=plan.data_start,
            train_end=plan.eval_label_window[1],
            as_of=as_of,
            metrics=metrics_rows(run),
            champion_metrics=champion.metrics,
            champion_version=champion.version,
            notes=f"{plan.note}; {champion.note}",
            training=training,
        )
    sections, pngs = propensity_report_sections(run, seed=window.seed)
    report = shop.paths.reports / f"{MODEL_NAME}-{trained.version}.html"
    write_html_report(report, f"Purchase propensity {trained.version} (as of {as_of})", sections)
    challenger = trained.metrics[run.chosen]
    metadata = {
        "model_version": trained.version,
        "serving_candidate": run.chosen,
        "value_model": run.value_chosen,
        "competed_candidates": ", ".join(run.evaluated_candidates),
        "as_of": as_of.isoformat(),
        "window_mode": plan.mode,
        "windows": plan.note,
        **training_metadata(training),
        "champion_comparison": champion.note,
        "held_out_window": f"{plan.eval_label_window[0]} .. {plan.eval_label_window[1]}",
        "report": MetadataValue.path(str(report)),
        "metrics": MetadataValue.md(metrics_table_markdown(trained.metrics)),
        "calibration": MetadataValue.md(png_markdown(pngs["calibration"], "calibration")),
        "lift": MetadataValue.md(png_markdown(pngs["lift"], "lift")),
        "feature_importance": MetadataValue.md(png_markdown(pngs["feature_importance"], "feature importance")),
        **float_metrics(challenger, REPORTED_METRICS),
    }
    return MaterializeResult(metadata=metadata)


def competed_candidates(row) -> list[str]:
    """The servable candidates that competed in version `row` (every servable one for versions
    registered before the calibration / holdout set-up, which recorded none)."""
    competed = row.parameters.get(COMPETED_PARAMETER) if row is not None else None
    return [c for c in SERVABLE if c in competed] if competed else list(SERVABLE)


propensity_champion = promotion_gate_asset(
    name="propensity_champion", model_name=MODEL_NAME, training_asset="propensity_model",
    servable=list(SERVABLE), references=[RANDOM], metric=GATE_METRIC, higher_is_better=True,
    what=(f"the propensity model ({', '.join(SERVABLE)} compete with a labelled training window, "
          f"{', '.join(PROBABILISTIC)} without one)"),
    competing=competed_candidates,
)


@score_table_asset(
    table="scoring.customer_scores",
    champion="propensity_champion",
    reads="customer_features",
    kinds={"duckdb", "sklearn"},
    description=(
        "scoring.customer_scores: every customer as of the cut-off scored by the champion (loaded only when its "
        "SHA-256 matches the registry): p_purchase, churn_risk = 1 - p, expected orders and spend over the horizon, "
        "segment, model_version, as_of."
    ),
)
@skips_when_data_is_short
def customer_scores(context: AssetExecutionContext, warehouse: Warehouse, window: ModelingWindow,
                    shop: ShopHome, model_threads: ModelThreads):
    with model_step(warehouse, window, model_threads) as (con, as_of):
        current = require_champion(con, MODEL_NAME)
        key = scoring_key(con, current, tables=SCORING_INPUTS, as_of=as_of)
        kept = unchanged_scores(con, SCORES_TABLE, key)
        if kept is not None:  # the champion and its inputs are unchanged: so are the scores
            rows, scores = kept, con.execute(f"SELECT * FROM {SCORES_TABLE}").df()
        else:
            fitted = FittedPropensity.from_artifact(registry.load_model(con, MODEL_NAME, current.version, models_dir=shop.paths.models))
            features = con.execute("SELECT * FROM features.customer_features").df()
            scores = score_customers(fitted, features, as_of, current.version)
            rows = replace_scores(con, SCORES_TABLE, scores, inputs_key=key)
    segments = scores.groupby("segment").agg(customers=("customer_id", "size"), mean_p=("p_purchase", "mean"))
    return MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "model_version": current.version,
            "as_of": as_of.isoformat(),
            SCORES_REWRITTEN: kept is None,
            "mean_p_purchase": float(scores["p_purchase"].mean()),
            "expected_spend_total": float(scores["expected_spend"].sum()),
            "segments": MetadataValue.md(markdown_table(segments.reset_index().round(3))),
        }
    )
