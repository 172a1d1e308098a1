"""The neural candidate of the classification tournaments (propensity, order risk): a small
multi-layer perceptron, scikit-learn's, so it is saved, loaded and explained like the others.

Customer and order features are counts, money and durations with long right tails and NULLs; a
perceptron needs them on one scale without the tail dominating, so each column is imputed by its
median and mapped to normal scores by its quantiles (no callable in the artifact: skops loads only
scikit-learn types). Two hidden layers of 32 and 16 ReLU units with an L2 penalty; from
EARLY_STOPPING_ROWS rows, training stops when a held-back tenth stops improving, so a fit takes
seconds rather than MAX_EPOCHS epochs. Seeded: the same rows give the same model.
"""

from __future__ import annotations

from sklearn.impute import SimpleImputer
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer

HIDDEN_UNITS = (32, 16)
L2_PENALTY = 1e-3
MAX_EPOCHS = 200
EARLY_STOPPING_ROWS = 2000
MAX_QUANTILES = 1000


def neural_classifier(seed: int, n_rows: int) -> Pipeline:
    """An unfitted perceptron pipeline for about `n_rows` training rows."""
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            (
                "normal_scores",
                QuantileTransformer(
                    n_quantiles=max(10, min(MAX_QUANTILES, n_rows)), output_distribution="normal", random_state=seed
                ),
            ),
            (
                "mlp",
                MLPClassifier(
                    hidden_layer_sizes=HIDDEN_UNITS,
                    alpha=L2_PENALTY,
                    max_iter=MAX_EPOCHS,
                    early_stopping=n_rows >= EARLY_STOPPING_ROWS,
                    validation_fraction=0.1,
                    n_iter_no_change=10,
                    random_state=seed,
                ),
            ),
        ]
    )
