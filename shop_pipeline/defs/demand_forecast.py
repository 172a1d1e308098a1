"""Demand forecast: backtest and train -> gate -> 14-day forecasts (groups training, evaluation, scoring).
The model code is ml/demand_forecast/."""

import datetime as dt

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from shop_pipeline.defs.common import DUCKDB_POOL, markdown_table
from shop_pipeline.defs.models_common import (
    ML_TEAM,
    SCORES_REWRITTEN,
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
from shop_pipeline.features.tables import (
    future_frames_as_known_at,
    future_product_days_frame,
    product_daily_sales_frame,
    read_product_daily_sales,
)
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.html_report import write_html_report
from shop_pipeline.ml.common.lifecycle import (
    SERVING_PARAMETER,
    champion_comparison,
    register_trained,
    serving_candidate,
)
from shop_pipeline.ml.common.plots import png_markdown
from shop_pipeline.ml.common.promotion import select_serving
from shop_pipeline.ml.common.splits import rolling_origin_folds
from shop_pipeline.ml.demand_forecast.candidates import CANDIDATES, MODEL_NAME, from_artifact, to_artifact
from shop_pipeline.ml.demand_forecast.data import HISTORY_COLUMNS, SERVING_HISTORY_DAYS
from shop_pipeline.ml.demand_forecast.evaluate import backtest, backtest_saved_model
from shop_pipeline.ml.demand_forecast.report import plot_categories, plot_top_products, plot_wape_by_horizon
from shop_pipeline.ml.demand_forecast.score import forecast
from shop_pipeline.ml.demand_forecast.train import fit_forecaster
from shop_pipeline.resources import ModelingWindow, ModelThreads, ShopHome, Warehouse
from shop_pipeline.warehouse.scores import replace_scores, unchanged_scores

GATE_METRIC = "wape"
BACKTEST_FOLDS = 3
METRICS = ("wape", "mae", "rmse", "bias", "coverage_80")
# what the training reads (ml/common/lifecycle.training_inputs): unchanged, the registered version is reused
TRAINING_INPUTS = {"staging.events": "", "raw.products": "", "raw.promotions": "",
                   "raw.ad_spend": "", "features.product_daily_sales": ""}
SCORES_TABLE = "scoring.demand_forecasts"
# what the forecast assumes about the coming days (sql/future_product_days.sql), shown in the UI
FUTURE_ASSUMPTIONS = (
    "price: median of each product's last 5 prices paid before the cut-off (its promotion taken off), x (1 - the "
    "planned discount in raw.promotions); ad spend: the plan in raw.ad_spend, else the category's mean daily spend "
    "over the last 28 days"
)
SCORING_INPUTS = {"features.product_daily_sales": "", "staging.events": "",
                  "raw.products": "", "raw.promotions": "", "raw.ad_spend": ""}


def _training_history(con, as_of: dt.date):
    """The product-day grid up to as_of: the audited features.product_daily_sales when it runs to
    as_of (the same rows as the query, read instead of computed again), else computed."""
    try:
        return read_product_daily_sales(con, as_of, dt.date.min)
    except ValueError:  # the table is for another cut-off
        return product_daily_sales_frame(con, as_of)


def _metrics_by_candidate(result) -> dict[str, dict[str, float]]:
    overall = result.overall()
    return {candidate: {m: float(overall.loc[candidate, m]) for m in METRICS} for candidate in overall.index}


@asset(
    group_name="training",
    kinds={"sklearn", "duckdb"},
    owners=ML_TEAM,
    pool=DUCKDB_POOL,
    deps=["product_daily_sales"],
    description=(
        "Demand forecast per product and day: a rolling-origin backtest (3 folds over the last weeks before the "
        "cut-off) of seasonal-naive, the brief's linear regression and a gradient-boosting challenger with an 80% "
        "interval, each fold forecasting the future frame serving would have built on its origin (last price seen, "
        "planned promotions, planned or recent ad spend); the model is refit up to the cut-off, saved with skops and "
        "registered with every comparison (the current champion included, on the same folds); it serves the "
        "candidate with the best backtest WAPE."
    ),
)
@skips_when_data_is_short
def demand_forecast_model(context: AssetExecutionContext, warehouse: Warehouse, window: ModelingWindow, shop: ShopHome,
                          model_threads: ModelThreads):
    horizon = window.forecast_horizon_days
    with model_step(warehouse, window, model_threads) as (con, as_of):
        training = prepare_training(context, con, MODEL_NAME, tables=TRAINING_INPUTS, as_of=as_of,
                                    settings={"horizon_days": horizon, "seed": window.seed},
                                    models_dir=shop.paths.models)
        if training.reusable is not None:
            return reused_result(con, training, reports=shop.paths.reports, as_of=as_of, metric_names=METRICS)
        history = _training_history(con, as_of)
        first_day = min(history["day"])
        folds = rolling_origin_folds(as_of, n_folds=BACKTEST_FOLDS, horizon_days=horizon, step_days=7, first_day=first_day)
        # every fold forecasts the future frame serving would have built on its origin
        future_at = future_frames_as_known_at(con, as_of, horizon)
        result = backtest(history, folds, horizon_days=horizon, seed=window.seed, future_at=future_at)
        fitted = fit_forecaster(history, as_of=as_of, horizon_days=horizon, seed=window.seed)
        champion = champion_comparison(
            con, MODEL_NAME, result.folds[0].test_start, "challenger",
            lambda row: backtest_saved_model(
                from_artifact(registry.load_model(con, MODEL_NAME, row.version, models_dir=shop.paths.models)), history,
                result.folds, horizon, future_at, candidate=serving_candidate(row, "challenger"),
            ),
        )
        metrics = _metrics_by_candidate(result)
        serving = select_serving(metrics, list(CANDIDATES), GATE_METRIC, higher_is_better=False)
        trained = register_trained(
            con,
            models_dir=shop.paths.models,
            model_name=MODEL_NAME,
            artifact=to_artifact(fitted),
            parameters={**{k: v for k, v in vars(fitted.config).items()}, "horizon_days": horizon, "seed": window.seed,
                        SERVING_PARAMETER: serving},
            features=fitted.features.get(serving, ["seasonal_naive"]),
            window=(result.folds[0].test_start, result.folds[-1].test_end),
            train_start=first_day,
            train_end=as_of,
            as_of=as_of,
            metrics=metrics,
            champion_metrics=champion.metrics,
            champion_version=champion.version,
            notes="; ".join(filter(None, [fitted.fallback_reason, champion.note])),
            training=training,
        )
    improvement = result.wape_improvement("challenger", "seasonal_naive")
    table = markdown_table(result.overall().reset_index()[["candidate", *METRICS]].round(4))
    per_category = markdown_table(
        result.per_category()[["candidate", "category", "wape", "mae", "bias"]].round(4), limit=60
    )
    pngs = {
        "top_products": plot_top_products(result.predictions),
        "categories": plot_categories(result.predictions),
        "wape_by_horizon": plot_wape_by_horizon(result.predictions),
    }
    report = shop.paths.reports / f"{MODEL_NAME}-{trained.version}.html"
    write_html_report(
        report,
        f"Demand forecast {trained.version} (as of {as_of})",
        [
            ("Backtest", f"{len(result.folds)} folds, horizon {horizon} days; challenger WAPE "
             f"{improvement:.1%} below seasonal-naive; this version serves **{serving}** (best WAPE).\n\n{table}",
             None),
            ("Per category", per_category, None),
            ("Forecast vs actual, top products", "", pngs["top_products"]),
            ("Forecast vs actual, per category", "", pngs["categories"]),
            ("WAPE by horizon", "", pngs["wape_by_horizon"]),
        ],
    )
    challenger = metrics[serving]
    return MaterializeResult(
        metadata={
            "model_version": trained.version,
            "serving_candidate": serving,
            "as_of": as_of.isoformat(),
            **training_metadata(training),
            "champion_comparison": champion.note,
            "future_assumptions": FUTURE_ASSUMPTIONS + " (each backtest fold forecasts them as of its origin)",
            "folds": ", ".join(f"{f.test_start}..{f.test_end}" for f in result.folds),
            "wape": challenger["wape"],
            "mae": challenger["mae"],
            "bias": challenger["bias"],
            "coverage_80": challenger["coverage_80"],
            "wape_improvement_vs_seasonal_naive": float(improvement),
            "metrics": MetadataValue.md(table),
            "per_category": MetadataValue.md(per_category),
            "forecast_vs_actual": MetadataValue.md(png_markdown(pngs["top_products"], "forecast vs actual")),
            "per_category_plot": MetadataValue.md(png_markdown(pngs["categories"], "per category")),
            "report": MetadataValue.path(str(report)),
        }
    )


demand_forecast_champion = promotion_gate_asset(
    name="demand_forecast_champion", model_name=MODEL_NAME, training_asset="demand_forecast_model",
    servable=list(CANDIDATES), references=[], metric=GATE_METRIC, higher_is_better=False,
    what="the demand forecast (backtest WAPE)",
)


@score_table_asset(
    table=SCORES_TABLE,
    champion="demand_forecast_champion",
    reads="product_daily_sales",
    kinds={"duckdb", "sklearn"},
    description=(
        "scoring.demand_forecasts: units per product for each of the next forecast_horizon_days after the cut-off, "
        "p10 / p50 / p90 (80% interval), from the champion (loaded only when its SHA-256 matches the registry)."
    ),
)
@skips_when_data_is_short
def demand_forecasts(context: AssetExecutionContext, warehouse: Warehouse, window: ModelingWindow,
                     shop: ShopHome, model_threads: ModelThreads):
    horizon = window.forecast_horizon_days
    with model_step(warehouse, window, model_threads) as (con, as_of):
        current = require_champion(con, MODEL_NAME)
        serving = serving_candidate(current, "challenger")
        key = scoring_key(con, current, tables=SCORING_INPUTS, as_of=as_of, settings={"horizon_days": horizon})
        kept = unchanged_scores(con, SCORES_TABLE, key)
        if kept is not None:  # the champion and its inputs are unchanged: so are the forecasts
            rows, forecasts = kept, con.execute(f"SELECT day, p10, p50, p90 FROM {SCORES_TABLE}").df()
        else:
            fitted = from_artifact(registry.load_model(con, MODEL_NAME, current.version, models_dir=shop.paths.models))
            history = read_product_daily_sales(con, as_of, as_of - dt.timedelta(days=SERVING_HISTORY_DAYS),
                                              HISTORY_COLUMNS)
            future = future_product_days_frame(con, as_of, horizon)
            forecasts = forecast(fitted, history, future, as_of=as_of, horizon_days=horizon, candidate=serving)
            forecasts = forecasts.assign(model_version=current.version, as_of=as_of)
            rows = replace_scores(con, SCORES_TABLE, forecasts, inputs_key=key)
    daily = forecasts.groupby("day")[["p10", "p50", "p90"]].sum().reset_index().round(1)
    return MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "model_version": current.version,
            "serving_candidate": serving,
            "as_of": as_of.isoformat(),
            SCORES_REWRITTEN: kept is None,
            "future_assumptions": FUTURE_ASSUMPTIONS,
            "units_next_days_p50": float(forecasts["p50"].sum()),
            "daily_totals": MetadataValue.md(markdown_table(daily)),
        }
    )
