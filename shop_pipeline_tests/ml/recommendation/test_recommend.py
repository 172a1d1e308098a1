"""Recommenders on small hand-made interaction matrices: exclusions, fallback, determinism, artifacts,
bad input (new users / products, delisted products, views only, empty test window)."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from shop_pipeline.ml.common import registry
from shop_pipeline.ml.recommendation.candidates import (
    CANDIDATES,
    CATEGORY_POPULARITY,
    EASE,
    GATE_METRIC,
    ITEM_KNN,
    MOST_POPULAR,
    SERVABLE,
    RecommenderModel,
    fit_candidate,
    item_cosine_neighbours,
    transform_signal,
)
from shop_pipeline.ml.recommendation.data import TemporalSplit, matrix_from_frame, split_targets
from shop_pipeline.ml.recommendation.evaluate import evaluate_candidates, recall_curves, registry_metrics
from shop_pipeline.ml.recommendation.report import metrics_table_markdown, recall_curve_png
from shop_pipeline.ml.recommendation.score import OUTPUT_COLUMNS, recommendations_frame, top_k
from shop_pipeline.ml.recommendation.train import choose_serving

AS_OF = dt.date(2025, 3, 31)
LAST = pd.Timestamp("2025-03-30 12:00")
ALL = CANDIDATES


def toy_frame(seed: int = 3, users: int = 60, repeat_category: str | None = None) -> pd.DataFrame:
    """Items a0..a9 (category ca) and b0..b9 (cb); each user mostly in one category, popularity
    falling with the item number; some pairs ordered, in `repeat_category` ordered twice."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        home = "a" if u % 2 else "b"
        for _ in range(6):
            cat = home if rng.random() < 0.8 else ("b" if home == "a" else "a")
            item = f"{cat}{min(int(rng.exponential(3)), 9)}"
            rows.append((f"u{u:03d}", item, f"c{cat}"))
    f = pd.DataFrame(rows, columns=["customer_id", "product_id", "category"]).drop_duplicates(
        ["customer_id", "product_id"]
    )
    f["weight"] = 1.0 + rng.random(len(f))
    f["orders"] = (rng.random(len(f)) < 0.4).astype(int)
    if repeat_category:
        f.loc[(f["category"] == repeat_category) & (f["orders"] > 0), "orders"] = 2
    f["in_catalog"] = True
    f["last_interaction"] = LAST
    return f.reset_index(drop=True)


@pytest.fixture(scope="module")
def matrix():
    return matrix_from_frame(toy_frame(), AS_OF)


def frame_for(model, history, users=None):
    return recommendations_frame(model, history, AS_OF, "v1", k=5, users=users)


def bought_pairs(history):
    coo = history.orders.tocoo()
    return set(zip(history.user_ids[coo.row], history.item_ids[coo.col]))


@pytest.mark.parametrize("candidate", ALL)
def test_no_candidate_recommends_what_the_customer_already_bought(matrix, candidate):
    model = fit_candidate(candidate, matrix, seed=0)
    out = frame_for(model, matrix, users=np.arange(matrix.shape[0]))
    assert not (set(zip(out.customer_id, out.product_id)) & bought_pairs(matrix))
    assert len(out) == 5 * matrix.shape[0]
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert (
        out.groupby("customer_id")["rank"].apply(list)
        == pd.Series([[1, 2, 3, 4, 5]] * matrix.shape[0], index=sorted(matrix.user_ids))
    ).all()
    assert not out.duplicated(["customer_id", "product_id"]).any()


def test_a_repeat_category_is_recommended_again_and_decided_from_data():
    history = matrix_from_frame(toy_frame(repeat_category="cb"), AS_OF)
    model = fit_candidate(CATEGORY_POPULARITY, history)
    assert dict(zip(model.categories, model.repeat_categories)) == {"ca": False, "cb": True}
    out = frame_for(model, history, users=np.arange(history.shape[0]))
    again = set(zip(out.customer_id, out.product_id)) & bought_pairs(history)
    assert again and all(p.startswith("b") for _, p in again)


def test_cold_start_customers_get_popular_lists(matrix):
    """A customer whose only products the model never saw gets the overall popular items."""
    model = fit_candidate(EASE, matrix)
    newcomer = matrix_from_frame(
        pd.DataFrame(
            {
                "customer_id": ["new"],
                "product_id": ["zz-new"],
                "weight": [1.0],
                "category": ["brand-new"],
                "last_interaction": [LAST],
            }
        ),
        AS_OF,
    )
    out = frame_for(model, newcomer)
    popular = model.item_ids[np.argsort(-model.popularity, kind="stable")][:5]
    assert list(out["product_id"]) == list(popular)
    assert set(out["reason"]) == {"popular"}


def test_a_customer_who_only_viewed_gets_personal_recommendations(matrix):
    model = fit_candidate(ITEM_KNN, matrix)
    viewer = matrix_from_frame(
        pd.DataFrame(
            {
                "customer_id": ["v"],
                "product_id": ["a0"],
                "weight": [1.0],
                "category": ["ca"],
                "last_interaction": [LAST],
            }
        ),
        AS_OF,
    )
    out = frame_for(model, viewer)
    assert len(out) == 5 and out["reason"].iloc[0] == "similar_items"
    assert set(out["product_id"].str[0]) >= {"a"}  # neighbours of what they viewed
    by_category = frame_for(fit_candidate(CATEGORY_POPULARITY, matrix), viewer)
    assert "a0" in set(by_category["product_id"])  # viewed, never bought: not excluded


def test_a_product_no_longer_in_the_catalog_is_never_recommended():
    f = toy_frame()
    f.loc[f["product_id"] == "a0", "in_catalog"] = False  # the most popular product, delisted
    history = matrix_from_frame(f, AS_OF)
    for candidate in ALL:
        out = frame_for(fit_candidate(candidate, history), history, users=np.arange(history.shape[0]))
        assert "a0" not in set(out["product_id"]), candidate


def test_category_popularity_follows_the_customers_category(matrix):
    model = fit_candidate(CATEGORY_POPULARITY, matrix)
    out = frame_for(model, matrix, users=np.arange(matrix.shape[0]))
    top = out[out["rank"] == 1].set_index("customer_id")["product_id"].str[0]
    home = pd.Series(["a" if int(u[1:]) % 2 else "b" for u in top.index], index=top.index)
    assert (top == home).mean() > 0.8


def test_scores_are_deterministic_for_a_seed_and_independent_of_the_block_size(matrix):
    users = np.arange(matrix.shape[0])
    for candidate in ALL:
        a = frame_for(fit_candidate(candidate, matrix, seed=5), matrix, users)
        b = frame_for(fit_candidate(candidate, matrix, seed=5), matrix, users)
        pd.testing.assert_frame_equal(a, b)
        model = fit_candidate(candidate, matrix, seed=5)
        one_by_one = top_k(model, matrix, users, k=5, block_users=1)
        whole = top_k(model, matrix, users, k=5)
        assert (one_by_one.items == whole.items).all(), candidate


def test_item_knn_in_blocks_is_the_same_as_in_one_go(matrix, monkeypatch):
    whole = item_cosine_neighbours(transform_signal(matrix.weights, "binary"), 4)
    monkeypatch.setattr("shop_pipeline.ml.recommendation.candidates.KNN_BLOCK_CELLS", 7)  # one item per block
    blocked = item_cosine_neighbours(transform_signal(matrix.weights, "binary"), 4)
    assert sparse.issparse(blocked) and (abs(whole - blocked) > 1e-6).nnz == 0
    assert blocked.diagonal().max() == 0 and np.diff(blocked.indptr).max() <= 4


def test_artifact_round_trips_through_the_registry_without_an_allow_list_change(matrix, tmp_path):
    users = np.arange(matrix.shape[0])
    for candidate in ALL:
        model = fit_candidate(candidate, matrix, seed=2)
        path, sha = registry.save_model(model.to_artifact(), tmp_path, "recs", f"v-{candidate}")
        loaded = RecommenderModel.from_artifact(
            registry.load_artifact(path, sha)
        )  # refuses types outside the allow-list
        pd.testing.assert_frame_equal(frame_for(model, matrix, users), frame_for(loaded, matrix, users))


def split_of(train, window: pd.DataFrame) -> TemporalSplit:
    target, users, rel, n_rel, unknown_users, unknown_items = split_targets(train, window)
    return TemporalSplit(
        AS_OF, AS_OF - dt.timedelta(days=14), 14, train, target, users, rel, n_rel, unknown_users, unknown_items
    )


def window(rows):
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "views", "carts", "purchases"])


def test_users_and_products_first_seen_after_the_split(matrix):
    split = split_of(
        matrix,
        window(
            [
                ("u001", "a1", 0, 0, 1),
                ("u001", "new-product", 0, 0, 1),  # no model can recommend it: still relevant
                ("u002", "b1", 3, 0, 0),  # a view, not the target once purchases exist
                ("newcomer", "a0", 0, 0, 1),  # not evaluated: no training history
            ]
        ),
    )
    assert split.target_event == "purchase"
    assert list(matrix.user_ids[split.test_users]) == ["u001"]
    assert list(split.n_relevant) == [2] and split.relevant.nnz == 1
    assert split.unknown_users == 1 and split.unknown_item_pairs == 1
    evaluation = evaluate_candidates(split, seed=0)
    assert all(0 <= r.metrics["recall_at_20"] <= 0.5 for r in evaluation.results.values())


def test_without_purchases_in_the_window_carts_then_views_are_the_target(matrix):
    assert split_of(matrix, window([("u001", "a1", 1, 1, 0), ("u002", "a2", 1, 0, 0)])).target_event == "cart"
    assert split_of(matrix, window([("u001", "a1", 1, 0, 0)])).target_event == "view"


def test_an_empty_test_window_gives_nan_metrics_and_an_empty_plot(matrix):
    split = split_of(matrix, window([]))
    assert split.target_event is None and len(split.test_users) == 0
    evaluation = evaluate_candidates(split, seed=0)
    metrics = registry_metrics(evaluation)
    assert all(math.isnan(m[GATE_METRIC]) and m["users"] == 0 for m in metrics.values())
    assert choose_serving(metrics) == "most_popular"
    assert recall_curve_png(recall_curves(evaluation)).startswith(b"\x89PNG")


def test_metrics_shape_for_register_trained_and_the_markdown_table(matrix):
    split = split_of(matrix, window([(u, p, 0, 0, 1) for u, p in [("u001", "a1"), ("u003", "a2"), ("u004", "b0")]]))
    evaluation = evaluate_candidates(split, seed=0)
    metrics = registry_metrics(evaluation)
    chosen = choose_serving(metrics)
    assert set(metrics) == set(SERVABLE)
    assert metrics[chosen][GATE_METRIC] == max(m[GATE_METRIC] for m in metrics.values())
    assert all(isinstance(v, float) for m in metrics.values() for v in m.values())
    assert {"ndcg_at_10", "recall_at_20", "precision_at_10", "hit_rate_at_20", "coverage_at_10"} <= set(
        metrics["item_knn"]
    )
    table = metrics_table_markdown(metrics)
    assert table.count("\n") == len(metrics) + 1 and "ndcg_at_10" in table


def test_purchases_only_history_works(matrix):
    f = toy_frame()
    f["orders"] = 1
    history = matrix_from_frame(f, AS_OF)
    for candidate in ALL:
        out = frame_for(fit_candidate(candidate, history), history, users=np.arange(history.shape[0]))
        # 20 products; a customer bought at most ~6, so 5 remain for everybody
        assert len(out) == 5 * history.shape[0], candidate
        assert not (set(zip(out.customer_id, out.product_id)) & bought_pairs(history))


def test_the_recency_window_keeps_only_customers_seen_in_its_days():
    f = toy_frame(users=4)
    f.loc[f["customer_id"] == "u000", "last_interaction"] = pd.Timestamp("2025-01-01")
    history = matrix_from_frame(f, AS_OF)
    model = fit_candidate(MOST_POPULAR, history)
    out = recommendations_frame(model, history, AS_OF, "v1", k=3, recency_days=30)
    assert sorted(out["customer_id"].unique()) == ["u001", "u002", "u003"]
    everyone = recommendations_frame(model, history, AS_OF, "v1", k=3)  # default: all
    assert sorted(everyone["customer_id"].unique()) == ["u000", "u001", "u002", "u003"]
    later = matrix_from_frame(f, dt.date(2026, 1, 1))
    empty = recommendations_frame(model, later, dt.date(2026, 1, 1), "v1", k=3, recency_days=30)
    assert empty.empty and list(empty.columns) == list(OUTPUT_COLUMNS)


def test_equal_scores_are_ordered_by_the_tie_break_also_at_the_last_place():
    from shop_pipeline.ml.recommendation.score import _dense_top

    rng = np.random.default_rng(5)
    for _ in range(300):
        b, n, k = rng.integers(1, 5), rng.integers(1, 25), rng.integers(1, 7)
        key = rng.integers(0, 3, size=(b, n)).astype(float)  # few distinct scores: many ties
        key[rng.random((b, n)) < 0.3] = -np.inf  # not allowed
        columns, tie_break = rng.permutation(60)[:n], rng.random(60)
        items, scores = _dense_top(key, columns, tie_break, k)
        for r in range(b):
            allowed = sorted(
                (j for j in range(n) if np.isfinite(key[r, j])), key=lambda j: (-key[r, j], -tie_break[columns[j]])
            )[:k]
            assert items[r].tolist() == [columns[j] for j in allowed] + [-1] * (k - len(allowed))
            np.testing.assert_array_equal(scores[r], [key[r, j] for j in allowed] + [np.nan] * (k - len(allowed)))


def test_the_sparse_top_k_keeps_the_tie_break_order_of_a_full_sort():
    """Only entries at or above a row's k-th value are sorted: the same lists as sorting them all."""
    from shop_pipeline.ml.recommendation.score import _sparse_top

    rng = np.random.default_rng(7)
    for _ in range(300):
        b, n, k = rng.integers(1, 6), rng.integers(1, 30), rng.integers(1, 8)
        dense = rng.integers(1, 4, size=(b, n)).astype(float)  # few distinct scores: many ties
        dense[rng.random((b, n)) < 0.4] = 0.0  # not stored
        tie_break = rng.random(n)
        items, scores = _sparse_top(sparse.csr_matrix(dense), tie_break, k)
        for r in range(b):
            ranked = sorted(np.flatnonzero(dense[r]), key=lambda j: (-dense[r, j], -tie_break[j]))[:k]
            assert items[r].tolist() == ranked + [-1] * (k - len(ranked))
            np.testing.assert_array_equal(scores[r], [dense[r, j] for j in ranked] + [np.nan] * (k - len(ranked)))
