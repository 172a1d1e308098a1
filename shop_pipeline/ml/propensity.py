"""Customer purchase propensity, churn risk and customer value (no Dagster import).

Question: will a customer buy at least once in the `horizon_days` (h) after the cut-off, and
how many orders / how much spend will they make in them? churn_risk = 1 - p_purchase.

Two kinds of models, which need different data:

    probabilistic (bgnbd, mbgnbd)    fitted on each customer's purchase history alone (frequency,
        recency, age): no labelled window. Any horizon works from the calibration data alone.
    supervised (logistic_rfm, hgb_calibrated, and the `hurdle` value model)    learn from a
        labelled window: features at a cut-off and what the customers did in the h days after.

Time windows (cut-off convention of `shop_pipeline.features.columns`: features at day D use
events up to and including D; labels at D cover the days D+1 .. D+h):

    two_window             T1 = as_of - 2h, T2 = as_of - h; needs T1 at least MIN_HISTORY_DAYS
        into the data AND a training window holding at least MIN_SUPERVISED_CUSTOMERS customers
        and MIN_SUPERVISED_BUYERS buyers (and as many buyers in the held-out window):
        supervised train:  features at T1, labels over (T1, T2]
        probabilistic:     calibration = the history up to T2 (features at T2), no labels
        evaluate all:      features at T2, labels over (T2, as_of]      <- the held-out window
        final:             supervised refit on (features at T2, labels (T2, as_of]); probabilistic
                           refit on the whole history (features at as_of); scores at as_of
    calibration_holdout    otherwise: the classic calibration / holdout set-up of the
        probabilistic models. Calibration = the history up to T2, holdout = (T2, as_of] with
        T2 = as_of - h when that leaves at least MIN_CALIBRATION_DAYS of calibration; a horizon
        longer than the history minus MIN_CALIBRATION_DAYS is evaluated on a shorter holdout
        (the later part of the history, the calibration keeping at least half of it and
        MIN_CALIBRATION_DAYS) while the served model still predicts h days (its horizon is a
        parameter, not something it learnt). Supervised candidates do not compete; the plan's
        `note` says why, and the reports show it.
    not enough data        fewer than MIN_CALIBRATION_DAYS + MIN_HOLDOUT_DAYS days of history:
        `NotEnoughData` with one line naming the days.

Nothing after the scoring cut-off influences a model: every label ends on or before `as_of`.

p_purchase candidates (chosen on the held-out ROC-AUC, `SELECTION_METRIC`):
    logistic_rfm    the product brief's baseline: log1p + StandardScaler + LogisticRegression on
                    recency_days, frequency, monetary.                            (supervised)
    bgnbd           BG/NBD (ml/bgnbd.py), P(buy) = 1 - exp(-E[purchases]).       (probabilistic)
    mbgnbd          MBG/NBD (ml/mbgnbd.py): BG/NBD that lets one-time buyers drop out too.
                                                                                 (probabilistic)
    hgb_calibrated  HistGradientBoostingClassifier on every numeric customer feature, wrapped in
                    CalibratedClassifierCV (isotonic from 2000 rows, sigmoid below;
                    ensemble=False so scoring runs one booster).                  (supervised)
    random          reference: the base rate plus a seeded 1e-9 jitter that only breaks ties
                    (ROC-AUC ~ 0.5). Base rate = the training labels' (two_window), else the
                    probabilistic models' mean P(buy) on the calibration customers (no label).

Value (expected_orders over h; a model in its own right, chosen on count metrics of the
held-out window, `VALUE_SELECTION_METRIC` = orders RMSE, ml/value_metrics.py: MAE, RMSE,
total error %, ROC-AUC of "buys again"; a more complex candidate serves only when it cuts
the RMSE of the simpler ones by VALUE_MIN_IMPROVEMENT, 1% relative):
    hurdle    (supervised) p_purchase of the served classifier * E[orders | buys], with
              E[orders | buys] = 1 + a Poisson HistGradientBoostingRegressor fitted on the
              buyers of the training window (target orders - 1); a constant with few buyers.
    bgnbd / mbgnbd   the model's conditional expectation E[X(h) | x, t_x, T].
    historical_rate  reference only: frequency / tenure * horizon.
expected_spend = expected_orders x value per order: Gamma-Gamma (ml/gamma_gamma.py, fitted on
the history of the same cut-off) when it can be trusted, else the customer's average order
value shrunk towards the history's mean order value with AOV_PRIOR_ORDERS pseudo-orders.

Segments (thresholds are p_purchase quantiles of the final fit's customers, stored with the
model so that segments mean the same thing from one scoring run to the next):
    new          tenure below NEW_CUSTOMER_DAYS days (first seen recently), whatever p
    champions    p_purchase at or above the 80th percentile
    loyal        p_purchase at or above the median
    at_risk      below the median but has bought before (frequency >= 1)
    hibernating  everyone else (never bought, low propensity)

Bad input: a held-out window with a single class (or fewer than MIN_CLASS_COUNT members of a
class) raises `SingleClassLabelsError` (a NotEnoughData: the run skips the model with that
line); customers with one event are ordinary rows (features are NULL-safe); scores are never NaN.
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
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from shop_pipeline.features.columns import CUSTOMER_FEATURES
from shop_pipeline.ml.common import metrics as M
from shop_pipeline.ml.bgnbd import COLUMNS as BGNBD_COLUMNS
from shop_pipeline.ml.bgnbd import BetaGeoClassifier
from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.gamma_gamma import GammaGamma, fit_gamma_gamma
from shop_pipeline.ml.mbgnbd import ModifiedBetaGeoClassifier
from shop_pipeline.ml.common.promotion import select_serving
from shop_pipeline.ml.common.threads import threads_for
from shop_pipeline.ml.value_metrics import count_metrics

MODEL_NAME = "customer_propensity"
RFM_COLUMNS = ("recency_days", "frequency", "monetary")
NON_FEATURE_COLUMNS = ("customer_id", "as_of", "first_seen", "last_seen")
ALL_NUMERIC_COLUMNS = tuple(c for c in CUSTOMER_FEATURES if c not in NON_FEATURE_COLUMNS)

BASELINE = "logistic_rfm"
CHALLENGER = "hgb_calibrated"
RANDOM = "random"
BGNBD = "bgnbd"
MBGNBD = "mbgnbd"
CANDIDATES = (BASELINE, BGNBD, MBGNBD, CHALLENGER, RANDOM)
SERVABLE = (BASELINE, BGNBD, MBGNBD, CHALLENGER)   # simpler first: a tie serves the simpler one
PROBABILISTIC = (BGNBD, MBGNBD)                    # fitted on the history, no labels
SUPERVISED = (BASELINE, CHALLENGER)                # need a labelled training window
SELECTION_METRIC = "roc_auc"
CANDIDATE_COLUMNS = {BASELINE: RFM_COLUMNS, BGNBD: BGNBD_COLUMNS, MBGNBD: BGNBD_COLUMNS,
                     CHALLENGER: ALL_NUMERIC_COLUMNS, RANDOM: ()}
PROBABILISTIC_MODELS = {BGNBD: BetaGeoClassifier, MBGNBD: ModifiedBetaGeoClassifier}

HURDLE = "hurdle"
HISTORICAL_RATE = "historical_rate"
VALUE_CANDIDATES = (BGNBD, MBGNBD, HURDLE)         # simpler first: a tie serves the simpler one
VALUE_SELECTION_METRIC = "orders_rmse"
VALUE_MIN_IMPROVEMENT = 0.01      # a more complex value model must cut the held-out RMSE by 1%

SEGMENTS = ("new", "champions", "loyal", "at_risk", "hibernating")
NEW_CUSTOMER_DAYS = 30
MIN_CLASS_COUNT = 5
MIN_HISTORY_DAYS = 7              # features of a supervised training window: at least a week of data
MIN_CALIBRATION_DAYS = 28         # a probabilistic model sees repeat purchases in four weeks or more
MIN_HOLDOUT_DAYS = 7
# A supervised candidate competes when each labelled window (training and held-out) holds at
# least these: 40 buyers are 10 per parameter of the baseline logistic regression (3 RFM
# features and the intercept), the usual floor for a stable fit; below them the probabilistic
# models, which need no labels, serve.
MIN_SUPERVISED_CUSTOMERS = 100
MIN_SUPERVISED_BUYERS = 40
MIN_BUYERS_FOR_ORDERS_MODEL = 30
AOV_PRIOR_ORDERS = 2.0
DEFAULT_THRESHOLD = 0.5           # decision threshold of a model fitted without labels
SCORE_BATCH_ROWS = 250_000
SCORE_COLUMNS = ("customer_id", "p_purchase", "churn_risk", "expected_orders",
                 "expected_spend", "segment", "model_version", "as_of")


class SingleClassLabelsError(NotEnoughData):
    """A label window in which (almost) nobody or (almost) everybody bought."""


# ---------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class WindowPlan:
    """Which cut-offs train, evaluate and score; see the module docstring."""

    mode: str                      # "two_window" | "calibration_holdout"
    as_of: dt.date                 # scoring cut-off (features at as_of)
    horizon_days: int              # h: what the served model predicts
    data_start: dt.date            # first day with events
    train_cutoff: dt.date | None   # T1 (two_window only)
    eval_cutoff: dt.date           # T2: end of the calibration, features of the held-out window
    note: str

    @property
    def supervised(self) -> bool:
        return self.mode == "two_window"

    @property
    def eval_horizon_days(self) -> int:
        """Length of the held-out window (h, or shorter in calibration_holdout on short data)."""
        return (self.as_of - self.eval_cutoff).days

    @property
    def train_label_window(self) -> tuple[dt.date, dt.date] | None:
        """Inclusive days of the supervised training labels (None without them)."""
        if self.train_cutoff is None:
            return None
        return (self.train_cutoff + dt.timedelta(days=1), self.eval_cutoff)

    @property
    def eval_label_window(self) -> tuple[dt.date, dt.date]:
        """Inclusive days of the held-out labels (also the supervised final refit's labels)."""
        return (self.eval_cutoff + dt.timedelta(days=1), self.as_of)


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def _day(d: dt.date, n: int) -> dt.date:
    return d + dt.timedelta(days=n)


def calibration_holdout_plan(as_of: Any, horizon_days: int, data_start: Any, why: str) -> WindowPlan:
    """The probabilistic models' calibration / holdout plan (module docstring); `why` says
    why the supervised candidates do not compete. NotEnoughData on too short a history."""
    as_of, data_start = _as_date(as_of), _as_date(data_start)
    h = int(horizon_days)
    span = (as_of - data_start).days + 1          # days with data up to the cut-off
    if span - h >= MIN_CALIBRATION_DAYS:
        holdout = h
    else:
        holdout = span - max(MIN_CALIBRATION_DAYS, span // 2)
    if holdout < MIN_HOLDOUT_DAYS:
        raise NotEnoughData(
            f"customer propensity and value: need {MIN_CALIBRATION_DAYS + MIN_HOLDOUT_DAYS} days of history "
            f"before the cut-off ({MIN_CALIBRATION_DAYS} to calibrate, {MIN_HOLDOUT_DAYS} to hold out), "
            f"have {span} ({data_start}..{as_of})")
    t2 = _day(as_of, -holdout)
    shorter = (f"; the {h}-day horizon does not fit after {MIN_CALIBRATION_DAYS} days of calibration, so the "
               f"held-out window is the last {holdout} days (the served model still predicts {h} days)"
               if holdout < h else "")
    note = (f"calibration / holdout: probabilistic models fitted on the history {data_start}..{t2}, held out "
            f"{_day(t2, 1)}..{as_of}, refit on the whole history for scoring{shorter}; supervised "
            f"candidates do not compete: {why}")
    return WindowPlan("calibration_holdout", as_of, h, data_start, None, t2, note)


def plan_windows(as_of: Any, horizon_days: int, data_start: Any,
                 min_history_days: int = MIN_HISTORY_DAYS) -> WindowPlan:
    """Choose the windows for `as_of` and `horizon_days` given the first day with data (by the
    dates only; `run_propensity` also checks that the training window holds enough customers)."""
    as_of, data_start = _as_date(as_of), _as_date(data_start)
    if int(horizon_days) < 1:
        raise ValueError(f"propensity horizon must be at least 1 day, got {horizon_days}")
    h = int(horizon_days)
    if as_of < data_start:
        raise ValueError(f"as_of {as_of} is before the first day with data ({data_start})")
    t2 = _day(as_of, -h)
    t1 = _day(as_of, -2 * h)
    earliest = _day(data_start, min_history_days - 1)
    if t1 >= earliest:
        return WindowPlan("two_window", as_of, h, data_start, t1, t2,
                          f"supervised train: features at {t1}, labels {_day(t1, 1)}..{t2}; probabilistic "
                          f"calibration: history {data_start}..{t2}; held-out: features at {t2}, labels "
                          f"{_day(t2, 1)}..{as_of}")
    why = (f"a labelled {h}-day training window needs data from {_day(t1, 1 - min_history_days)} "
           f"({min_history_days} days of features before {t1}, then {h} days of labels before the held-out "
           f"window), data starts {data_start}")
    return calibration_holdout_plan(as_of, h, data_start, why)


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


def supervised_shortfall(train: pd.DataFrame, held_out: pd.DataFrame) -> str | None:
    """Why the labelled windows are too thin for the supervised candidates, or None."""
    buyers_train, buyers_held = int(train["purchased"].sum()), int(held_out["purchased"].sum())
    if len(train) < MIN_SUPERVISED_CUSTOMERS or buyers_train < MIN_SUPERVISED_BUYERS \
            or buyers_held < MIN_SUPERVISED_BUYERS or len(train) - buyers_train < MIN_CLASS_COUNT:
        return (f"the labelled training window holds {len(train)} customers and {buyers_train} buyers "
                f"({buyers_held} buyers held out); supervised candidates need at least "
                f"{MIN_SUPERVISED_CUSTOMERS} customers and {MIN_SUPERVISED_BUYERS} buyers in each window")
    return None


# ---------------------------------------------------------------------------- candidates


def make_classifier(candidate: str, seed: int, n_rows: int, horizon_days: int = 30) -> Any:
    """An unfitted scikit-learn estimator for `candidate` (not for `random`)."""
    if candidate in PROBABILISTIC_MODELS:
        return PROBABILISTIC_MODELS[candidate](horizon_days=int(horizon_days))
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


def fit_probabilistic(candidate: str, features: pd.DataFrame, horizon_days: int) -> Any:
    """BG/NBD or MBG/NBD fitted on the purchase history summarised in `features` (no labels)."""
    model = make_classifier(candidate, 0, len(features), horizon_days)
    return model.fit(feature_matrix(features, CANDIDATE_COLUMNS[candidate]))


def at_horizon(model: Any, horizon_days: int) -> Any:
    """A probabilistic model predicting `horizon_days` instead of its own horizon (same fit)."""
    return type(model).from_params(model.params_, horizon_days)


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


def fit_hurdle_orders(frame: pd.DataFrame, seed: int) -> Any:
    """Regressor of orders - 1 for the buyers of a labelled frame (`join_labels`): a Poisson
    booster, or a constant with fewer than MIN_BUYERS_FOR_ORDERS_MODEL buyers."""
    buyers = frame[frame["purchased"] == 1]
    target = np.clip(buyers["orders"].to_numpy(np.float64) - 1.0, 0.0, None)
    if len(buyers) >= MIN_BUYERS_FOR_ORDERS_MODEL and target.sum() > 0:
        model = HistGradientBoostingRegressor(loss="poisson", learning_rate=0.1, max_iter=60,
                                              max_leaf_nodes=15, min_samples_leaf=20,
                                              early_stopping=False, random_state=seed)
        with threads_for(len(buyers)):
            model.fit(feature_matrix(buyers, ALL_NUMERIC_COLUMNS), target)
        return model
    model = DummyRegressor(strategy="constant", constant=float(target.mean()) if len(target) else 0.0)
    model.fit(np.zeros((max(len(target), 1), len(ALL_NUMERIC_COLUMNS))),
              target if len(target) else np.zeros(1))
    return model


def history_mean_order_value(features: pd.DataFrame) -> float:
    """Spend per order over every order in the history (0 without orders)."""
    orders = float(np.nansum(features["frequency"].to_numpy(np.float64, na_value=np.nan)))
    spend = float(np.nansum(features["monetary"].to_numpy(np.float64, na_value=np.nan)))
    return max(spend / orders, 0.0) if orders > 0 else 0.0


@dataclass
class ValueModel:
    """expected_orders (hurdle: p * (1 + orders_model(X)); bgnbd / mbgnbd: the model's
    conditional expectation) and the value per order (Gamma-Gamma, else shrunk average)."""

    kind: str                            # HURDLE | BGNBD | MBGNBD
    orders_model: Any                    # hurdle: regressor of orders - 1; else the fitted probabilistic model
    mean_order_value: float              # history's mean value per order (the shrinkage target)
    gamma_gamma: GammaGamma | None = None
    prior_orders: float = AOV_PRIOR_ORDERS

    def orders_if_buying(self, X_all: np.ndarray) -> np.ndarray:
        with threads_for(len(X_all)):
            extra = np.asarray(self.orders_model.predict(X_all), dtype=np.float64)
        return 1.0 + np.clip(np.nan_to_num(extra, nan=0.0), 0.0, None)

    def expected_orders(self, features: pd.DataFrame, p: np.ndarray,
                        horizon_days: int | None = None) -> np.ndarray:
        """Expected orders over `horizon_days` (default: the model's own horizon)."""
        out = np.empty(len(features))
        for start in range(0, len(features), SCORE_BATCH_ROWS):
            part = features.iloc[start:start + SCORE_BATCH_ROWS]
            if self.kind == HURDLE:
                got = p[start:start + SCORE_BATCH_ROWS] * self.orders_if_buying(
                    feature_matrix(part, ALL_NUMERIC_COLUMNS))
            else:
                got = self.orders_model.expected_purchases(feature_matrix(part, BGNBD_COLUMNS), horizon_days)
            out[start:start + SCORE_BATCH_ROWS] = got
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
    gg = fit_gamma_gamma(history["frequency"].to_numpy(np.float64, na_value=np.nan),
                         history["avg_order_value"].to_numpy(np.float64, na_value=np.nan))
    return history_mean_order_value(history), gg


def fit_value_model(kind: str, history: pd.DataFrame, horizon_days: int, seed: int = 0,
                    labelled: pd.DataFrame | None = None, probabilistic: Any = None,
                    spend: tuple[float, GammaGamma | None] | None = None) -> ValueModel:
    """Fit the value model `kind`: the spend per order on `history` (features at the cut-off)
    unless already fitted there (`spend`, from `fit_spend_per_order`); hurdle's orders model on
    `labelled` (`join_labels`), a probabilistic one on `history` unless an already fitted
    `probabilistic` model (same history) is given."""
    if kind == HURDLE:
        if labelled is None:
            raise ValueError("the hurdle value model needs a labelled window")
        orders_model = fit_hurdle_orders(labelled, seed)
    elif kind in PROBABILISTIC_MODELS:
        orders_model = (at_horizon(probabilistic, horizon_days) if probabilistic is not None
                        else fit_probabilistic(kind, history, horizon_days))
    else:
        raise ValueError(f"unknown value model {kind!r}; expected one of {VALUE_CANDIDATES}")
    mean_order_value, gg = fit_spend_per_order(history) if spend is None else spend
    return ValueModel(kind, orders_model, mean_order_value, gg)


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


def evaluate_candidates(train_X: pd.DataFrame | None, train_y: np.ndarray | pd.Series | None,
                        test_X: pd.DataFrame, test_y: np.ndarray | pd.Series, seed: int = 0,
                        candidates: tuple[str, ...] = CANDIDATES,
                        train_window: str = "train", test_window: str = "held-out",
                        horizon_days: int = 30) -> dict[str, CandidateEvaluation]:
    """Fit every candidate and measure it on (test_X, test_y), the held-out window.

    X are customer-feature frames (CUSTOMER_FEATURES columns), y are 0/1 purchase labels over
    `horizon_days` after test_X's cut-off. Supervised candidates are fitted on (train_X,
    train_y) and skipped when train_X is None; probabilistic ones are fitted on test_X (the
    history up to the held-out window's cut-off: the calibration period, no label). The F1
    threshold is chosen on the training rows (best F1 there), never on the test rows; without
    training labels it is DEFAULT_THRESHOLD.
    """
    supervised = train_X is not None
    yte = np.asarray(test_y, dtype=np.int8)
    ytr = np.asarray(train_y, dtype=np.int8) if supervised else None
    if len(yte) != len(test_X) or (supervised and len(ytr) != len(train_X)):
        raise ValueError("features and labels have different lengths")
    if supervised:
        check_labels(ytr, train_window)
    check_labels(yte, test_window)
    out: dict[str, CandidateEvaluation] = {}
    for cand in [c for c in candidates if c != RANDOM]:
        if cand in SUPERVISED and not supervised:
            continue
        t0 = time.perf_counter()
        cols = CANDIDATE_COLUMNS[cand]
        if cand in PROBABILISTIC:
            model = fit_probabilistic(cand, test_X, horizon_days)
        else:
            model = make_classifier(cand, seed, len(ytr), horizon_days)
            with threads_for(len(ytr)):
                model.fit(feature_matrix(train_X, cols), ytr)
        p_te = _predict_proba(model, feature_matrix(test_X, cols))
        threshold = (_best_threshold(ytr, _predict_proba(model, feature_matrix(train_X, cols)))
                     if supervised else DEFAULT_THRESHOLD)
        secs = time.perf_counter() - t0
        out[cand] = CandidateEvaluation(cand, _score_metrics(yte, p_te, threshold), secs, p_te, model)
    if RANDOM in candidates:
        label_free = [out[c].test_scores for c in PROBABILISTIC if c in out]
        prior = (float(ytr.mean()) if supervised else
                 float(np.mean(label_free[0])) if label_free else 0.5)
        p_tr = _random_scores(len(ytr), prior, seed) if supervised else None
        p_te = _random_scores(len(yte), prior, seed + 1)
        threshold = _best_threshold(ytr, p_tr) if supervised else DEFAULT_THRESHOLD
        out[RANDOM] = CandidateEvaluation(RANDOM, _score_metrics(yte, p_te, threshold), 0.0, p_te, None)
    return {c: out[c] for c in candidates if c in out}


@dataclass
class ValueEvaluation:
    """Count metrics (value_metrics.count_metrics, orders_* and spend_*) of every value
    candidate and of the historical-rate reference on the held-out window, and the chosen one."""

    metrics: dict[str, dict[str, float]]
    chosen: str
    expected_orders: dict[str, np.ndarray] = field(repr=False)

    @property
    def orders_mae(self) -> float:
        return self.metrics[self.chosen]["orders_mae"]

    @property
    def spend_mae(self) -> float:
        return self.metrics[self.chosen]["spend_mae"]

    @property
    def orders_mae_historical_rate(self) -> float:
        return self.metrics[HISTORICAL_RATE]["orders_mae"]

    @property
    def spend_mae_historical_rate(self) -> float:
        return self.metrics[HISTORICAL_RATE]["spend_mae"]


def select_value(metrics: dict[str, dict[str, float]],
                 min_improvement: float = VALUE_MIN_IMPROVEMENT) -> str:
    """The value candidate to serve: going from the simplest (VALUE_CANDIDATES order), a more
    complex one takes over only when its VALUE_SELECTION_METRIC is lower than the current
    choice's by `min_improvement` (relative). Differences below that change sign from one
    window to the next (benchmarks/customer_value.py), so the simpler model keeps them."""
    best, best_value = None, None
    for name in VALUE_CANDIDATES:
        value = metrics.get(name, {}).get(VALUE_SELECTION_METRIC)
        if value is None or value != value:
            continue
        if best_value is None or value < best_value * (1.0 - min_improvement):
            best, best_value = name, value
    if best is None:
        raise ValueError(f"no value candidate among {VALUE_CANDIDATES} has a {VALUE_SELECTION_METRIC} value")
    return best


def evaluate_value(train: pd.DataFrame | None, test: pd.DataFrame, p_test: np.ndarray,
                   horizon_days: int, seed: int = 0,
                   probabilistic: dict[str, Any] | None = None) -> ValueEvaluation:
    """Count metrics of expected orders / spend over `horizon_days` on the held-out rows.

    `test` is the held-out frame (`join_labels`): its features are the calibration history of
    the probabilistic models and of the spend per order. The hurdle model competes when the
    labelled training frame `train` is given (with `p_test`, the served classifier's p on the
    held-out rows). `probabilistic`: already fitted models on the same history (refit otherwise).
    """
    probabilistic = probabilistic or {}
    spend = fit_spend_per_order(test)           # one history: the same spend per order for every model
    models: dict[str, ValueModel] = {}
    if train is not None:
        models[HURDLE] = fit_value_model(HURDLE, test, horizon_days, seed, labelled=train, spend=spend)
    for cand in PROBABILISTIC:
        models[cand] = fit_value_model(cand, test, horizon_days, seed, probabilistic=probabilistic.get(cand),
                                       spend=spend)
    y_orders = test["orders"].to_numpy(np.float64)
    y_spend = test["spend"].to_numpy(np.float64)
    freq = test["frequency"].to_numpy(np.float64, na_value=np.nan)
    aov = test["avg_order_value"].to_numpy(np.float64, na_value=np.nan)
    per_order = next(iter(models.values())).value_per_order(freq, aov)   # the reference's too
    predictions = {name: vm.expected_orders(test, p_test, horizon_days) for name, vm in models.items()}
    predictions[HISTORICAL_RATE] = historical_rate_orders(test, horizon_days)
    metrics = {name: {**count_metrics(y_orders, orders, "orders"),
                      **count_metrics(y_spend, orders * per_order, "spend")}
               for name, orders in predictions.items()}
    return ValueEvaluation(metrics, select_value(metrics), predictions)


# ---------------------------------------------------------------------------- final model


@dataclass
class FittedPropensity:
    candidate: str
    classifier: Any
    columns: tuple[str, ...]
    value: ValueModel
    segment_thresholds: tuple[float, float]    # (median, 80th percentile) of the final fit's p
    horizon_days: int
    threshold: float                            # decision threshold (best F1 on training rows)

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
            "horizon_days": int(self.horizon_days), "threshold": float(self.threshold),
        }

    @classmethod
    def from_artifact(cls, art: dict[str, Any]) -> "FittedPropensity":
        """Also reads artifacts from before the value models (hurdle value, classifier object)."""
        horizon = int(art["horizon_days"])
        candidate = art["candidate"]
        classifier = (PROBABILISTIC_MODELS[candidate].from_params(art["classifier_params"], horizon)
                      if art.get("classifier_params") is not None else art["classifier"])
        kind = art.get("value_kind", HURDLE)
        orders_model = (PROBABILISTIC_MODELS[kind].from_params(art["orders_model_params"], horizon)
                        if kind in PROBABILISTIC_MODELS else art["orders_model"])
        gg = GammaGamma.from_array(art["gamma_gamma"]) if art.get("gamma_gamma") is not None else None
        value = ValueModel(kind, orders_model, float(art["mean_order_value"]), gg, float(art["prior_orders"]))
        return cls(candidate, classifier, tuple(art["columns"]), value,
                   tuple(float(x) for x in art["segment_thresholds"]),  # type: ignore[arg-type]
                   horizon, float(art["threshold"]))


def fit_final(features: pd.DataFrame, labels: pd.DataFrame | None, candidate: str, horizon_days: int,
              seed: int = 0, window: str = "final", value_candidate: str = HURDLE,
              history: pd.DataFrame | None = None) -> FittedPropensity:
    """Refit `candidate` and the value model `value_candidate` for scoring.

    Supervised parts learn from `features` at a cut-off and `labels` over the horizon after it
    (CUSTOMER_LABELS); probabilistic parts and the spend per order from `history`, the features
    at the scoring cut-off (the whole history; default `features`)."""
    if candidate not in SERVABLE:
        raise ValueError(f"cannot fit a final model for candidate {candidate!r}")
    history = features if history is None else history
    needs_labels = candidate in SUPERVISED or value_candidate == HURDLE
    frame = join_labels(features, labels) if needs_labels else None
    cols = CANDIDATE_COLUMNS[candidate]
    if candidate in PROBABILISTIC:
        clf = fit_probabilistic(candidate, history, horizon_days)
        p = _predict_proba(clf, feature_matrix(history, cols))
        threshold = DEFAULT_THRESHOLD
    else:
        y = frame["purchased"].to_numpy(np.int8)
        check_labels(y, window)
        clf = make_classifier(candidate, seed, len(y), horizon_days)
        X = feature_matrix(frame, cols)
        with threads_for(len(y)):
            clf.fit(X, y)
        p = _predict_proba(clf, X)
        threshold = _best_threshold(y, p)
    q50, q80 = np.quantile(p, [0.5, 0.8])
    value = fit_value_model(value_candidate, history, horizon_days, seed, labelled=frame,
                            probabilistic=clf if value_candidate == candidate else None)
    return FittedPropensity(candidate, clf, tuple(cols), value, (float(q50), float(q80)),
                            int(horizon_days), threshold)


def evaluate_fitted(fitted: FittedPropensity, test_frame: pd.DataFrame,
                    horizon_days: int | None = None) -> dict[str, float]:
    """Metrics of an already fitted model (e.g. the current champion, loaded from the registry)
    on a held-out frame (`join_labels`) of `horizon_days` (default: the model's horizon), with
    the model's own stored threshold, so that the gate compares champion and challenger on the
    same window. A champion trained on a later window than this one has seen these labels: its
    numbers are then optimistic, which only makes the gate stricter for the challenger."""
    days = fitted.horizon_days if horizon_days is None else int(horizon_days)
    clf = at_horizon(fitted.classifier, days) if fitted.candidate in PROBABILISTIC_MODELS else fitted.classifier
    y = test_frame["purchased"].to_numpy(np.int8)
    p = _predict_proba(clf, feature_matrix(test_frame, fitted.columns))
    out = _score_metrics(y, p, fitted.threshold)
    exp_orders = fitted.value.expected_orders(test_frame, p, days)
    out.update(count_metrics(test_frame["orders"].to_numpy(np.float64), exp_orders, "orders"))
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
    p = _predict_proba(fitted.classifier, feature_matrix(features, fitted.columns))
    freq = features["frequency"].to_numpy(np.float64, na_value=np.nan)
    exp_orders = fitted.value.expected_orders(features, p)
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
    chosen: str                     # p_purchase candidate refit as the final model
    fitted: FittedPropensity
    test_labels: np.ndarray = field(repr=False)
    test_frame: pd.DataFrame = field(repr=False)
    scoring_features: pd.DataFrame = field(repr=False)

    @property
    def value_chosen(self) -> str:
        return self.value_evaluation.chosen

    @property
    def evaluated_candidates(self) -> list[str]:
        """The servable candidates that competed (the gate compares the served one with these)."""
        return [c for c in SERVABLE if c in self.evaluations]


def run_propensity(con: Any, as_of: Any, horizon_days: int = 30, seed: int = 0,
                   final_candidate: str | None = None) -> PropensityRun:
    """Build the windows from the warehouse (`plan_windows`; a training window too thin for the
    supervised candidates turns the plan into calibration / holdout), evaluate every candidate
    that may compete on the held-out window, choose p_purchase on ROC-AUC (the simpler one on a
    tie) unless `final_candidate` is given and the value model on orders RMSE, and refit both for
    scoring. Scoring is left to the caller (score_customers(run.fitted, run.scoring_features,
    as_of, version)) so that the version comes from the registry."""
    from shop_pipeline.features.tables import (customer_features_frame, customer_labels_frame,
                                               landed_range)

    as_of = _as_date(as_of)
    scoring = customer_features_frame(con, as_of)   # raises when as_of is before any data
    if len(scoring) == 0:
        raise NotEnoughData(f"customer propensity and value: no customers with events on or before {as_of}")
    h = int(horizon_days)
    plan = plan_windows(as_of, h, landed_range(con)[0])

    def labelled(cutoff: dt.date, days: int) -> pd.DataFrame:
        return join_labels(customer_features_frame(con, cutoff),
                           customer_labels_frame(con, cutoff, days, known_by=as_of))

    train_frame = None
    eval_frame = labelled(plan.eval_cutoff, plan.eval_horizon_days)
    if plan.supervised:
        train_frame = labelled(plan.train_cutoff, h)
        why = supervised_shortfall(train_frame, eval_frame)
        if why is not None:
            plan = calibration_holdout_plan(as_of, h, plan.data_start, why)
            train_frame = None
            if plan.eval_cutoff != _day(as_of, -h):
                eval_frame = labelled(plan.eval_cutoff, plan.eval_horizon_days)
    ev_win = f"{plan.eval_label_window[0]}..{plan.eval_label_window[1]}"
    tr_win = (f"{plan.train_label_window[0]}..{plan.train_label_window[1]}"
              if plan.train_label_window else "none")
    evals = evaluate_candidates(train_frame, None if train_frame is None else train_frame["purchased"],
                                eval_frame, eval_frame["purchased"], seed, train_window=tr_win,
                                test_window=ev_win, horizon_days=plan.eval_horizon_days)
    if final_candidate is None:
        final_candidate = select_serving({c: e.metrics for c, e in evals.items()},
                                         [c for c in SERVABLE if c in evals], SELECTION_METRIC,
                                         higher_is_better=True)
    value_eval = evaluate_value(train_frame, eval_frame, evals[final_candidate].test_scores,
                                plan.eval_horizon_days, seed,
                                probabilistic={c: evals[c].model for c in PROBABILISTIC if c in evals})
    labels_t2 = eval_frame.loc[:, ["customer_id", "purchased", "orders", "spend"]]
    fitted = fit_final(eval_frame.drop(columns=["purchased", "orders", "spend"]), labels_t2,
                       final_candidate, h, seed, window=ev_win, value_candidate=value_eval.chosen,
                       history=scoring)
    return PropensityRun(plan, evals, value_eval, final_candidate, fitted,
                         eval_frame["purchased"].to_numpy(np.int8), eval_frame, scoring)


def value_row_name(candidate: str) -> str:
    """The ml.model_evaluations row of a value candidate ("historical_rate" is the reference's)."""
    return candidate if candidate == HISTORICAL_RATE else f"value_{candidate}"


def metrics_rows(run: PropensityRun) -> dict[str, dict[str, float]]:
    """candidate -> metric -> value for ml.model_evaluations and the report: the p_purchase
    candidates' classification metrics; one row per value candidate (`value_<name>`) and the
    historical-rate reference with their count metrics; and on the served candidate's row the
    served value model's orders / spend metrics (what the champion comparison reports too)."""
    rows = {c: dict(e.metrics) for c, e in run.evaluations.items()}
    for name, m in run.value_evaluation.metrics.items():
        rows[value_row_name(name)] = dict(m)
    served = run.value_evaluation.metrics[run.value_chosen]
    rows[run.chosen].update({k: v for k, v in served.items() if k.startswith("orders_")})
    rows[run.chosen]["spend_mae"] = served["spend_mae"]
    return rows


CLASSIFICATION_COLUMNS = ("roc_auc", "pr_auc", "brier", "lift_at_top_decile", "f1", "threshold")
VALUE_COLUMNS = ("orders_mae", "orders_rmse", "orders_total_error_pct", "orders_buys_again_auc",
                 "spend_mae", "spend_rmse", "spend_total_error_pct")


def metrics_table_markdown(rows: dict[str, dict[str, float]]) -> str:
    """Two tables: p_purchase candidates (classification), value models (count metrics)."""
    def table(names, items) -> str:
        head = "| candidate | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names) + "\n"
        return head + "".join(
            f"| {cand} | " + " | ".join(f"{m[k]:.4f}" if k in m and np.isfinite(m[k]) else "-" for k in names)
            + " |\n" for cand, m in items)

    value_names = {value_row_name(c) for c in (*VALUE_CANDIDATES, HISTORICAL_RATE)}
    classifiers = [(c, m) for c, m in rows.items() if c not in value_names]
    values = [(c, m) for c, m in rows.items() if c in value_names]
    out = table(CLASSIFICATION_COLUMNS + ("orders_mae",), classifiers)
    if values:
        out += "\n" + table(VALUE_COLUMNS, values)
    return out
