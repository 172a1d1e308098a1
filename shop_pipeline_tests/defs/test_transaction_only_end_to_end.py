"""A transaction-only shop (Online Retail II invoices: no views, no carts) end to end through Dagster.

The invoices are the purchases of a small generated shop, written in the public Online Retail II
layout (a few invoices without a customer, one cancellation), imported with the adapter, then
the whole pipeline runs: every stage must materialize, the customer models must leave the
anonymous buyers out, and each model must end with a champion and scores, whichever of its
candidates measured best on data without browsing signals. Without chargeback labels the
order-risk model cannot be measured: its gate warns and its scores are marked unvalidated.
"""

import csv

import duckdb
import pytest
from dagster import DagsterInstance

from shop_pipeline.pipeline_run import modeling_run_config, run_full_pipeline
from shop_pipeline.settings import ShopPaths
from shop_pipeline.sources.importer import import_files
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.connection import connect

INVOICE_COLUMNS = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"]
GUEST_EVERY = 40  # one order in forty has no customer


def write_invoices(generated_home, target) -> int:
    """The generated shop's purchases as Online Retail II invoice lines; returns the line count."""
    purchases = duckdb.sql(
        """SELECT order_id, product_id, quantity, strftime(CAST(event_time AS TIMESTAMP), '%Y-%m-%d %H:%M:%S') AS at,
                  price, user_id
           FROM read_csv($glob, union_by_name = true, all_varchar = true)
           WHERE event_type = 'purchase' ORDER BY event_time, event_id""",
        params={"glob": str(generated_home / "landing" / "events" / "*.csv")},
    ).fetchall()
    with open(target, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(INVOICE_COLUMNS)
        for order, product, quantity, at, price, user in purchases:
            guest = int(order.lstrip("o")) % GUEST_EVERY == 0
            customer = "" if guest else f"{int(user.lstrip('u'))}.0"
            writer.writerow([order, product, "", quantity, at, price, customer, "United Kingdom"])
        order, product, quantity, at, price, user = purchases[-1]
        writer.writerow(
            [f"C{order}", product, "", f"-{quantity}", at, price, f"{int(user.lstrip('u'))}.0", "United Kingdom"]
        )
    return len(purchases) + 1


@pytest.fixture(scope="module")
def transaction_shop(tmp_path_factory):
    generated = tmp_path_factory.mktemp("generated")
    generate_shop(generated, GeneratorConfig(events=60_000, days=70, seed=5, defects="none"))
    invoices = tmp_path_factory.mktemp("source") / "online_retail_ii.csv"
    lines = write_invoices(generated, invoices)
    paths = ShopPaths.at(tmp_path_factory.mktemp("transaction-shop")).ensure()
    import_files("online_retail", [invoices], paths.landing)
    outcome = run_full_pipeline(
        paths, DagsterInstance.ephemeral(), modeling_run_config(forecast_horizon_days=7, propensity_horizon_days=14)
    )
    return paths, outcome, lines


def rows(paths, sql):
    with connect(paths.warehouse) as con:
        return con.execute(sql).fetchall()


def test_every_stage_runs_and_every_model_scores(transaction_shop):
    paths, outcome, _ = transaction_shop
    assert outcome.success, outcome.error
    failed = [name for name, passed in outcome.checks if not passed]
    # no chargeback labels in an invoice file: the risk model cannot be measured (a warning, not a block)
    assert failed == ["order_risk_champion:promotion_gate"]
    for table in (
        "features.product_daily_sales",
        "features.customer_features",
        "features.order_features",
        "features.interactions",
        "scoring.demand_forecasts",
        "scoring.customer_scores",
        "scoring.order_risk_scores",
        "scoring.recommendations",
    ):
        [(count,)] = rows(paths, f"SELECT count(*) FROM {table}")
        assert count > 0, table
    champions = rows(paths, "SELECT model_name FROM ml.model_registry WHERE is_champion ORDER BY 1")
    assert champions == [("demand_forecast",), ("propensity",), ("recommendation",)]
    [(risk_versions,)] = rows(paths, "SELECT count(DISTINCT model_version) FROM scoring.order_risk_scores")
    [(unsupervised,)] = rows(
        paths,
        "SELECT count(*) FROM ml.model_registry WHERE model_name = 'order_risk' "
        "AND json_extract_string(parameters, '$.mode') = 'unsupervised'",
    )
    assert (risk_versions, unsupervised) == (1, 1)


def test_the_served_candidate_is_the_best_measured_one(transaction_shop):
    paths, _, _ = transaction_shop
    served = rows(
        paths,
        """SELECT r.model_name, json_extract_string(r.parameters, '$.serving_candidate'), e.candidate, e.metric, e.value
           FROM ml.model_registry r JOIN ml.model_evaluations e USING (model_name, version)
           WHERE r.is_champion AND e.metric IN ('wape', 'roc_auc', 'ndcg_at_10')
             AND e.candidate NOT IN ('champion', 'random')""",
    )
    by_model: dict[str, dict[str, float]] = {}
    serving: dict[str, str] = {}
    for model, chosen, candidate, metric, value in served:
        serving[model] = chosen
        by_model.setdefault(model, {})[candidate] = -value if metric == "wape" else value
    for model, values in by_model.items():
        assert values[serving[model]] == max(values.values()), (model, serving[model], values)


def test_features_without_browsing_are_zero_and_guests_are_not_customers(transaction_shop):
    paths, _, _ = transaction_shop
    [(views, carts, guests, customers)] = rows(
        paths,
        """SELECT sum(views), sum(carts), count(*) FILTER (WHERE starts_with(customer_id, 'guest:')), count(*)
           FROM features.customer_features""",
    )
    assert (views, carts, guests) == (0, 0, 0) and customers > 100
    [(guest_sales,)] = rows(paths, "SELECT count(*) FROM staging.events WHERE starts_with(user_id, 'guest:')")
    assert guest_sales > 0  # kept for sales (product_daily_sales), only left out of customer models


def test_every_invoice_line_is_accounted_for(transaction_shop):
    paths, _, lines = transaction_shop
    [(read, clean, quarantined, duplicates)] = rows(
        paths,
        "SELECT sum(rows_read), sum(rows_clean), sum(rows_quarantined), sum(rows_duplicate) FROM raw.ingested_files",
    )
    assert read == lines and read == clean + quarantined + duplicates
    [(cancellations,)] = rows(
        paths, "SELECT count(*) FROM staging.quarantined_events WHERE reason_code = 'invalid_quantity'"
    )
    assert cancellations == 1
