"""Product recommendations: interactions -> train -> gate -> top-20 per customer seen before the cut-off.

Groups: features (interactions), training, evaluation, scoring. The logic lives in
features/interactions.py and ml/recommendation/.
"""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from shop_pipeline.defs.common import DUCKDB_POOL, markdown_table
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
from shop_pipeline.features.interactions import write_interactions
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.html_report import write_html_report
from shop_pipeline.ml.common.lifecycle import SERVING_PARAMETER, champion_comparison, register_trained
from shop_pipeline.ml.common.plots import png_markdown
from shop_pipeline.ml.recommendation.candidates import (
    CATEGORY_POPULARITY,
    FALLBACK_CANDIDATE,
    GATE_METRIC,
    HIGHER_IS_BETTER,
    MODEL_NAME,
    SERVABLE,
    from_artifact,
    to_artifact,
)
from shop_pipeline.ml.recommendation.data import load_interactions
from shop_pipeline.ml.recommendation.evaluate import evaluate_model, recall_curves
from shop_pipeline.ml.recommendation.report import metrics_table_markdown, recall_curve_png
from shop_pipeline.ml.recommendation.score import TOP_K, recommendations_frame
from shop_pipeline.ml.recommendation.train import MEASURED, MIN_EVALUATED_CUSTOMERS, TEST_DAYS, UNMEASURED, train
from shop_pipeline.quality.interactions_suite import validate_interactions
from shop_pipeline.resources import ModelingWindow, ModelThreads, ShopHome, Warehouse
from shop_pipeline.warehouse.scores import replace_scores, unchanged_scores

REPORTED_METRICS = ("ndcg_at_10", "recall_at_10", "precision_at_10", "hit_rate_at_10", "coverage_at_20")
# what the training reads (ml/common/lifecycle.training_inputs): the tuning and held-out windows are
# computed from the staged events; unchanged, the registered version is reused
TRAINING_INPUTS = {"staging.events": "", "features.interactions": "", "raw.products": ""}
SCORES_TABLE = "scoring.recommendations"
SCORING_INPUTS = {"features.interactions": ""}
# registry parameters saying how a version was chosen: measured on the held-out window, or the
# unmeasured fallback of a shop too short to measure (train), and why
MODE_PARAMETER = "mode"
UNMEASURED_PARAMETER = "unmeasured_reason"


def _interactions_summary(con, as_of) -> dict:
    customers, products, purchases_only = con.execute(
        """SELECT count(DISTINCT customer_id), count(DISTINCT product_id),
                  coalesce(sum(views) + sum(carts), 0) = 0 FROM features.interactions"""
    ).fetchall()[0]
    return {"customers": customers, "products": products, "purchases_only": bool(purchases_only)}


interactions = audited_feature_asset(
    name="interactions",
    deps=["clean_events", "raw_products"],
    description=(
        "features.interactions: one row per customer and product as of the cut-off: views, carts, purchases, "
        "orders, and a weighted implicit signal (view 1, cart 3, purchase 5, halved every 30 days before the "
        "cut-off); products missing from a non-empty catalog are kept for similarity but never recommended."
    ),
    build=write_interactions,
    validate=validate_interactions,
    check_description="GX: keys not null and unique, counts >= 0, weight > 0, no interaction at or after the cut-off.",
    summarize=_interactions_summary,
    inputs={"staging.events": "", "raw.products": ""},
    queries=("interactions",),
)


@asset(
    group_name="training",
    kinds={"scipy", "duckdb"},
    owners=ML_TEAM,
    pool=DUCKDB_POOL,
    deps=["interactions"],
    description=(
        "Recommenders on a temporal split (train before the last 14 days, test on what each customer bought "
        "then): most-popular and item-kNN (sparse cosine) baselines, popularity within the customer's categories "
        "and EASE challengers (EASE's penalty and kNN's signal chosen on the 14 days before the held-out window); "
        "NDCG / recall / precision / hit rate / coverage at 10 and 20. The best is refit on every interaction up to "
        "the cut-off, saved with skops and registered with every comparison. When the data cannot measure a model "
        f"(no history before the held-out window, or fewer than {MIN_EVALUATED_CUSTOMERS} customers to evaluate) "
        "most-popular is registered unmeasured (mode 'unmeasured', the reason in one line): the gate cannot promote "
        "it, and scoring serves it marked unvalidated until a measured model becomes champion."
    ),
)
@skips_when_data_is_short
def recommendation_model(context: AssetExecutionContext, warehouse: Warehouse, window: ModelingWindow,
                         shop: ShopHome, model_threads: ModelThreads):
    with model_step(warehouse, window, model_threads) as (con, as_of):
        training = prepare_training(context, con, MODEL_NAME, tables=TRAINING_INPUTS, as_of=as_of,
                                    settings={"seed": window.seed},
                                    models_dir=shop.paths.models)
        if training.reusable is not None:
            return reused_result(con, training, reports=shop.paths.reports, as_of=as_of,
                                 metric_names=REPORTED_METRICS, extra=_registered_mode)
        run = train(con, as_of, load_interactions(con), seed=window.seed)
        if run.evaluation is not None:
            split = run.evaluation.split
            champion = champion_comparison(
                con, MODEL_NAME, split.split_day, CATEGORY_POPULARITY,
                lambda row: evaluate_model(from_artifact(registry.load_model(con, MODEL_NAME, row.version, models_dir=shop.paths.models)), split)[0],
            )
            measured_window, notes = (split.split_day, as_of), f"target {split.target_event}; {champion.note}"
            champion_metrics, champion_version = champion.metrics, champion.version
        else:
            context.log.warning(f"{run.unmeasured_reason}: serving {run.serving}, unmeasured")
            measured_window, notes = (as_of, as_of), f"unmeasured: {run.unmeasured_reason}"
            champion_metrics = champion_version = None
        trained = register_trained(
            con,
            models_dir=shop.paths.models,
            model_name=MODEL_NAME,
            artifact=to_artifact(run.model),
            parameters={"candidate": run.serving, "seed": window.seed, "test_days": TEST_DAYS, "top_k": TOP_K,
                        **{str(k): v for k, v in run.model.parameters.items()}, SERVING_PARAMETER: run.serving,
                        MODE_PARAMETER: run.mode, UNMEASURED_PARAMETER: run.unmeasured_reason or ""},
            features=["customer_id", "product_id", "weight", "category"],
            window=measured_window,
            train_start=None,
            train_end=as_of,
            as_of=as_of,
            metrics=run.metrics,
            champion_metrics=champion_metrics,
            champion_version=champion_version,
            notes=notes,
            training=training,
        )
    report = shop.paths.reports / f"{MODEL_NAME}-{trained.version}.html"
    title = f"Recommendations {trained.version} (as of {as_of})"
    metadata = {
        "model_version": trained.version,
        "serving_candidate": run.serving,
        "mode": run.mode,
        "as_of": as_of.isoformat(),
        **training_metadata(training),
    }
    if run.evaluation is None:
        write_html_report(report, title, [(
            "Not measured", f"{run.unmeasured_reason}.\n\nThis version serves **{run.serving}** unmeasured: the gate "
            "cannot promote it, and scoring serves it marked unvalidated while no measured model is champion.", None)])
        return MaterializeResult(metadata={**metadata, "unmeasured_reason": run.unmeasured_reason,
                                           "report": MetadataValue.path(str(report))})
    table = metrics_table_markdown(trained.metrics)
    png = recall_curve_png(recall_curves(run.evaluation))
    summary = run.evaluation.summary()
    write_html_report(
        report,
        title,
        [
            ("Held-out window", f"{summary['evaluated_users']} customers evaluated on their {summary['target_event']} "
             f"events after {summary['split_day']}; this version serves **{run.serving}**.\n\n{table}", None),
            ("Recall@K", "", png),
        ],
    )
    return MaterializeResult(metadata={
        **metadata,
        "champion_comparison": champion.note,
        "held_out": MetadataValue.json(summary),
        "metrics": MetadataValue.md(table),
        "recall_at_k": MetadataValue.md(png_markdown(png, "recall@K")),
        "report": MetadataValue.path(str(report)),
        **float_metrics(run.metrics[run.serving], REPORTED_METRICS),
    })


def _registered_mode(row) -> dict:
    """What a reused version recorded about how it was chosen (versions before modes: measured)."""
    mode = row.parameters.get(MODE_PARAMETER, MEASURED)
    reason = row.parameters.get(UNMEASURED_PARAMETER) or ""
    return {"mode": mode, **({"unmeasured_reason": reason} if mode == UNMEASURED else {})}


recommendation_champion = promotion_gate_asset(
    name="recommendation_champion", model_name=MODEL_NAME, training_asset="recommendation_model",
    servable=list(SERVABLE), references=[], metric=GATE_METRIC, higher_is_better=HIGHER_IS_BETTER,
    what="the recommender (a version trained where nothing could be measured is refused with a warning that does "
         "not block: scoring then serves it marked unvalidated)",
    unmeasured_mode=UNMEASURED,
)


def _recency_label(recency_days: int | None) -> str:
    if recency_days is None:
        return "every customer with an interaction before the cut-off"
    return f"customers with an interaction in the {recency_days} days before the cut-off"


@score_table_asset(
    table=SCORES_TABLE,
    champion="recommendation_champion",
    reads="interactions",
    kinds={"duckdb", "scipy"},
    description=(
        "scoring.recommendations: the top 20 products for every customer with any view, cart or purchase before "
        "the cut-off, lapsed customers included (run configuration window.recommendation_recency_days=N keeps only "
        "those seen in the N days before it), from the champion (loaded only when its SHA-256 matches the "
        "registry), computed in blocks of customers: already-bought products left out unless the category is "
        "bought repeatedly; a customer the model knows little about gets the popular products of their "
        "categories, then overall (reason says which). With no champion and a version that could not be "
        "measured (a new shop), that version's most-popular lists are written and the metadata says unvalidated."
    ),
)
@skips_when_data_is_short
def recommendations(context: AssetExecutionContext, warehouse: Warehouse, window: ModelingWindow,
                    shop: ShopHome, model_threads: ModelThreads):
    recency_days = window.recommendation_recency_days
    with model_step(warehouse, window, model_threads) as (con, as_of):
        current, validated = serving_version(context, con, MODEL_NAME, "recommendation_model", UNMEASURED)
        key = scoring_key(con, current, tables=SCORING_INPUTS, as_of=as_of, settings={"recency_days": recency_days})
        kept = unchanged_scores(con, SCORES_TABLE, key)
        if kept is not None:  # the model, its inputs and the window are unchanged: so are the lists
            rows, frame = kept, con.execute(f"SELECT customer_id, product_id, reason FROM {SCORES_TABLE}").df()
        else:
            model = from_artifact(registry.load_model(con, MODEL_NAME, current.version, models_dir=shop.paths.models))
            history = load_interactions(con)
            frame = recommendations_frame(model, history, as_of, current.version, recency_days=recency_days)
            rows = replace_scores(con, SCORES_TABLE, frame, inputs_key=key)
    reasons = frame.groupby("reason").size().rename("rows").reset_index()
    unmeasured = current.parameters.get(UNMEASURED_PARAMETER) or "nothing could be measured"
    return MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "model_version": current.version,
            "as_of": as_of.isoformat(),
            SCORES_REWRITTEN: kept is None,
            "validated": validated,
            "validation": "champion passed the gate" if validated else
            f"UNVALIDATED: {unmeasured}; serving {current.parameters.get(SERVING_PARAMETER, FALLBACK_CANDIDATE)} "
            "until a measured model becomes champion",
            "who": _recency_label(recency_days),
            "customers": int(frame["customer_id"].nunique()),
            "distinct_products": int(frame["product_id"].nunique()),
            "reasons": MetadataValue.md(markdown_table(reasons)),
        }
    )


RECOMMEND_ASSETS = [interactions, recommendation_model, recommendation_champion, recommendations]
