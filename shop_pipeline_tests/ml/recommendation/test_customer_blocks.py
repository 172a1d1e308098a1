"""A customer's list depends only on the customer's own rows and the model: scored from a matrix of a
block of customers (as a cluster task holds them: ml/recommendation/spark_score.py) it equals the list
scored with every customer at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shop_pipeline.ml.recommendation.candidates import CANDIDATES, CATEGORY_POPULARITY, fit_candidate
from shop_pipeline.ml.recommendation.data import matrix_from_frame
from shop_pipeline.ml.recommendation.score import recommendations_frame
from shop_pipeline.ml.recommendation.spark_score import whole_customers
from shop_pipeline_tests.ml.recommendation.test_recommend import AS_OF, toy_frame


def _lists(model, frame: pd.DataFrame) -> pd.DataFrame:
    return recommendations_frame(model, matrix_from_frame(frame, AS_OF), AS_OF, "v1", k=8)


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_blocks_of_customers_get_the_lists_of_every_customer_at_once(candidate):
    frame = toy_frame(seed=11, users=80, repeat_category="ca")
    model = fit_candidate(candidate, matrix_from_frame(frame, AS_OF), seed=4)
    whole = _lists(model, frame)
    customers = np.array(sorted(frame["customer_id"].unique()))
    # blocks of unequal size and mixed composition: heavy and light buyers, both home categories
    blocks = [customers[i::5] for i in range(5)] + [customers[:1]]
    for block in blocks:
        got = _lists(model, frame[frame["customer_id"].isin(block)])
        expected = whole[whole["customer_id"].isin(block)].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    if candidate == CATEGORY_POPULARITY:  # the fallback's own candidates, per customer
        assert "popular_in_category" in set(whole["reason"])


def test_chunks_of_sorted_batches_never_split_a_customer():
    frame = toy_frame(seed=2, users=30).sort_values("customer_id").reset_index(drop=True)
    batches = [frame.iloc[i : i + 7] for i in range(0, len(frame), 7)]
    chunks = list(whole_customers(iter(batches), chunk_rows=10))
    assert len(chunks) > 2
    assert pd.concat(chunks, ignore_index=True).equals(frame)  # every row once, in order
    seen: set[str] = set()
    for chunk in chunks:
        ids = set(chunk["customer_id"])
        assert not ids & seen
        seen |= ids
