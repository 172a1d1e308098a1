"""Who gets recommendations: every customer with an interaction before the cut-off (lapsed ones
included), the recency window, cold customers through the fallbacks, exactly k rows each."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from shop_pipeline.ml.recommendation.candidates import CANDIDATES, EASE, ITEM_KNN, MOST_POPULAR, fit_candidate
from shop_pipeline.ml.recommendation.data import matrix_from_frame
from shop_pipeline.ml.recommendation.score import recommendations_frame
from shop_pipeline_tests.ml.recommendation.test_recommend import AS_OF, bought_pairs, toy_frame

K = 5
LAPSED = "u000"
LONG_AGO = pd.Timestamp("2024-10-02 09:00")  # 180 days before the cut-off


@pytest.fixture(scope="module")
def history():
    """The toy shop with one customer last seen half a year before the cut-off."""
    f = toy_frame()
    f.loc[f["customer_id"] == LAPSED, "last_interaction"] = LONG_AGO
    return matrix_from_frame(f, AS_OF)


@pytest.mark.parametrize("candidate", [ITEM_KNN, EASE])
def test_a_lapsed_customer_gets_a_personal_list_by_default_and_none_in_a_30_day_window(history, candidate):
    model = fit_candidate(candidate, history, seed=0)
    everyone = recommendations_frame(model, history, AS_OF, "v1", k=K)
    lapsed = everyone[everyone["customer_id"] == LAPSED]
    assert list(lapsed["rank"]) == list(range(1, K + 1))
    assert lapsed["reason"].iloc[0] == "similar_items"  # from their own history, not the popular list
    # the same list as scoring that customer alone: nothing about the window changes a list
    alone = recommendations_frame(model, history, AS_OF, "v1", k=K, users=np.flatnonzero(history.user_ids == LAPSED))
    assert list(alone["product_id"]) == list(lapsed["product_id"])
    recent = recommendations_frame(model, history, AS_OF, "v1", k=K, recency_days=30)
    assert LAPSED not in set(recent["customer_id"])
    assert set(recent["customer_id"]) == set(history.user_ids) - {LAPSED}
    # a window long enough to reach back to them takes them in again
    assert LAPSED in set(recommendations_frame(model, history, AS_OF, "v1", k=K, recency_days=181)["customer_id"])


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_every_customer_seen_before_the_cut_off_gets_exactly_k_products_never_already_bought(history, candidate):
    model = fit_candidate(candidate, history, seed=0)
    out = recommendations_frame(model, history, AS_OF, "v1", k=K)
    per_customer = out.groupby("customer_id").size()
    assert set(per_customer.index) == set(history.user_ids) and (per_customer == K).all()
    assert not (set(zip(out.customer_id, out.product_id)) & bought_pairs(history))
    assert not out.duplicated(["customer_id", "product_id"]).any()


def test_a_customer_without_usable_history_gets_the_popular_fallback_with_its_reason(history):
    """The champion was trained before the customer's only product existed: nothing to score
    from, so they get the overall popular list, and the reason says so; the others keep theirs."""
    model = fit_candidate(EASE, history, seed=0)
    f = toy_frame()
    newcomer = pd.DataFrame(
        {
            "customer_id": ["new"],
            "product_id": ["zz-new"],
            "weight": [1.0],
            "orders": [0],
            "category": ["brand-new"],
            "in_catalog": [True],
            "last_interaction": [LONG_AGO],
        }
    )
    later = matrix_from_frame(pd.concat([f, newcomer], ignore_index=True), AS_OF)
    out = recommendations_frame(model, later, AS_OF, "v1", k=K)
    cold = out[out["customer_id"] == "new"]
    popular = model.item_ids[np.lexsort((-model.tie_break, -model.popularity))][:K]
    assert list(cold["product_id"]) == list(popular) and set(cold["reason"]) == {"popular"}
    assert (out.groupby("customer_id").size() == K).all() and out["customer_id"].nunique() == later.shape[0]
    assert "similar_items" in set(out.loc[out["customer_id"] != "new", "reason"])


def test_lists_are_shorter_than_k_only_when_the_catalog_is_smaller():
    """Three products in the catalog, one of them bought by u1: u1 gets two, u2 three."""
    f = pd.DataFrame(
        {
            "customer_id": ["u1", "u1", "u2", "u3"],
            "product_id": ["p1", "p2", "p1", "p3"],
            "weight": [5.0, 1.0, 1.0, 1.0],
            "orders": [1, 0, 0, 0],
            "category": ["c"] * 4,
        }
    )
    history = matrix_from_frame(f, AS_OF)
    for candidate in CANDIDATES:
        out = recommendations_frame(fit_candidate(candidate, history), history, AS_OF, "v1", k=K)
        assert out.groupby("customer_id").size().to_dict() == {"u1": 2, "u2": 3, "u3": 3}, candidate
        assert ("u1", "p1") not in set(zip(out.customer_id, out.product_id))


def test_interactions_after_the_scoring_cut_off_are_refused(history):
    model = fit_candidate(MOST_POPULAR, history)
    with pytest.raises(ValueError, match="after the scoring cut-off"):
        recommendations_frame(model, history, AS_OF - dt.timedelta(days=1), "v1", k=K)


@pytest.mark.parametrize("recency_days", [0, -3, 1.5, True])
def test_a_recency_window_must_be_whole_days_or_none(history, recency_days):
    model = fit_candidate(MOST_POPULAR, history)
    with pytest.raises(ValueError, match="recency_days"):
        recommendations_frame(model, history, AS_OF, "v1", k=K, recency_days=recency_days)
