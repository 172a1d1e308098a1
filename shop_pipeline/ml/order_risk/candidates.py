"""Order-risk candidates and the fitted model; every score is "higher = riskier", never NaN.

    amount_zscore     the rule of thumb (AmountZScore), a reference every servable model must
                      beat: the amount's z-score against the customer's earlier orders, else
                      against all orders of the training window.
    isolation_forest  unsupervised, needs no labels: median imputation + missing indicators,
                      IsolationForest; score = -score_samples.
    hgb_classifier    the challenger, supervised on chargeback labels: HistGradientBoosting
                      (NULLs handled natively); score = P(fraud).
    mlp               the neural candidate, supervised on the same labels: a two-layer
                      perceptron on median-imputed normal scores (ml/common/neural.py); score =
                      P(fraud); served only when it wins.

FittedOrderRisk is the served model with its flag threshold, saved as a registry artifact.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline

from shop_pipeline.ml.common.neural import neural_classifier
from shop_pipeline.ml.common.threads import threads_for
from shop_pipeline.ml.order_risk.data import FEATURE_COLUMNS, feature_frame

MODEL_NAME = "order_risk"  # in the registry; the assets are order_risk_model, order_risk_champion
AMOUNT_ZSCORE = "amount_zscore"
ISOLATION_FOREST = "isolation_forest"
CHALLENGER = "hgb_classifier"
MLP = "mlp"
CANDIDATES = (AMOUNT_ZSCORE, ISOLATION_FOREST, CHALLENGER, MLP)
SERVABLE = (ISOLATION_FOREST, CHALLENGER, MLP)  # simpler first: a tie serves the simpler one
LABEL_TRAINED = (CHALLENGER, MLP)  # need fraudulent and legitimate labelled orders
REFERENCES = (AMOUNT_ZSCORE,)
GATE_METRIC = "pr_auc"
HIGHER_IS_BETTER = True
REPORTED_METRICS = ("pr_auc", "precision_at_1pct", "precision_at_5pct", "recall_at_budget")
# how a version was chosen (registry parameter "mode"): the classifier on labels, or the isolation
# forest when nothing could be measured (unvalidated: the gate refuses it with a warning)
SUPERVISED, UNSUPERVISED = "supervised", "unsupervised"

MIN_CLASS_COUNT = 5
SCORE_BATCH_ROWS = 200_000


# ---------------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class AmountZScore:
    """The rule of thumb (module docstring); mean / std of the training window's amounts."""

    mean: float
    std: float

    @classmethod
    def fit(cls, features: pd.DataFrame) -> AmountZScore:
        """Mean and std of the amounts; with no rows (0, 1): the fallback then ranks by amount."""
        amounts = features["amount"].to_numpy(np.float64)
        amounts = amounts[np.isfinite(amounts)]
        if len(amounts) == 0:
            return cls(0.0, 1.0)
        std = float(amounts.std())
        return cls(float(amounts.mean()), std if std > 0 else 1.0)

    def score(self, features: pd.DataFrame) -> np.ndarray:
        own = features["amount_zscore"].to_numpy(np.float64, na_value=np.nan)
        amount = np.nan_to_num(features["amount"].to_numpy(np.float64, na_value=np.nan), nan=self.mean)
        shop = (amount - self.mean) / self.std
        return np.nan_to_num(np.where(np.isfinite(own), own, shop), nan=0.0, posinf=1e6, neginf=-1e6)


def make_model(candidate: str, seed: int, n_rows: int, columns: tuple[str, ...] = FEATURE_COLUMNS) -> Pipeline:
    """An unfitted Pipeline for `candidate` (one of SERVABLE)."""
    if candidate == ISOLATION_FOREST:
        prepare = ColumnTransformer(
            [("numeric", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), list(columns))]
        )
        forest = IsolationForest(n_estimators=200, max_samples="auto", contamination="auto", random_state=seed)
        return Pipeline([("columns", prepare), ("forest", forest)])
    if candidate == CHALLENGER:
        prepare = ColumnTransformer([("numeric", "passthrough", list(columns))])
        boost = HistGradientBoostingClassifier(
            learning_rate=0.05,
            max_iter=300,
            max_leaf_nodes=15,
            min_samples_leaf=20,
            l2_regularization=1.0,
            early_stopping=n_rows >= 2000,
            validation_fraction=0.2,
            n_iter_no_change=30,
            random_state=seed,
        )
        return Pipeline([("columns", prepare), ("boost", boost)])
    if candidate == MLP:
        prepare = ColumnTransformer([("numeric", "passthrough", list(columns))])
        return Pipeline([("columns", prepare), ("mlp", neural_classifier(seed, n_rows))])
    raise ValueError(f"unknown order-risk model {candidate!r}; expected one of {SERVABLE}")


def candidate_parameters(candidate: str, seed: int, n_rows: int = 0) -> dict[str, Any]:
    """Plain hyper-parameters of a candidate (for the registry's parameters)."""
    if candidate == AMOUNT_ZSCORE:
        return {"candidate": candidate, "seed": seed}
    params = {
        k: v
        for k, v in make_model(candidate, seed, n_rows).get_params(deep=True).items()
        if isinstance(v, (int, float, str, bool, type(None)))
    }
    return {"candidate": candidate, "seed": seed, "columns": list(FEATURE_COLUMNS), **params}


def model_scores(candidate: str, model: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """Risk scores of a fitted Pipeline (higher = riskier), in batches, never NaN."""
    out = np.empty(len(X))
    with threads_for(len(X)):
        for start in range(0, len(X), SCORE_BATCH_ROWS):
            part = X.iloc[start : start + SCORE_BATCH_ROWS]
            if candidate == ISOLATION_FOREST:
                out[start : start + len(part)] = -model.score_samples(part)
            else:
                out[start : start + len(part)] = model.predict_proba(part)[:, 1]
    return np.nan_to_num(out, nan=0.0)


def fit_model(candidate: str, X: pd.DataFrame, y: np.ndarray | None, seed: int) -> Pipeline:
    model = make_model(candidate, seed, len(X))
    with threads_for(len(X)):
        if candidate == ISOLATION_FOREST:
            model.fit(X)
        else:
            model.fit(X, np.asarray(y, dtype=np.int8))
    return model


def class_problem(y: np.ndarray) -> str | None:
    """Why a supervised model cannot be trained on labels y (None when it can)."""
    pos = int(np.sum(y == 1))
    neg = int(np.sum(y == 0))
    if min(pos, neg) >= MIN_CLASS_COUNT:
        return None
    return (
        f"{pos} fraudulent and {neg} legitimate labelled orders; a supervised model needs at least "
        f"{MIN_CLASS_COUNT} of each"
    )


# ---------------------------------------------------------------------------- the fitted model


@dataclass
class FittedOrderRisk:
    candidate: str  # one of SERVABLE
    pipeline: Any
    columns: tuple[str, ...]
    medians: np.ndarray  # training medians per column (the "typical value" of explanations)
    threshold: float  # flagged when risk_score >= threshold
    alert_budget: float
    training_rows: int
    training_window: tuple[dt.date, dt.date]

    def scores(self, features: pd.DataFrame) -> np.ndarray:
        return model_scores(self.candidate, self.pipeline, feature_frame(features, self.columns))

    def to_artifact(self) -> dict[str, Any]:
        """Plain dict of scikit-learn objects, numbers, strings and arrays (what skops saves)."""
        return {
            "candidate": self.candidate,
            "pipeline": self.pipeline,
            "columns": list(self.columns),
            "medians": np.asarray(self.medians, dtype=np.float64),
            "threshold": float(self.threshold),
            "alert_budget": float(self.alert_budget),
            "training_rows": int(self.training_rows),
            "training_window": [d.isoformat() for d in self.training_window],
        }

    @classmethod
    def from_artifact(cls, art: dict[str, Any]) -> FittedOrderRisk:
        start, end = (dt.date.fromisoformat(d) for d in art["training_window"])
        return cls(
            art["candidate"],
            art["pipeline"],
            tuple(art["columns"]),
            np.asarray(art["medians"]),
            float(art["threshold"]),
            float(art["alert_budget"]),
            int(art["training_rows"]),
            (start, end),
        )
