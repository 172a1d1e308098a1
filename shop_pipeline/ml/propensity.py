"""Customer purchase propensity, churn risk and a simple customer value (no Dagster import).

Question: will a customer buy at least once in the `horizon_days` after the cut-off?
churn_risk = 1 - p_purchase.

Time windows (cut-off convention of `shop_pipeline.features.columns`: features at day D use
events up to and including D; labels at D cover the days D+1 .. D+h):

    two_window (default)      T1 = as_of - 2h, T2 = as_of - h
        train:     features at T1, labels over (T1, T2]
        evaluate:  features at T2, labels over (T2, as_of]      <- the held-out window
        final:     refit on (features at T2, labels over (T2, as_of]), score features at as_of
    single_window (fallback)  when T1 would leave less than `min_history_days` of history
        (e.g. a 273-day horizon on a short transaction log): features at T2, labels over
        (T2, as_of]; the evaluation is REDUCED: customers are split at random (stratified,
        seeded) into train / test inside that one window, so it measures ranking quality but
        not robustness to the passage of time. The plan's `note` says so and the reports show it.
    impossible                when even T2 leaves less than `min_history_days` of history,
        `plan_windows` raises a ValueError naming the dates.

Every label used for training or evaluation ends on or before `as_of`: nothing after the
scoring cut-off influences a model.

Candidates:
    logistic_rfm    the product brief's baseline: log1p + StandardScaler + LogisticRegression on
                    recency_days, frequency, monetary.
    bgnbd           the classic transaction-log model (ml/bgnbd.py): BG/NBD fitted on each
                    customer's frequency, recency and age; P(buy) = 1 - exp(-E[purchases]).
    hgb_calibrated  challenger: HistGradientBoostingClassifier on every numeric customer feature,
                    wrapped in CalibratedClassifierCV (isotonic from 2000 rows, sigmoid below;
                    ensemble=False so scoring runs one booster).
    random          reference for the comparison table: the training base rate plus a seeded
                    jitter of 1e-9 that only breaks ties at random (ROC-AUC ~ 0.5, Brier of the prior).

Value (a simple CLV, a hurdle model):
    expected_orders = p_purchase * E[orders | buys], with E[orders | buys] = 1 + a Poisson
        HistGradientBoostingRegressor fitted on the buyers of the training window (target
        orders - 1); a constant when there are too few buyers.
    expected_spend  = expected_orders * value per order, the customer's historical average
        order value shrunk towards the training window's mean order value with weight
        `AOV_PRIOR_ORDERS` pseudo-orders (a customer with no orders gets the mean).
    Reference: the historical rate, frequency / tenure * horizon. Metric: MAE of expected orders.

Segments (thresholds are p_purchase quantiles of the final training window, stored with the
model so that segments mean the same thing from one scoring run to the next):
    new          tenure below NEW_CUSTOMER_DAYS days (first seen recently), whatever p
    champions    p_purchase at or above the 80th percentile
    loyal        p_purchase at or above the median
    at_risk      below the median but has bought before (frequency >= 1)
    hibernating  everyone else (never bought, low propensity)

Bad input: label windows with a single class (or fewer than MIN_CLASS_COUNT members of a
class) raise `SingleClassLabelsError` naming the window and the counts; customers with one
event are ordinary rows (features are NULL-safe: NULLs are handled natively by the booster and
imputed with the training median by the logistic model); scores are never NaN.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from shop_pipeline.features.columns import CUSTOMER_FEATURES
from shop_pipeline.ml import metrics as M
from shop_pipeline.ml.bgnbd import COLUMNS as BGNBD_COLUMNS
from shop_pipeline.ml.bgnbd import BetaGeoClassifier
from shop_pipeline.ml.promotion import select_serving
from shop_pipeline.ml.threads import threads_for

MODEL_NAME = "customer_propensity"
RFM_COLUMNS = ("recency_days", "frequency", "monetary")
NON_FEATURE_COLUMNS = ("customer_id", "as_of", "first_seen", "last_seen")
ALL_NUMERIC_COLUMNS = tuple(c for c in CUSTOMER_FEATURES if c not in NON_FEATURE_COLUMNS)

BASELINE = "logistic_rfm"
CHALLENGER = "hgb_calibrated"
RANDOM = "random"
BGNBD = "bgnbd"
CANDIDATES = (BASELINE, BGNBD, CHALLENGER, RANDOM)
SERVABLE = (BASELINE, BGNBD, CHALLENGER)   # simpler first: a tie serves the simpler one
SELECTION_METRIC = "roc_auc"
CANDIDATE_COLUMNS = {BASELINE: RFM_COLUMNS, BGNBD: BGNBD_COLUMNS, CHALLENGER: ALL_NUMERIC_COLUMNS, RANDOM: ()}

SEGMENTS = ("new", "champions", "loyal", "at_risk", "hibernating")
NEW_CUSTOMER_DAYS = 30
MIN_CLASS_COUNT = 5
MIN_HISTORY_DAYS = 7
MIN_BUYERS_FOR_ORDERS_MODEL = 30
AOV_PRIOR_ORDERS = 2.0
SCORE_BATCH_ROWS = 250_000
SCORE_COLUMNS = ("customer_id", "p_purchase", "churn_risk", "expected_orders",
                 "expected_spend", "segment", "model_version", "as_of")


class SingleClassLabelsError(ValueError):
    """A label window in which (almost) nobody or (almost) everybody bought."""


# ---------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class WindowPlan:
    """Which cut-offs train, evaluate and score; see the module docstring."""

    mode: str                      # "two_window" | "single_window"
    as_of: dt.date                 # scoring cut-off (features at as_of)
    horizon_days: int
    data_start: dt.date            # first day with events
    train_cutoff: dt.date | None   # T1 (two_window only)
    eval_cutoff: dt.date           # T2: features of the held-out window / of the final refit
    note: str

    @property
    def train_label_window(self) -> tuple[dt.date, dt.date] | None:
        """Inclusive days of the training labels (None in single_window mode)."""
        if self.train_cutoff is None:
            return None
        return (self.train_cutoff + dt.timedelta(days=1), self.eval_cutoff)

    @property
    def eval_label_window(self) -> tuple[dt.date, dt.date]:
        """Inclusive days of the evaluation labels (also the final refit's labels)."""
        return (self.eval_cutoff + dt.timedelta(days=1), self.as_of)


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def plan_windows(as_of: Any, horizon_days: int, data_start: Any,
                 min_history_days: int = MIN_HISTORY_DAYS) -> WindowPlan:
    """Choose the windows for `as_of` and `horizon_days` given the first day with data."""
    as_of, data_start = _as_date(as_of), _as_date(data_start)
    if int(horizon_days) < 1:
        raise ValueError(f"propensity horizon must be at least 1 day, got {horizon_days}")
    h = int(horizon_days)
    if as_of < data_start:
        raise ValueError(f"as_of {as_of} is before the first day with data ({data_start})")
    t2 = as_of - dt.timedelta(days=h)
    t1 = as_of - dt.timedelta(days=2 * h)
    earliest = data_start + dt.timedelta(days=min_history_days - 1)
    if t1 >= earliest:
        return WindowPlan("two_window", as_of, h, data_start, t1, t2,
                          f"train: features at {t1}, labels {t1 + dt.timedelta(days=1)}..{t2}; "
                          f"held-out: features at {t2}, labels {t2 + dt.timedelta(days=1)}..{as_of}")
    if t2 >= earliest:
        return WindowPlan("single_window", as_of, h, data_start, None, t2,
                          f"REDUCED evaluation: a {h}-day horizon needs data from {t1} for a "
                          f"held-out time window but data starts {data_start}; trained and "
                          f"evaluated on one window (features at {t2}, labels "
                          f"{t2 + dt.timedelta(days=1)}..{as_of}) with customers split at random")
    raise ValueError(
        f"propensity horizon of {h} days is too long for the data: as_of {as_of} minus {h} days "
        f"is {t2}, but data starts {data_start} and features need at least {min_history_days} "
        f"days of history (first usable cut-off {earliest}); use a shorter horizon or a later as_of")


# ---------------------------------------------------------------------------- data helpers


def feature_matrix(features: pd.DataFrame, columns: tuple[str, ...] | list[str]) -> np.ndarray:
    """float64 matrix of `columns`; infinities become NaN, negatives are clipped to 0
    (every customer feature is a non-negative count, sum, rate or number of days)."""
    if not columns:
        return np.empty((len(features), 0))
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"customer features are missing columns {missing}")
    X = features.loc[:, list(columns)].to_numpy(dtype=np.float64, na_value=np.nan)
    X[~np.isfinite(X)] = np.nan
    np.maximum(X, 0.0, out=X, where=~np.isnan(X))
    return X


def join_labels(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Features left-joined with labels on customer_id; a customer without a label row did not
    buy (purchased 0, orders 0, spend 0). Customers first seen in the label window have no
    features and are not part of the frame."""
    lab = labels.loc[:, ["customer_id", "purchased", "orders", "spend"]]
    out = features.merge(lab, on="customer_id", how="left", validate="one_to_one")
    out["purchased"] = out["purchased"].fillna(0).astype(np.int8)
    out["orders"] = out["orders"].fillna(0).astype(np.float64)
    out["spend"] = out["spend"].fillna(0).astype(np.float64)
    return out


def check_labels(y: np.ndarray, window: str) -> None:
    y = np.asarray(y)
    n, pos = len(y), int(np.sum(y == 1))
    neg = n - pos
    if min(pos, neg) < MIN_CLASS_COUNT:
        what = ("nobody bought" if pos == 0 else "everybody bought" if neg == 0
                else f"only {min(pos, neg)} {'buyers' if pos < neg else 'non-buyers'}")
        raise SingleClassLabelsError(
            f"label window {window}: {what} ({pos} of {n} customers purchased); a propensity "
            f"model needs at least {MIN_CLASS_COUNT} customers of each class. Choose another "
            f"as_of or horizon, or land more data")


# ---------------------------------------------------------------------------- candidates


def make_classifier(candidate: str, seed: int, n_rows: int, horizon_days: int = 30) -> Any:
    """An unfitted scikit-learn estimator for `candidate` (not for `random`)."""
    if candidate == BGNBD:
        return BetaGeoClassifier(horizon_days=int(horizon_days))
    if candidate == BASELINE:
        return Pipeline([
            ("impute", SimpleImputer(strategy="median")),
            ("log1p", FunctionTransformer(np.log1p, feature_names_out="one-to-one")),
            ("scale", StandardScaler()),
            ("logit", LogisticRegression(C=1.0, max_iter=1000)),
        ])
    if candidate == CHALLENGER:
        hgb = HistGradientBoostingClassifier(
            learning_rate=0.1, max_iter=150, max_leaf_nodes=31, min_samples_leaf=40,
            l2_regularization=1.0, early_stopping=n_rows >= 2000, validation_fraction=0.15,
            n_iter_no_change=10, random_state=seed)
        return CalibratedClassifierCV(hgb, method="isotonic" if n_rows >= 2000 else "sigmoid",
                                      cv=3, ensemble=False)
    raise ValueError(f"unknown propensity candidate {candidate!r}; expected one of {SERVABLE}")


def candidate_parameters(candidate: str, seed: int, n_rows: int) -> dict[str, Any]:
    if candidate == RANDOM:
        return {"candidate": RANDOM, "seed": seed}
    est = make_classifier(candidate, seed, n_rows)
    params = {k: v for k, v in est.get_params(deep=True).items()
              if isinstance(v, (int, float, str, bool, type(None)))}
    return {"candidate": candidate, "seed": seed, "columns": list(CANDIDATE_COLUMNS[candidate]),
            **params}


def _random_scores(n: int, prior: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(prior + rng.random(n) * 1e-9, 0.0, 1.0)


def _predict_proba(model: Any, X: np.ndarray) -> np.ndarray:
    out = np.empty(len(X))
    with threads_for(len(X)):
        for start in range(0, len(X), SCORE_BATCH_ROWS):
            stop = start + SCORE_BATCH_ROWS
            out[start:stop] = model.predict_proba(X[start:stop])[:, 1]
    return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)


# ---------------------------------------------------------------------------- value model


@dataclass
class ValueModel:
    """expected_orders = p * (1 + orders_model(X)); expected_spend = expected_orders * aov."""

    orders_model: Any            # regressor on ALL_NUMERIC_COLUMNS predicting orders - 1
    mean_order_value: float      # training window's mean value per order (the shrinkage target)
    prior_orders: float = AOV_PRIOR_ORDERS

    def orders_if_buying(self, X_all: np.ndarray) -> np.ndarray:
        with threads_for(len(X_all)):
            extra = np.asarray(self.orders_model.predict(X_all), dtype=np.float64)
        return 1.0 + np.clip(np.nan_to_num(extra, nan=0.0), 0.0, None)

    def value_per_order(self, frequency: np.ndarray, avg_order_value: np.ndarray) -> np.ndarray:
        f = np.nan_to_num(frequency, nan=0.0)
        a = np.nan_to_num(avg_order_value, nan=0.0)
        return (f * a + self.prior_orders * self.mean_order_value) / (f + self.prior_orders)


def fit_value_model(frame: pd.DataFrame, seed: int) -> ValueModel:
    """Fit on a features+labels frame (`join_labels`)."""
    buyers = frame[frame["purchased"] == 1]
    total_orders = float(buyers["orders"].sum())
    mean_order_value = (float(buyers["spend"].sum()) / total_orders if total_orders > 0 else
                        float(np.nan_to_num(frame["avg_order_value"].mean(), nan=0.0)))
    target = np.clip(buyers["orders"].to_numpy(np.float64) - 1.0, 0.0, None)
    if len(buyers) >= MIN_BUYERS_FOR_ORDERS_MODEL and target.sum() > 0:
        model = HistGradientBoostingRegressor(loss="poisson", learning_rate=0.1, max_iter=60,
                                              max_leaf_nodes=15, min_samples_leaf=20,
                                              early_stopping=False, random_state=seed)
        with threads_for(len(buyers)):
            model.fit(feature_matrix(buyers, ALL_NUMERIC_COLUMNS), target)
    else:
        model = DummyRegressor(strategy="constant",
                               constant=float(target.mean()) if len(target) else 0.0)
        model.fit(np.zeros((max(len(target), 1), len(ALL_NUMERIC_COLUMNS))),
                  target if len(target) else np.zeros(1))
    return ValueModel(model, max(mean_order_value, 0.0))


def historical_rate_orders(frame: pd.DataFrame, horizon_days: int) -> np.ndarray:
    """Reference: orders per day of tenure so far times the horizon."""
    f = np.nan_to_num(frame["frequency"].to_numpy(np.float64), nan=0.0)
    tenure = np.maximum(np.nan_to_num(frame["tenure_days"].to_numpy(np.float64), nan=1.0), 1.0)
    return f / tenure * horizon_days


# ---------------------------------------------------------------------------- evaluation


@dataclass
class CandidateEvaluation:
    candidate: str
    metrics: dict[str, float]           # roc_auc, pr_auc, brier, lift_at_top_decile, f1, threshold, ...
    fit_seconds: float
    test_scores: np.ndarray = field(repr=False)   # p on the held-out rows (for plots)
    model: Any = field(default=None, repr=False)  # fitted estimator (None for random)


def _score_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    return {
        "roc_auc": float(M.roc_auc(y, p)),
        "pr_auc": float(M.pr_auc(y, p)),
        "brier": float(M.brier(y, p)),
        "lift_at_top_decile": float(M.lift_at_top_decile(y, p)),
        "f1": float(M.f1_at_threshold(y, p, threshold)),
        "threshold": float(threshold),
        "base_rate": float(np.mean(y)),
        "n": float(len(y)),
    }


def _best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    best = M.best_f1_threshold(y, p)
    if isinstance(best, tuple):
        best = best[0]
    return float(best)


def evaluate_candidates(train_X: pd.DataFrame, train_y: np.ndarray | pd.Series,
                        test_X: pd.DataFrame, test_y: np.ndarray | pd.Series, seed: int = 0,
                        candidates: tuple[str, ...] = CANDIDATES,
                        train_window: str = "train", test_window: str = "held-out",
                        horizon_days: int = 30) -> dict[str, CandidateEvaluation]:
    """Fit every candidate on (train_X, train_y) and measure it on (test_X, test_y).

    X are customer-feature frames (CUSTOMER_FEATURES columns), y are 0/1 purchase labels.
    The F1 threshold is chosen on the training rows (best F1 there), never on the test rows.
    """
    ytr = np.asarray(train_y, dtype=np.int8)
    yte = np.asarray(test_y, dtype=np.int8)
    if len(ytr) != len(train_X) or len(yte) != len(test_X):
        raise ValueError("features and labels have different lengths")
    check_labels(ytr, train_window)
    check_labels(yte, test_window)
    out: dict[str, CandidateEvaluation] = {}
    for cand in candidates:
        t0 = time.perf_counter()
        if cand == RANDOM:
            prior = float(ytr.mean())
            p_tr = _random_scores(len(ytr), prior, seed)
            p_te = _random_scores(len(yte), prior, seed + 1)
            model = None
        else:
            cols = CANDIDATE_COLUMNS[cand]
            model = make_classifier(cand, seed, len(ytr), horizon_days)
            with threads_for(len(ytr)):
                model.fit(feature_matrix(train_X, cols), ytr)
            p_tr = _predict_proba(model, feature_matrix(train_X, cols))
            p_te = _predict_proba(model, feature_matrix(test_X, cols))
        secs = time.perf_counter() - t0
        metrics = _score_metrics(yte, p_te, _best_threshold(ytr, p_tr))
        out[cand] = CandidateEvaluation(cand, metrics, secs, p_te, model)
    return out


@dataclass
class ValueEvaluation:
    orders_mae: float                    # hurdle model with the chosen classifier
    orders_mae_historical_rate: float    # reference: frequency / tenure * horizon
    spend_mae: float
    spend_mae_historical_rate: float


def evaluate_value(train: pd.DataFrame, test: pd.DataFrame, p_test: np.ndarray,
                   horizon_days: int, seed: int = 0) -> ValueEvaluation:
    """MAE of expected orders / spend on the held-out rows (frames from `join_labels`)."""
    vm = fit_value_model(train, seed)
    exp_orders = p_test * vm.orders_if_buying(feature_matrix(test, ALL_NUMERIC_COLUMNS))
    vpo = vm.value_per_order(test["frequency"].to_numpy(np.float64),
                             test["avg_order_value"].to_numpy(np.float64))
    hist = historical_rate_orders(test, horizon_days)
    y_orders = test["orders"].to_numpy(np.float64)
    y_spend = test["spend"].to_numpy(np.float64)
    return ValueEvaluation(
        orders_mae=float(np.mean(np.abs(exp_orders - y_orders))),
        orders_mae_historical_rate=float(np.mean(np.abs(hist - y_orders))),
        spend_mae=float(np.mean(np.abs(exp_orders * vpo - y_spend))),
        spend_mae_historical_rate=float(np.mean(np.abs(hist * vpo - y_spend))),
    )


# ---------------------------------------------------------------------------- final model


@dataclass
class FittedPropensity:
    candidate: str
    classifier: Any
    columns: tuple[str, ...]
    value: ValueModel
    segment_thresholds: tuple[float, float]    # (median, 80th percentile) of training p
    horizon_days: int
    threshold: float                            # decision threshold (best F1 on training rows)

    def to_artifact(self) -> dict[str, Any]:
        """Plain dict of scikit-learn objects, numbers and strings (what skops saves)."""
        return {
            "candidate": self.candidate, "classifier": self.classifier,
            "columns": list(self.columns), "orders_model": self.value.orders_model,
            "mean_order_value": float(self.value.mean_order_value),
            "prior_orders": float(self.value.prior_orders),
            "segment_thresholds": [float(x) for x in self.segment_thresholds],
            "horizon_days": int(self.horizon_days), "threshold": float(self.threshold),
        }

    @classmethod
    def from_artifact(cls, art: dict[str, Any]) -> "FittedPropensity":
        return cls(art["candidate"], art["classifier"], tuple(art["columns"]),
                   ValueModel(art["orders_model"], float(art["mean_order_value"]),
                              float(art["prior_orders"])),
                   tuple(float(x) for x in art["segment_thresholds"]),  # type: ignore[arg-type]
                   int(art["horizon_days"]), float(art["threshold"]))


def fit_final(features: pd.DataFrame, labels: pd.DataFrame, candidate: str, horizon_days: int,
              seed: int = 0, window: str = "final") -> FittedPropensity:
    """Refit `candidate` (logistic_rfm or hgb_calibrated) and the value model on one window:
    `features` at the cut-off and `labels` over the horizon after it (CUSTOMER_LABELS)."""
    if candidate not in SERVABLE:
        raise ValueError(f"cannot fit a final model for candidate {candidate!r}")
    frame = join_labels(features, labels)
    y = frame["purchased"].to_numpy(np.int8)
    check_labels(y, window)
    cols = CANDIDATE_COLUMNS[candidate]
    clf = make_classifier(candidate, seed, len(y), horizon_days)
    X = feature_matrix(frame, cols)
    with threads_for(len(y)):
        clf.fit(X, y)
    p = _predict_proba(clf, X)
    q50, q80 = np.quantile(p, [0.5, 0.8])
    return FittedPropensity(candidate, clf, tuple(cols), fit_value_model(frame, seed),
                            (float(q50), float(q80)), int(horizon_days), _best_threshold(y, p))


def evaluate_fitted(fitted: FittedPropensity, test_frame: pd.DataFrame) -> dict[str, float]:
    """Metrics of an already fitted model (e.g. the current champion, loaded from the registry)
    on a held-out frame (`join_labels`), with the model's own stored threshold, so that the gate
    compares champion and challenger on the same window. A champion trained on a later window
    than this one has seen these labels: its numbers are then optimistic, which only makes the
    gate stricter for the challenger."""
    y = test_frame["purchased"].to_numpy(np.int8)
    p = _predict_proba(fitted.classifier, feature_matrix(test_frame, fitted.columns))
    out = _score_metrics(y, p, fitted.threshold)
    exp_orders = p * fitted.value.orders_if_buying(feature_matrix(test_frame, ALL_NUMERIC_COLUMNS))
    out["orders_mae"] = float(np.mean(np.abs(exp_orders - test_frame["orders"].to_numpy(np.float64))))
    return out


def assign_segments(p: np.ndarray, tenure_days: np.ndarray, frequency: np.ndarray,
                    thresholds: tuple[float, float]) -> np.ndarray:
    q50, q80 = thresholds
    tenure = np.nan_to_num(tenure_days, nan=0.0)
    freq = np.nan_to_num(frequency, nan=0.0)
    conds = [tenure < NEW_CUSTOMER_DAYS, p >= q80, p >= q50, freq >= 1]
    return np.select(conds, list(SEGMENTS[:4]), default=SEGMENTS[4])


def score_customers(fitted: FittedPropensity, features: pd.DataFrame, as_of: Any,
                    model_version: str) -> pd.DataFrame:
    """Score every customer of `features` (features at `as_of`); one row per customer,
    columns SCORE_COLUMNS, p_purchase in [0, 1], no NaN."""
    as_of = _as_date(as_of)
    n = len(features)
    p = _predict_proba(fitted.classifier, feature_matrix(features, fitted.columns))
    X_all = feature_matrix(features, ALL_NUMERIC_COLUMNS)
    per_buyer = np.empty(n)
    for start in range(0, n, SCORE_BATCH_ROWS):
        per_buyer[start:start + SCORE_BATCH_ROWS] = fitted.value.orders_if_buying(
            X_all[start:start + SCORE_BATCH_ROWS])
    freq = features["frequency"].to_numpy(np.float64, na_value=np.nan)
    exp_orders = p * per_buyer
    exp_spend = exp_orders * fitted.value.value_per_order(
        freq, features["avg_order_value"].to_numpy(np.float64, na_value=np.nan))
    segment = assign_segments(p, features["tenure_days"].to_numpy(np.float64, na_value=np.nan),
                              freq, fitted.segment_thresholds)
    return pd.DataFrame({
        "customer_id": features["customer_id"].to_numpy(),
        "p_purchase": p,
        "churn_risk": 1.0 - p,
        "expected_orders": np.nan_to_num(exp_orders, nan=0.0),
        "expected_spend": np.nan_to_num(exp_spend, nan=0.0),
        "segment": pd.Categorical(segment, categories=list(SEGMENTS)).astype(str),
        "model_version": model_version,
        "as_of": pd.Timestamp(as_of).date(),
    }, columns=list(SCORE_COLUMNS))


# ---------------------------------------------------------------------------- whole run


@dataclass
class PropensityRun:
    plan: WindowPlan
    evaluations: dict[str, CandidateEvaluation]
    value_evaluation: ValueEvaluation
    chosen: str                     # candidate refit as the final model (best servable one)
    fitted: FittedPropensity
    test_labels: np.ndarray = field(repr=False)
    test_frame: pd.DataFrame = field(repr=False)
    scoring_features: pd.DataFrame = field(repr=False)


def run_propensity(con: Any, as_of: Any, horizon_days: int = 30, seed: int = 0,
                   final_candidate: str | None = None) -> PropensityRun:
    """Build the windows from the warehouse, evaluate every candidate on the held-out window and
    refit `final_candidate` on the most recent complete window; by default the servable
    candidate with the best held-out ROC-AUC (the baseline on a tie; on transaction-only logs
    the logistic RFM model often wins). Scoring is left to the caller
    (score_customers(run.fitted, run.scoring_features, as_of, version)) so that the version
    comes from the registry."""
    from shop_pipeline.features.tables import (customer_features_frame, customer_labels_frame,
                                               landed_range)

    as_of = _as_date(as_of)
    scoring = customer_features_frame(con, as_of)   # raises when as_of is before any data
    if len(scoring) == 0:
        raise ValueError(f"no customers with events on or before as_of {as_of}")
    plan = plan_windows(as_of, horizon_days, landed_range(con)[0])
    t2 = plan.eval_cutoff
    eval_frame = join_labels(customer_features_frame(con, t2),
                             customer_labels_frame(con, t2, plan.horizon_days, known_by=as_of))
    ev_win = f"{plan.eval_label_window[0]}..{plan.eval_label_window[1]}"
    if plan.mode == "two_window":
        t1 = plan.train_cutoff
        train_frame = join_labels(customer_features_frame(con, t1),
                                  customer_labels_frame(con, t1, plan.horizon_days, known_by=as_of))
        tr_win = f"{plan.train_label_window[0]}..{plan.train_label_window[1]}"
        test_frame = eval_frame
    else:
        y_all = eval_frame["purchased"].to_numpy()
        check_labels(y_all, ev_win)
        tr_idx, te_idx = train_test_split(np.arange(len(eval_frame)), test_size=0.3,
                                          random_state=seed, stratify=y_all)
        train_frame = eval_frame.iloc[np.sort(tr_idx)].reset_index(drop=True)
        test_frame = eval_frame.iloc[np.sort(te_idx)].reset_index(drop=True)
        tr_win = f"{ev_win} (70% of customers)"
        ev_win = f"{ev_win} (30% of customers)"
    evals = evaluate_candidates(train_frame, train_frame["purchased"], test_frame,
                                test_frame["purchased"], seed,
                                train_window=tr_win, test_window=ev_win, horizon_days=plan.horizon_days)
    if final_candidate is None:
        final_candidate = select_serving({c: e.metrics for c, e in evals.items()}, list(SERVABLE),
                                         SELECTION_METRIC, higher_is_better=True)
    value_eval = evaluate_value(train_frame, test_frame, evals[final_candidate].test_scores,
                                plan.horizon_days, seed)
    labels_t2 = eval_frame.loc[:, ["customer_id", "purchased", "orders", "spend"]]
    fitted = fit_final(eval_frame.drop(columns=["purchased", "orders", "spend"]), labels_t2,
                       final_candidate, plan.horizon_days, seed, window=ev_win)
    return PropensityRun(plan, evals, value_eval, final_candidate, fitted,
                         test_frame["purchased"].to_numpy(np.int8), test_frame, scoring)


def metrics_rows(run: PropensityRun) -> dict[str, dict[str, float]]:
    """candidate -> metric -> value, with orders_mae on the chosen candidate and the
    historical-rate reference as its own row (for ml.model_evaluations and the report)."""
    rows = {c: dict(e.metrics) for c, e in run.evaluations.items()}
    rows[run.chosen]["orders_mae"] = run.value_evaluation.orders_mae
    rows[run.chosen]["spend_mae"] = run.value_evaluation.spend_mae
    rows["historical_rate"] = {"orders_mae": run.value_evaluation.orders_mae_historical_rate,
                               "spend_mae": run.value_evaluation.spend_mae_historical_rate}
    return rows


def metrics_table_markdown(rows: dict[str, dict[str, float]]) -> str:
    names = ["roc_auc", "pr_auc", "brier", "lift_at_top_decile", "f1", "threshold", "orders_mae",
             "spend_mae"]
    head = "| candidate | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names) + "\n"
    body = ""
    for cand, m in rows.items():
        body += f"| {cand} | " + " | ".join(
            f"{m[k]:.4f}" if k in m and np.isfinite(m[k]) else "-" for k in names) + " |\n"
    return head + body
