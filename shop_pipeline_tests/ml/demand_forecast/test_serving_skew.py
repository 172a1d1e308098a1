"""The backtest measures what serving does: a transaction-only shop without a catalog whose
prices fall over time (issue 14).

The invoices up to a cut-off are landed with the Online Retail adapter and the data stages run;
then the three forecast assets run through Dagster. The forecast served for the 14 days after the
cut-off is scored against the generator's true units: its WAPE must be within 1.25x of the backtest
WAPE of the candidate that was served (the metric that picked it), and that candidate's 80%
interval must cover 70-90% of the backtest days. Before the backtest forecast the serving frame,
the future price was the highest price seen (here 20x the price paid) and the served forecast was
many times the real units while the backtest looked fine.
"""

import datetime as dt

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from shop_pipeline.defs.models_common import model_assets
from shop_pipeline.features.tables import future_product_days_frame, read_product_daily_sales
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.metrics import forecast_metrics
from shop_pipeline.ml.demand_forecast import SPEC
from shop_pipeline.ml.demand_forecast.candidates import FittedForecaster
from shop_pipeline.ml.demand_forecast.data import HISTORY_COLUMNS
from shop_pipeline.ml.demand_forecast.score import forecast
from shop_pipeline.pipeline_run import modeling_run_config, run_full_pipeline
from shop_pipeline.resources import default_resources
from shop_pipeline.settings import ShopPaths
from shop_pipeline.sources.importer import import_files
from shop_pipeline.synth.falling_prices import FallingPriceConfig, generate_falling_price_shop, write_invoices
from shop_pipeline.warehouse.connection import connect

HORIZON = 14
CONFIG = FallingPriceConfig(seed=3)
CUTOFF = CONFIG.start + dt.timedelta(days=CONFIG.days - 1 - HORIZON)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    lines, truth = generate_falling_price_shop(CONFIG)
    invoices = tmp_path_factory.mktemp("source") / "online_retail_ii.csv"
    write_invoices(lines, invoices, last_day=CUTOFF)
    paths = ShopPaths.at(tmp_path_factory.mktemp("falling-prices")).ensure()
    import_files("online_retail", [invoices], paths.landing)
    instance = DagsterInstance.ephemeral()
    config = modeling_run_config(forecast_horizon_days=HORIZON)
    data = run_full_pipeline(paths, instance, config, groups=["ingestion", "staging", "features"])
    assert data.success, data.error
    run = materialize(model_assets(SPEC), resources=default_resources(paths), run_config=config, instance=instance)
    assert run.success
    with connect(paths.warehouse) as con:
        serving, version, level_factor = con.execute(
            "SELECT json_extract_string(parameters, '$.serving_candidate'), version, "
            "CAST(json_extract(parameters, '$.level_factor') AS DOUBLE) FROM ml.model_registry "
            "WHERE model_name = 'demand_forecast' AND is_champion"
        ).fetchone()
        measured = {
            candidate: dict(
                con.execute(
                    "SELECT metric, value FROM ml.model_evaluations WHERE model_name = 'demand_forecast' "
                    "AND version = ? AND candidate = ?",
                    [version, candidate],
                ).fetchall()
            )
            for candidate in (serving, "challenger")
        }
        backtest = measured[serving]
        forecasts = con.execute("SELECT product_id, day, p10, p50, p90, expected FROM scoring.demand_forecasts").df()
        future = future_product_days_frame(con, CUTOFF, HORIZON)
        # what serving did before issue 14: the same model, the future priced at the highest price seen
        fitted = FittedForecaster.from_artifact(
            registry.load_model(con, "demand_forecast", version, models_dir=paths.models)
        )
        history = read_product_daily_sales(con, CUTOFF, CUTOFF - dt.timedelta(days=120), HISTORY_COLUMNS)
    highest = future.assign(shown_price=future["list_price"] * (1.0 - future["promo_discount_pct"]))
    # the challenger reads the price (the served candidate may be a statistical method that does not)
    at_highest_price = forecast(fitted, history, highest, CUTOFF, HORIZON, candidate="challenger")
    return serving, backtest, forecasts, future, truth, (at_highest_price, measured["challenger"]), level_factor


def served_wape(forecasts: pd.DataFrame, truth: pd.DataFrame) -> float:
    truth = truth.assign(day=pd.to_datetime(truth["day"]))
    scored = forecasts.assign(day=pd.to_datetime(forecasts["day"])).merge(
        truth, on=["product_id", "day"], how="inner", validate="one_to_one"
    )
    assert len(scored) == len(forecasts) == CONFIG.products * HORIZON
    return forecast_metrics(scored["units"], scored["p50"])["wape"]


def test_the_served_forecast_does_as_well_as_its_backtest_said(served):
    serving, backtest, forecasts, _, truth, _, _ = served
    days = pd.to_datetime(forecasts["day"])
    assert days.min().date() == CUTOFF + dt.timedelta(days=1) and days.max().date() == CUTOFF + dt.timedelta(
        days=HORIZON
    )
    wape = served_wape(forecasts, truth)
    assert wape <= 1.25 * backtest["wape"] and backtest["wape"] <= 1.25 * wape, (serving, wape, backtest)


def test_the_highest_price_assumption_would_fail_that_check(served):
    # the check above can fail: the same model fed the future of before issue 14 misses by far more
    _, _, _, _, truth, (at_highest_price, challenger_backtest), _ = served
    wape = served_wape(at_highest_price, truth)
    assert wape > 1.25 * challenger_backtest["wape"], (wape, challenger_backtest)


def test_the_served_candidates_interval_covers_about_80_percent_in_the_backtest(served):
    serving, backtest, *_ = served
    assert 0.70 <= backtest["coverage_80"] <= 0.90, (serving, backtest)


def test_the_future_price_is_the_last_price_paid_not_the_highest(served):
    _, _, _, future, truth, _, _ = served
    paid = truth[pd.to_datetime(truth["day"]).dt.date == CUTOFF].set_index("product_id")["price"]
    assumed = future.groupby("product_id")["shown_price"].first()
    listed = future.groupby("product_id")["list_price"].first()
    # the median of the last five prices paid: the price of the cut-off day for most products, a price cut
    # earlier for a few slow movers, never a line keyed at 20x
    ratio = (assumed / paid.reindex(assumed.index)).describe()
    assert 0.99 <= ratio["50%"] <= 1.01 and ratio["max"] < 1.5, ratio
    assert (listed / assumed).median() >= 10  # the highest price seen, kept as a feature only


def test_the_table_serves_p50_as_forecast_and_expected_at_the_registered_level(served):
    # p50 is the candidate's median (what the backtest chose it on); a shop sums `expected` for its totals
    _, _, forecasts, _, _, _, level_factor = served
    assert level_factor is not None and level_factor > 0
    assert (forecasts["expected"] - forecasts["p50"] * level_factor).abs().max() < 1e-9
    assert (forecasts["p10"] <= forecasts["p50"]).all() and (forecasts["p50"] <= forecasts["p90"]).all()
