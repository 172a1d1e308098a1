"""Recommendations on a small generated shop (100k events, 45 days; about 10 s for the module).

The generator's only user-item signal is a per-user category preference over Zipf item
popularity (shop_pipeline/synth/events.py), so the measured challenger must beat most-popular
by using it; the oracle on the 1M-event shop (true preferences) reaches about 1.2x.
"""

import datetime as dt

import numpy as np
import pytest

from shop_pipeline.features.interactions import build_interactions
from shop_pipeline.ml.recommendation.candidates import GATE_METRIC
from shop_pipeline.ml.recommendation.data import load_interactions, temporal_split
from shop_pipeline.ml.recommendation.evaluate import evaluate_candidates, registry_metrics
from shop_pipeline.ml.recommendation.score import TOP_K, recommendations_frame
from shop_pipeline.ml.recommendation.train import TEST_DAYS, choose_challenger, choose_serving, fit_final
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.warehouse.helpers import run_days

DAYS = 45
FIRST = dt.date(2025, 1, 1)
AS_OF = FIRST + dt.timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    home = tmp_path_factory.mktemp("recommend-shop")
    generate_shop(home, GeneratorConfig(events=100_000, days=DAYS, seed=1, defects="none"))
    path = home / "warehouse.duckdb"
    with connect(path) as con:
        run_days(con, home / "landing", [FIRST + dt.timedelta(days=i) for i in range(DAYS)])
        build_interactions(con, AS_OF)
    return path


@pytest.fixture(scope="module")
def evaluation(shop):
    with connect(shop) as con:
        split = temporal_split(con, AS_OF, TEST_DAYS)
    return evaluate_candidates(split, seed=0)


def test_the_challenger_beats_most_popular_on_ndcg_at_10(evaluation):
    assert evaluation.split.target_event == "purchase" and len(evaluation.split.test_users) > 200
    metrics = registry_metrics(evaluation)
    challenger = choose_challenger(evaluation)
    assert choose_serving(metrics) == challenger
    assert metrics[challenger][GATE_METRIC] > metrics["most_popular"][GATE_METRIC]
    assert metrics[challenger]["coverage_at_20"] > metrics["most_popular"]["coverage_at_20"]


def test_scoring_every_customer_from_the_feature_table(shop, evaluation):
    with connect(shop) as con:
        history = load_interactions(con)  # features.interactions as built
        assert history.as_of == AS_OF
        assert history.weights.nnz == con.execute("SELECT count(*) FROM features.interactions").fetchall()[0][0]
    chosen = choose_challenger(evaluation)
    model = fit_final(history, chosen, seed=0)
    frame = recommendations_frame(model, history, AS_OF, "v-test")
    # every customer with an interaction before the cut-off, however long ago
    assert frame["customer_id"].nunique() == history.shape[0] > 0
    recent = recommendations_frame(model, history, AS_OF, "v-test", recency_days=7)
    assert 0 < recent["customer_id"].nunique() < history.shape[0]
    assert (frame.groupby("customer_id").size() == TOP_K).all()
    assert frame["rank"].min() == 1 and frame["rank"].max() == TOP_K
    assert not frame.duplicated(["customer_id", "product_id"]).any()
    # nothing the customer already ordered (the generated shop has no repeat category)
    assert not model.repeat_categories.any()
    coo = history.orders.tocoo()
    bought = set(zip(history.user_ids[coo.row], history.item_ids[coo.col]))
    assert not set(zip(frame["customer_id"], frame["product_id"])) & bought
    again = recommendations_frame(fit_final(history, chosen, seed=0), history, AS_OF, "v-test")
    assert frame.equals(again)
    assert np.isfinite(frame["score"]).all()
