"""Propensity candidates: P(buy in the next h days), the value models (expected orders and spend)
and the fitted model that scores (FittedPropensity).

p_purchase (chosen on the held-out ROC-AUC, GATE_METRIC; a tie serves the simpler one):
    logistic_rfm    baseline: log1p + scaling + logistic regression on
                    recency, frequency, monetary (supervised).
    bgnbd / mbgnbd  BG/NBD and MBG/NBD (bgnbd.py, mbgnbd.py) on each customer's purchase history,
                    P(buy) = 1 - exp(-E[purchases]); no labels, any horizon.
    hgb_calibrated  gradient boosting on every numeric customer feature, calibrated (isotonic
                    from 2000 rows, sigmoid below; one booster at scoring) (supervised).
    mlp             the neural candidate: a two-layer perceptron (32, 16 ReLU units, L2 penalty,
                    early stopping on a tenth of the rows) on every numeric customer feature
                    mapped to normal scores by their quantiles (supervised; served only when it wins).
    random          reference: the base rate with a seeded jitter that only breaks ties.

Value (expected_orders, chosen on the held-out orders RMSE; a later one in VALUE_CANDIDATES must
cut it by VALUE_MIN_IMPROVEMENT): hurdle = p_purchase x (1 + a Poisson booster of orders - 1 fitted on the
buyers), bgnbd / mbgnbd / pnbd (Pareto/NBD, pnbd.py: value only) = their conditional
expectation; historical_rate is the reference.
expected_spend = expected orders x value per order: Gamma-Gamma (gamma_gamma.py) when it can be
trusted, else the customer's average order value shrunk towards the history's mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from shop_pipeline.ml.common.neural import neural_classifier
from shop_pipeline.ml.common.threads import threads_for
from shop_pipeline.ml.propensity.bgnbd import COLUMNS as BGNBD_COLUMNS
from shop_pipeline.ml.propensity.bgnbd import BetaGeoClassifier
from shop_pipeline.ml.propensity.data import ALL_NUMERIC_COLUMNS, RFM_COLUMNS, feature_matrix
from shop_pipeline.ml.propensity.gamma_gamma import GammaGamma, fit_gamma_gamma
from shop_pipeline.ml.propensity.mbgnbd import ModifiedBetaGeoClassifier
from shop_pipeline.ml.propensity.pnbd import ParetoNBDClassifier

MODEL_NAME = "propensity"  # in the registry; the assets are propensity_model, propensity_champion
BASELINE = "logistic_rfm"
CHALLENGER = "hgb_calibrated"
MLP = "mlp"
RANDOM = "random"
BGNBD = "bgnbd"
MBGNBD = "mbgnbd"
PNBD = "pnbd"
CANDIDATES = (BASELINE, BGNBD, MBGNBD, CHALLENGER, MLP, RANDOM)
SERVABLE = (BASELINE, BGNBD, MBGNBD, CHALLENGER, MLP)  # simpler first: a tie serves the simpler one
PROBABILISTIC = (BGNBD, MBGNBD)  # fitted on the history, no labels
SUPERVISED = (BASELINE, CHALLENGER, MLP)  # need a labelled training window
GATE_METRIC = "roc_auc"
HIGHER_IS_BETTER = True
REPORTED_METRICS = (
    "roc_auc",
    "pr_auc",
    "brier",
    "lift_at_top_decile",
    "f1",
    "orders_mae",
    "orders_rmse",
    "orders_total_error_pct",
    "orders_buys_again_auc",
)
# registry parameters: the servable candidates that competed in a version (the supervised ones do
# not when the history holds no labelled training window; the gate compares with those that did),
# and the value model it serves
COMPETED_PARAMETER = "competed_candidates"
VALUE_PARAMETER = "value_candidate"
CANDIDATE_COLUMNS = {
    BASELINE: RFM_COLUMNS,
    BGNBD: BGNBD_COLUMNS,
    MBGNBD: BGNBD_COLUMNS,
    PNBD: BGNBD_COLUMNS,
    CHALLENGER: ALL_NUMERIC_COLUMNS,
    MLP: ALL_NUMERIC_COLUMNS,
    RANDOM: (),
}
PROBABILISTIC_MODELS = {BGNBD: BetaGeoClassifier, MBGNBD: ModifiedBetaGeoClassifier, PNBD: ParetoNBDClassifier}

HURDLE = "hurdle"
HISTORICAL_RATE = "historical_rate"
# preferred first: a tie serves the earlier one. Pareto/NBD first: BG/NBD and MBG/NBD are its
# discrete-drop-out approximations with the same four parameters, its history likelihood was the
# highest on every benchmark shop, and where their held-out RMSE tied it kept the total of expected
# orders within 1.5% where BG/NBD was 7% high (docs/benchmarks.md, Customer value)
VALUE_CANDIDATES = (PNBD, BGNBD, MBGNBD, HURDLE)
VALUE_PROBABILISTIC = (BGNBD, MBGNBD, PNBD)  # value models fitted on the history alone
VALUE_SELECTION_METRIC = "orders_rmse"
VALUE_MIN_IMPROVEMENT = 0.01  # a more complex value model must cut the held-out RMSE by 1%
MIN_BUYERS_FOR_ORDERS_MODEL = 30
AOV_PRIOR_ORDERS = 2.0
DEFAULT_THRESHOLD = 0.5  # decision threshold of a model fitted without labels
SCORE_BATCH_ROWS = 250_000


def make_classifier(candidate: str, seed: int, n_rows: int, horizon_days: int = 30) -> Any:
    """An unfitted scikit-learn estimator for `candidate` (not for `random`)."""
    if candidate in PROBABILISTIC_MODELS:
        return PROBABILISTIC_MODELS[candidate](horizon_days=int(horizon_days))
    if candidate == BASELINE:
        return Pipeline(
            [
                ("impute", SimpleImputer(strategy="median")),
                ("log1p", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
                ("scale", StandardScaler()),
                ("logit", LogisticRegression(C=1.0, max_iter=1000)),
            ]
        )
    if candidate == CHALLENGER:
        hgb = HistGradientBoostingClassifier(
            learning_rate=0.1,
            max_iter=150,
            max_leaf_nodes=31,
            min_samples_leaf=40,
            l2_regularization=1.0,
            early_stopping=n_rows >= 2000,
            validation_fraction=0.15,
            n_iter_no_change=10,
            random_state=seed,
        )
        return CalibratedClassifierCV(hgb, method="isotonic" if n_rows >= 2000 else "sigmoid", cv=3, ensemble=False)
    if candidate == MLP:
        return neural_classifier(seed, n_rows)
    raise ValueError(f"unknown propensity candidate {candidate!r}; expected one of {SERVABLE}")


def candidate_parameters(candidate: str, seed: int, n_rows: int) -> dict[str, Any]:
    if candidate == RANDOM:
        return {"candidate": RANDOM, "seed": seed}
    est = make_classifier(candidate, seed, n_rows)
    params = {k: v for k, v in est.get_params(deep=True).items() if isinstance(v, (int, float, str, bool, type(None)))}
    return {"candidate": candidate, "seed": seed, "columns": list(CANDIDATE_COLUMNS[candidate]), **params}


def fit_probabilistic(candidate: str, features: pd.DataFrame, horizon_days: int) -> Any:
    """BG/NBD, MBG/NBD or Pareto/NBD fitted on the purchase history summarised in `features` (no labels)."""
    model = make_classifier(candidate, 0, len(features), horizon_days)
    return model.fit(feature_matrix(features, CANDIDATE_COLUMNS[candidate]))


def at_horizon(model: Any, horizon_days: int) -> Any:
    """A probabilistic model predicting `horizon_days` instead of its own horizon (same fit)."""
    return type(model).from_params(model.params_, horizon_days)


def random_scores(n: int, prior: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(prior + rng.random(n) * 1e-9, 0.0, 1.0)


def purchase_probability(model: Any, X: np.ndarray) -> np.ndarray:
    out = np.empty(len(X))
    with threads_for(len(X)):
        for start in range(0, len(X), SCORE_BATCH_ROWS):
            stop = start + SCORE_BATCH_ROWS
            out[start:stop] = model.predict_proba(X[start:stop])[:, 1]
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)


def fit_hurdle_orders(frame: pd.DataFrame, seed: int) -> Any:
    """Regressor of orders - 1 for the buyers of a labelled frame (`join_labels`): a Poisson
    booster, or a constant with fewer than MIN_BUYERS_FOR_ORDERS_MODEL buyers."""
    buyers = frame[frame["purchased"] == 1]
    target = np.clip(buyers["orders"].to_numpy(np.float64) - 1.0, 0.0, None)
    if len(buyers) >= MIN_BUYERS_FOR_ORDERS_MODEL and target.sum() > 0:
        model = HistGradientBoostingRegressor(
            loss="poisson",
            learning_rate=0.1,
            max_iter=60,
            max_leaf_nodes=15,
            min_samples_leaf=20,
            early_stopping=False,
            random_state=seed,
        )
        with threads_for(len(buyers)):
            model.fit(feature_matrix(buyers, ALL_NUMERIC_COLUMNS), target)
        return model
    model = DummyRegressor(strategy="constant", constant=float(target.mean()) if len(target) else 0.0)
    model.fit(np.zeros((max(len(target), 1), len(ALL_NUMERIC_COLUMNS))), target if len(target) else np.zeros(1))
    return model


def history_mean_order_value(features: pd.DataFrame) -> float:
    """Spend per order over every order in the history (0 without orders)."""
    orders = float(np.nansum(features["frequency"].to_numpy(np.float64, na_value=np.nan)))
    spend = float(np.nansum(features["monetary"].to_numpy(np.float64, na_value=np.nan)))
    return max(spend / orders, 0.0) if orders > 0 else 0.0


@dataclass
class ValueModel:
    """expected_orders (hurdle: p * (1 + orders_model(X)); bgnbd / mbgnbd / pnbd: the model's
    conditional expectation) and the value per order (Gamma-Gamma, else shrunk average)."""

    kind: str  # HURDLE | BGNBD | MBGNBD | PNBD
    orders_model: Any  # hurdle: regressor of orders - 1; else the fitted probabilistic model
    mean_order_value: float  # history's mean value per order (the shrinkage target)
    gamma_gamma: GammaGamma | None = None
    prior_orders: float = AOV_PRIOR_ORDERS

    def orders_if_buying(self, X_all: np.ndarray) -> np.ndarray:
        with threads_for(len(X_all)):
            extra = np.asarray(self.orders_model.predict(X_all), dtype=np.float64)
        return 1.0 + np.clip(np.nan_to_num(extra, nan=0.0), 0.0, None)

    def expected_orders(self, features: pd.DataFrame, p: np.ndarray, horizon_days: int | None = None) -> np.ndarray:
        """Expected orders over `horizon_days` (default: the model's own horizon)."""
        out = np.empty(len(features))
        for start in range(0, len(features), SCORE_BATCH_ROWS):
            part = features.iloc[start : start + SCORE_BATCH_ROWS]
            if self.kind == HURDLE:
                got = p[start : start + SCORE_BATCH_ROWS] * self.orders_if_buying(
                    feature_matrix(part, ALL_NUMERIC_COLUMNS)
                )
            else:
                got = self.orders_model.expected_purchases(feature_matrix(part, BGNBD_COLUMNS), horizon_days)
            out[start : start + SCORE_BATCH_ROWS] = got
        return np.clip(np.nan_to_num(out, nan=0.0), 0.0, None)

    def value_per_order(self, frequency: np.ndarray, avg_order_value: np.ndarray) -> np.ndarray:
        if self.gamma_gamma is not None:
            return self.gamma_gamma.expected_order_value(frequency, avg_order_value)
        f = np.nan_to_num(frequency, nan=0.0)
        a = np.nan_to_num(avg_order_value, nan=0.0)
        return (f * a + self.prior_orders * self.mean_order_value) / (f + self.prior_orders)


def fit_spend_per_order(history: pd.DataFrame) -> tuple[float, GammaGamma | None]:
    """The spend-per-order part of a value model fitted on `history` (features at the cut-off):
    the history's mean order value (the shrinkage target) and Gamma-Gamma (None if untrusted)."""
    gg = fit_gamma_gamma(
        history["frequency"].to_numpy(np.float64, na_value=np.nan),
        history["avg_order_value"].to_numpy(np.float64, na_value=np.nan),
    )
    return history_mean_order_value(history), gg


def fit_value_model(
    kind: str,
    history: pd.DataFrame,
    horizon_days: int,
    seed: int = 0,
    labelled: pd.DataFrame | None = None,
    probabilistic: Any = None,
    spend: tuple[float, GammaGamma | None] | None = None,
) -> ValueModel:
    """Fit the value model `kind`: the spend per order on `history` (features at the cut-off)
    unless already fitted there (`spend`, from `fit_spend_per_order`); hurdle's orders model on
    `labelled` (`join_labels`), a probabilistic one on `history` unless an already fitted
    `probabilistic` model (same history) is given."""
    if kind == HURDLE:
        if labelled is None:
            raise ValueError("the hurdle value model needs a labelled window")
        orders_model = fit_hurdle_orders(labelled, seed)
    elif kind in PROBABILISTIC_MODELS:
        orders_model = (
            at_horizon(probabilistic, horizon_days)
            if probabilistic is not None
            else fit_probabilistic(kind, history, horizon_days)
        )
    else:
        raise ValueError(f"unknown value model {kind!r}; expected one of {VALUE_CANDIDATES}")
    mean_order_value, gg = fit_spend_per_order(history) if spend is None else spend
    return ValueModel(kind, orders_model, mean_order_value, gg)


def historical_rate_orders(frame: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """Reference: orders per day of tenure so far times the horizon."""
    f = np.nan_to_num(frame["frequency"].to_numpy(np.float64), nan=0.0)
    tenure = np.maximum(np.nan_to_num(frame["tenure_days"].to_numpy(np.float64), nan=1.0), 1.0)
    return f / tenure * horizon_days


@dataclass
class FittedPropensity:
    candidate: str
    classifier: Any
    columns: tuple[str, ...]
    value: ValueModel
    segment_thresholds: tuple[float, float]  # (median, 80th percentile) of the final fit's p
    horizon_days: int
    threshold: float  # decision threshold (best F1 on training rows)

    def to_artifact(self) -> dict[str, Any]:
        """Plain dict of scikit-learn objects, numbers, strings and numpy arrays (what skops
        saves): the probabilistic models are stored as their fitted parameters."""
        probabilistic = self.candidate in PROBABILISTIC_MODELS
        value_probabilistic = self.value.kind in PROBABILISTIC_MODELS
        gg = self.value.gamma_gamma
        return {
            "candidate": self.candidate,
            "classifier": None if probabilistic else self.classifier,
            "classifier_params": np.asarray(self.classifier.params_) if probabilistic else None,
            "columns": list(self.columns),
            "value_kind": self.value.kind,
            "orders_model": None if value_probabilistic else self.value.orders_model,
            "orders_model_params": np.asarray(self.value.orders_model.params_) if value_probabilistic else None,
            "gamma_gamma": gg.to_array() if gg is not None else None,
            "mean_order_value": float(self.value.mean_order_value),
            "prior_orders": float(self.value.prior_orders),
            "segment_thresholds": [float(x) for x in self.segment_thresholds],
            "horizon_days": int(self.horizon_days),
            "threshold": float(self.threshold),
        }

    @classmethod
    def from_artifact(cls, art: dict[str, Any]) -> FittedPropensity:
        """Also reads artifacts from before the value models (hurdle value, classifier object)."""
        horizon = int(art["horizon_days"])
        candidate = art["candidate"]
        classifier = (
            PROBABILISTIC_MODELS[candidate].from_params(art["classifier_params"], horizon)
            if art.get("classifier_params") is not None
            else art["classifier"]
        )
        kind = art.get("value_kind", HURDLE)
        orders_model = (
            PROBABILISTIC_MODELS[kind].from_params(art["orders_model_params"], horizon)
            if kind in PROBABILISTIC_MODELS
            else art["orders_model"]
        )
        gg = GammaGamma.from_array(art["gamma_gamma"]) if art.get("gamma_gamma") is not None else None
        value = ValueModel(kind, orders_model, float(art["mean_order_value"]), gg, float(art["prior_orders"]))
        return cls(
            candidate,
            classifier,
            tuple(art["columns"]),
            value,
            tuple(float(x) for x in art["segment_thresholds"]),  # type: ignore[arg-type]
            horizon,
            float(art["threshold"]),
        )


def competed_candidates(row: Any) -> list[str]:
    """The servable candidates that competed in registered version `row` (every servable one for
    versions registered before the calibration / holdout set-up, which recorded none)."""
    competed = row.parameters.get(COMPETED_PARAMETER) if row is not None else None
    return [c for c in SERVABLE if c in competed] if competed else list(SERVABLE)
