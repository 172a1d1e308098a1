"""Order risk (fraud): chargeback labels -> order features -> train -> gate -> scores.

Groups: ingestion (order_labels), features (order_features), training, evaluation, scoring.
The logic lives in warehouse/order_labels.py, features/order_features.py and ml/order_risk/.
"""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from shop_pipeline.defs import schemas
from shop_pipeline.defs.common import (
    DATA_PLATFORM,
    DUCKDB_POOL,
    markdown_table,
)
from shop_pipeline.defs.features import audited_feature_asset
from shop_pipeline.defs.models_common import (
    ML_TEAM,
    SCORES_REWRITTEN,
    float_metrics,
    model_step,
    prepare_training,
    promotion_gate_asset,
    reused_result,
    score_table_asset,
    scoring_key,
    serving_version,
    skips_when_data_is_short,
    training_metadata,
)
from shop_pipeline.features.order_features import read_order_features, write_order_features
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.html_report import write_html_report
from shop_pipeline.ml.common.lifecycle import SERVING_PARAMETER, champion_comparison, register_trained
from shop_pipeline.ml.common.plots import png_markdown
from shop_pipeline.ml.order_risk.candidates import (
    CHALLENGER,
    GATE_METRIC,
    HIGHER_IS_BETTER,
    MODEL_NAME,
    REFERENCES,
    SERVABLE,
    candidate_parameters,
    from_artifact,
    to_artifact,
)
from shop_pipeline.ml.order_risk.evaluate import evaluate_fitted
from shop_pipeline.ml.order_risk.report import metrics_table_markdown, run_pngs
from shop_pipeline.ml.order_risk.score import SCORE_COLUMNS, score_orders
from shop_pipeline.ml.order_risk.train import metrics_rows, run_order_risk_frames
from shop_pipeline.quality.order_feature_suite import validate_order_features
from shop_pipeline.resources import ModelingWindow, ModelThreads, ShopHome, Warehouse
from shop_pipeline.warehouse.order_labels import LABELS_SUBFOLDER, known_labels_frame, load_order_labels
from shop_pipeline.warehouse.scores import read_scores, replace_scores, unchanged_scores

UNSUPERVISED = "unsupervised"
REPORTED_METRICS = ("pr_auc", "precision_at_1pct", "precision_at_5pct", "recall_at_budget")
# what the training reads (ml/common/lifecycle.training_inputs); unchanged, the registered version is reused
TRAINING_INPUTS = {"features.order_features": "", "raw.order_labels": ""}
SCORES_TABLE = "scoring.order_risk_scores"
SCORING_INPUTS = {"features.order_features": ""}


@asset(
    group_name="ingestion",
    kinds={"duckdb"},
    owners=DATA_PLATFORM,
    pool=DUCKDB_POOL,
    description=(
        "raw.order_labels: chargeback / fraud reports from landing/labels/*.csv (order_id, is_fraud, reported_on), "
        "replaced whole from the files present, in one transaction; every line that is not a label is in "
        "raw.order_label_rejects with its reason. No files: no labels (the risk model then runs unsupervised)."
    ),
    metadata=schemas.table_metadata("raw.order_labels"),
)
def order_labels(context: AssetExecutionContext, warehouse: Warehouse, shop: ShopHome):
    with warehouse.connection() as con:
        load = load_order_labels(con, shop.paths.landing / LABELS_SUBFOLDER)
        fraud, first, last = con.execute(
            "SELECT count(*) FILTER (WHERE is_fraud), min(reported_on), max(reported_on) FROM raw.order_labels"
        ).fetchall()[0]
    reasons = "\n".join(f"- {code}: {count:,}" for code, count in sorted(load.reasons.items())) or "_none_"
    return MaterializeResult(
        metadata={
            "dagster/row_count": load.rows,
            "files": len(load.files),
            "fraud_reports": int(fraud or 0),
            "reported": f"{first} .. {last}" if first else "no labels",
            "rejected_lines": load.rejected,
            "reject_reasons": MetadataValue.md(reasons),
        }
    )


def _order_features_summary(con, as_of) -> dict:
    customers, first, last, amount = con.execute(
        "SELECT count(DISTINCT customer_id), min(order_day), max(order_day), sum(amount) FROM features.order_features"
    ).fetchall()[0]
    return {"customers": customers, "days": f"{first} .. {last}", "amount": float(amount or 0)}


order_features = audited_feature_asset(
    name="order_features",
    deps=["clean_events"],
    description=(
        "features.order_features: one row per order before the cut-off, each measured only on what was known at "
        "that order: amount vs the customer's earlier orders (ratio, z-score), orders in the last hour / day, "
        "account age, cart-to-purchase time, session activity, unusual hour, first time in a category, basket shape."
    ),
    build=write_order_features,
    validate=validate_order_features,
    check_description="GX: keys not null and unique, counts >= 0, shares in [0, 1], no order at or after the cut-off.",
    summarize=_order_features_summary,
    inputs={"staging.events": ""},
    queries=("order_features",),
)


@asset(
    group_name="training",
    kinds={"sklearn", "duckdb"},
    owners=ML_TEAM,
    pool=DUCKDB_POOL,
    deps=["order_features", "order_labels"],
    description=(
        "Order risk: the amount z-score rule (reference), an IsolationForest (unsupervised) and a gradient-boosting "
        "classifier on the chargeback labels known by the cut-off, compared on the last labelled days (orders old "
        "enough for their chargebacks to have arrived). The best servable one is refit, saved with skops and "
        "registered with every comparison. Without labels the isolation forest is trained but cannot be measured."
    ),
)
@skips_when_data_is_short
def order_risk_model(context: AssetExecutionContext, warehouse: Warehouse, window: ModelingWindow, shop: ShopHome,
                     model_threads: ModelThreads):
    with model_step(warehouse, window, model_threads) as (con, as_of):
        training = prepare_training(context, con, MODEL_NAME, tables=TRAINING_INPUTS, as_of=as_of,
                                    settings={"seed": window.seed, "alert_budget": window.order_risk_alert_budget,
                                              "maturity_days": window.order_risk_label_maturity_days},
                                    models_dir=shop.paths.models)
        if training.reusable is not None:
            return reused_result(
                con, training, reports=shop.paths.reports, as_of=as_of, metric_names=REPORTED_METRICS,
                extra=lambda row: {"mode": row.parameters.get("mode", "unknown")},
            )
        run = run_order_risk_frames(read_order_features(con), known_labels_frame(con, as_of), as_of, seed=window.seed,
                                    alert_budget=window.order_risk_alert_budget,
                                    maturity_days=window.order_risk_label_maturity_days)
        champion = champion_comparison(
            con, MODEL_NAME, run.windows.eval_start, CHALLENGER,
            lambda row: evaluate_fitted(
                from_artifact(registry.load_model(con, MODEL_NAME, row.version, models_dir=shop.paths.models)), run.eval_frame, run.eval_labels
            ),
        )
        trained = register_trained(
            con,
            models_dir=shop.paths.models,
            model_name=MODEL_NAME,
            artifact=to_artifact(run.fitted),
            parameters={**candidate_parameters(run.chosen, window.seed), "alert_budget": run.alert_budget,
                        "mode": run.mode, SERVING_PARAMETER: run.chosen},
            features=list(run.fitted.columns),
            window=run.windows.eval_window,
            train_start=None,
            train_end=run.windows.label_cutoff,
            as_of=as_of,
            metrics=metrics_rows(run),
            champion_metrics=champion.metrics,
            champion_version=champion.version,
            notes=f"{run.note}; {champion.note}",
            training=training,
        )
    table = metrics_table_markdown(trained.metrics)
    pngs = run_pngs(run)
    report = shop.paths.reports / f"{MODEL_NAME}-{trained.version}.html"
    write_html_report(
        report,
        f"Order risk {trained.version} (as of {as_of})",
        [
            ("Comparison", f"{run.note}\n\nThis version serves **{run.chosen}** ({run.mode}).\n\n{table}", None),
            ("Precision-recall on the held-out days", "", pngs["precision_recall"]),
        ],
    )
    metadata = {
        "model_version": trained.version,
        "serving_candidate": run.chosen,
        "mode": run.mode,
        "as_of": as_of.isoformat(),
        **training_metadata(training),
        "held_out_window": f"{run.windows.eval_window[0]} .. {run.windows.eval_window[1]}",
        "labelled_orders": run.labelled_orders,
        "champion_comparison": champion.note,
        "note": run.note,
        "metrics": MetadataValue.md(table),
        "precision_recall": MetadataValue.md(png_markdown(pngs["precision_recall"], "precision-recall")),
        "report": MetadataValue.path(str(report)),
        **float_metrics(trained.metrics.get(run.chosen, {}), REPORTED_METRICS),
    }
    return MaterializeResult(metadata=metadata)


order_risk_champion = promotion_gate_asset(
    name="order_risk_champion", model_name=MODEL_NAME, training_asset="order_risk_model",
    servable=list(SERVABLE), references=list(REFERENCES), metric=GATE_METRIC,
    higher_is_better=HIGHER_IS_BETTER, unmeasured_mode=UNSUPERVISED,
    what="the order-risk model (without chargeback labels nothing can be measured: the check then fails as a "
         "warning that does not block, and scoring uses the unvalidated isolation forest, saying so)",
)


@score_table_asset(
    table=SCORES_TABLE,
    champion="order_risk_champion",
    reads="order_features",
    kinds={"duckdb", "sklearn"},
    description=(
        "scoring.order_risk_scores: every order before the cut-off scored by the champion: risk_score (higher is "
        "riskier), flagged (within the alert budget), the top contributing features of flagged orders, "
        "model_version, features_hash (a fingerprint of the scored inputs: orders already scored by this model "
        "version with the same inputs keep their score and explanation, so a daily run scores only new orders), "
        "as_of. With no champion and no labels, the unvalidated isolation forest scores, and the "
        "metadata says so."
    ),
)
@skips_when_data_is_short
def order_risk_scores(context: AssetExecutionContext, warehouse: Warehouse, window: ModelingWindow,
                      shop: ShopHome, model_threads: ModelThreads):
    with model_step(warehouse, window, model_threads) as (con, as_of):
        current, validated = serving_version(context, con, MODEL_NAME, "order_risk_model", UNSUPERVISED)
        key = scoring_key(con, current, tables=SCORING_INPUTS, as_of=as_of)
        kept = unchanged_scores(con, SCORES_TABLE, key)
        if kept is not None:  # the model and its inputs are unchanged: so are the scores
            rows, scores = kept, read_scores(con, SCORES_TABLE, SCORE_COLUMNS)
            scores.attrs["scored_anew"] = 0
        else:
            fitted = from_artifact(registry.load_model(con, MODEL_NAME, current.version, models_dir=shop.paths.models))
            previous = read_scores(con, SCORES_TABLE, SCORE_COLUMNS)
            scores = score_orders(fitted, read_order_features(con), as_of, current.version, previous=previous)
            rows = replace_scores(con, SCORES_TABLE, scores, inputs_key=key)
    top = scores.sort_values("risk_score", ascending=False).head(10)
    return MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "model_version": current.version,
            "orders_scored_anew": scores.attrs["scored_anew"],
            SCORES_REWRITTEN: kept is None,
            "validated": validated,
            "validation": "champion passed the gate" if validated else
            "UNVALIDATED: no chargeback labels to measure the isolation forest; land them in landing/labels",
            "as_of": as_of.isoformat(),
            "flagged": int(scores["flagged"].sum()),
            "flagged_share": float(scores["flagged"].mean()) if len(scores) else 0.0,
            "riskiest_orders": MetadataValue.md(markdown_table(top[["order_id", "customer_id", "risk_score", "top_features"]])),
        }
    )


RISK_ASSETS = [order_labels, order_features, order_risk_model, order_risk_champion, order_risk_scores]
