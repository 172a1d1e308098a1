"""Ranking metrics against cases computed by hand."""

import math

import numpy as np
import pytest
from scipy import sparse

from shop_pipeline.ml.recommendation.metrics import (
    METRIC_NAMES,
    as_recommended,
    catalog_coverage,
    hit_rate_at_k,
    hits_matrix,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    recall_curve,
)

# user 0: list 1, 2, 3, 4; relevant {2, 4, 9} (9 never recommended)
# user 1: list 5 (then padding); relevant {5}
RECOMMENDED = as_recommended([[1, 2, 3, 4], [5]])
RELEVANT = [{2, 4, 9}, {5}]
N_RELEVANT = np.array([3, 1])
L2 = 1 / math.log2(3)  # discount of rank 2
L3 = 1 / math.log2(4)
L4 = 1 / math.log2(5)


@pytest.fixture
def hits():
    return hits_matrix(RECOMMENDED, RELEVANT)


def test_hits_from_sets_and_from_a_sparse_matrix_agree_and_padding_never_hits(hits):
    assert hits.tolist() == [[False, True, False, True], [True, False, False, False]]
    rows = [0, 0, 0, 1]
    cols = [2, 4, 9, 5]
    rel = sparse.csr_matrix((np.ones(4, bool), (rows, cols)), shape=(2, 10))
    assert (hits_matrix(RECOMMENDED, rel) == hits).all()


def test_metrics_at_2_by_hand(hits):
    assert precision_at_k(hits, 2) == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert recall_at_k(hits, N_RELEVANT, 2) == pytest.approx((1 / 3 + 1) / 2)
    assert hit_rate_at_k(hits, 2) == pytest.approx(1.0)
    ndcg_user0 = L2 / (1 + L2)  # one hit at rank 2; the ideal has two hits in 2 slots
    assert ndcg_at_k(hits, N_RELEVANT, 2) == pytest.approx((ndcg_user0 + 1.0) / 2)
    assert catalog_coverage(RECOMMENDED, 2, catalog_size=10) == pytest.approx(3 / 10)  # items 1, 2, 5


def test_metrics_at_4_by_hand(hits):
    assert precision_at_k(hits, 4) == pytest.approx((2 / 4 + 1 / 4) / 2)  # short lists are not rewarded
    assert recall_at_k(hits, N_RELEVANT, 4) == pytest.approx((2 / 3 + 1) / 2)
    ndcg_user0 = (L2 + L4) / (1 + L2 + L3)  # the ideal: 3 relevant items in the first 3 ranks
    assert ndcg_at_k(hits, N_RELEVANT, 4) == pytest.approx((ndcg_user0 + 1.0) / 2)
    assert catalog_coverage(RECOMMENDED, 4, catalog_size=10) == pytest.approx(5 / 10)


def test_a_user_without_a_hit_scores_zero_everywhere():
    h = hits_matrix(as_recommended([[7, 8]]), [{1}])
    assert ndcg_at_k(h, [1], 2) == 0 and recall_at_k(h, [1], 2) == 0 and hit_rate_at_k(h, 2) == 0


def test_k_beyond_the_list_reads_it_as_padded(hits):
    assert recall_at_k(hits, N_RELEVANT, 10) == pytest.approx(recall_at_k(hits, N_RELEVANT, 4))
    assert precision_at_k(hits, 10) == pytest.approx((2 / 10 + 1 / 10) / 2)


def test_recall_curve_is_the_recall_at_each_k(hits):
    curve = recall_curve(hits, N_RELEVANT, 4)
    assert curve == pytest.approx([recall_at_k(hits, N_RELEVANT, k) for k in range(1, 5)])
    assert (np.diff(curve) >= 0).all()


def test_no_evaluated_user_gives_nan_not_an_error():
    empty = np.zeros((0, 20), dtype=np.int64)
    h = hits_matrix(empty, [])
    out = ranking_metrics(empty, h, np.array([]), catalog_size=100)
    assert out["users"] == 0
    assert all(math.isnan(v) for name, v in out.items() if name != "users")
    assert math.isnan(catalog_coverage(RECOMMENDED, 2, catalog_size=0))


def test_inconsistent_inputs_are_errors(hits):
    with pytest.raises(ValueError, match="at least one relevant"):
        recall_at_k(hits, [3, 0], 2)
    with pytest.raises(ValueError, match="more hits than relevant"):
        recall_at_k(hits, [1, 1], 4)
    with pytest.raises(ValueError, match="k must be"):
        ndcg_at_k(hits, N_RELEVANT, 0)


def test_ranking_metrics_names_every_metric_at_each_k(hits):
    out = ranking_metrics(RECOMMENDED, hits, N_RELEVANT, 10, ks=(2, 4))
    assert set(out) == {f"{m}_at_{k}" for m in METRIC_NAMES for k in (2, 4)} | {"users"}
    assert out["ndcg_at_4"] == pytest.approx(ndcg_at_k(hits, N_RELEVANT, 4))
