"""The neural candidate's estimator (ml/common/neural.py): it learns a shape no monotone score
can, and the same rows and seed give the same model."""

from __future__ import annotations

import numpy as np

from shop_pipeline.ml.common.neural import neural_classifier


def _middle_band(seed: int):
    # buyers are the rows in a middle band of one feature: no monotone score ranks them
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4000, 3))
    return X, (np.abs(X[:, 0]) < 0.6).astype(int)


def test_the_perceptron_learns_what_a_monotone_score_cannot():
    X, y = _middle_band(0)
    model = neural_classifier(seed=1, n_rows=3000).fit(X[:3000], y[:3000])
    assert float(np.mean(model.predict(X[3000:]) == y[3000:])) > 0.9  # a monotone score: about 0.55


def test_the_same_rows_and_seed_give_the_same_model():
    X, y = _middle_band(1)
    first = neural_classifier(seed=3, n_rows=len(X)).fit(X, y).predict_proba(X)
    again = neural_classifier(seed=3, n_rows=len(X)).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, again)
