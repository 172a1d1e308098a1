"""Drift of the key features and scores against the champions' training data, on the warehouse
(no Dagster): what the `feature_drift` asset measures, through PSI (ml/common/psi.py) against
each champion's reference binned once (ml/common/drift_reference.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shop_pipeline.ml.common.psi import DEFAULT_BINS, FeatureDrift, psi_against

# What the `feature_drift` asset measures. The reference is the champion's training window,
# the current sample the latest `window_days` days:
# - product-day features (features.product_daily_sales): rows of days train_start..train_end
#   of the demand_forecast champion vs rows of the last window_days days of the table;
# - customer features and the propensity score: the propensity champion applied to
#   the customer features as of its own as_of (point-in-time) vs as of today's table;
# - order features and the risk score (features.order_features, point in time per order, so
#   old rows never change): the orders of the order_risk champion's labelled window (up to its
#   train_end) vs the orders of the last window_days days, both scored by that champion.
# A side without a champion (or without rows) is left out: "not measurable", never a zero.
# Each champion's reference is binned at its first measurement and kept (ml/common/drift_reference.py).

PRODUCT_DAY_FEATURES = ("units", "views", "conversion", "shown_price", "discount_vs_ref")
CUSTOMER_DRIFT_FEATURES = ("recency_days", "frequency", "monetary", "sessions")
ORDER_DRIFT_FEATURES = ("amount", "items", "orders_last_24h", "account_age_days", "session_seconds")

_PRODUCT_DAYS = (
    "SELECT " + ", ".join(PRODUCT_DAY_FEATURES) + " FROM features.product_daily_sales WHERE day BETWEEN $first AND $last"
)


@dataclass(frozen=True)
class DriftMeasurement:
    rows: list[FeatureDrift]  # every feature / score looked at, measurable or not
    reference_window: str
    current_window: str
    notes: list[str]

    @property
    def measured(self) -> dict[str, float]:
        return {row.feature: row.psi for row in self.rows if not math.isnan(row.psi)}

    def to_json(self) -> dict:
        """A JSON-safe copy (a PSI that could not be measured is null), read back by from_json."""
        return {"rows": [{"feature": r.feature, "psi": None if math.isnan(r.psi) else r.psi,
                          "reference_rows": r.reference_rows, "current_rows": r.current_rows} for r in self.rows],
                "reference_window": self.reference_window, "current_window": self.current_window, "notes": self.notes}

    @classmethod
    def from_json(cls, data: dict) -> DriftMeasurement:
        rows = [FeatureDrift(r["feature"], math.nan if r["psi"] is None else float(r["psi"]), int(r["reference_rows"]),
                             int(r["current_rows"])) for r in data["rows"]]
        return cls(rows, data["reference_window"], data["current_window"], list(data["notes"]))


def _product_day_drift(con, window_days: int, bins: int, notes: list[str]) -> tuple[list[FeatureDrift], str, str]:
    import datetime as dt

    from shop_pipeline.ml.common import registry
    from shop_pipeline.ml.common.drift_reference import champion_reference
    from shop_pipeline.ml.demand_forecast.candidates import MODEL_NAME

    champion = registry.champion(con, MODEL_NAME)
    last_day = con.execute("SELECT max(day) FROM features.product_daily_sales").fetchone()[0]
    if champion is None or champion.train_end is None or last_day is None:
        notes.append(f"product-day features: no {MODEL_NAME} champion or no feature rows: not measured")
        return [], "", ""
    first_current = last_day - dt.timedelta(days=window_days - 1)

    def product_days(first, last):
        return con.execute(_PRODUCT_DAYS, {"first": first, "last": last}).df().add_prefix("product_day.")

    columns = [f"product_day.{c}" for c in PRODUCT_DAY_FEATURES]
    reference = champion_reference(con, MODEL_NAME, champion.version, bins, columns,
                                   lambda: product_days(champion.train_start or champion.train_end, champion.train_end))
    rows = psi_against(reference, product_days(first_current, last_day))
    return rows, f"{champion.train_start}..{champion.train_end}", f"{first_current}..{last_day}"


def _customer_drift(con, bins: int, notes: list[str], models_dir) -> list[FeatureDrift]:
    from shop_pipeline.features.tables import customer_features_frame
    from shop_pipeline.ml.common import registry
    from shop_pipeline.ml.common.drift_reference import champion_reference
    from shop_pipeline.ml.propensity.candidates import MODEL_NAME, FittedPropensity
    from shop_pipeline.ml.propensity.score import score_customers

    champion = registry.champion(con, MODEL_NAME)
    if champion is None or champion.as_of is None:
        notes.append(f"customer features and score: no {MODEL_NAME} champion: not measured")
        return []
    current = con.execute("SELECT * FROM features.customer_features").df()
    if current.empty:
        notes.append("customer features and score: features.customer_features is empty: not measured")
        return []
    fitted = FittedPropensity.from_artifact(registry.load_model(con, MODEL_NAME, champion.version,
                                                                                models_dir=models_dir))

    def scored(features):
        score = score_customers(fitted, features, champion.as_of, champion.version)["p_purchase"]
        return features[list(CUSTOMER_DRIFT_FEATURES)].add_prefix("customer.").assign(
            **{"score.p_purchase": score.to_numpy()})

    columns = [f"customer.{c}" for c in CUSTOMER_DRIFT_FEATURES] + ["score.p_purchase"]
    reference = champion_reference(con, MODEL_NAME, champion.version, bins, columns,
                                   lambda: scored(customer_features_frame(con, champion.as_of)))
    return psi_against(reference, scored(current))


def order_drift(con, window_days: int = 7, bins: int = DEFAULT_BINS, notes: list[str] | None = None, *,
                models_dir) -> list[FeatureDrift]:
    """PSI of ORDER_DRIFT_FEATURES and of the order_risk champion's score (see above)."""
    import datetime as dt

    import pandas as pd

    from shop_pipeline.features.order_features import read_order_features
    from shop_pipeline.ml.common import registry
    from shop_pipeline.ml.common.drift_reference import champion_reference
    from shop_pipeline.ml.order_risk.candidates import MODEL_NAME, from_artifact

    notes = [] if notes is None else notes
    champion = registry.champion(con, MODEL_NAME)
    if champion is None or champion.train_end is None:
        notes.append(f"order features and risk score: no {MODEL_NAME} champion: not measured")
        return []
    orders = read_order_features(con)
    if orders.empty:
        notes.append("order features and risk score: features.order_features is empty: not measured")
        return []
    day = pd.to_datetime(orders["order_day"]).dt.date
    first_current = day.max() - dt.timedelta(days=window_days - 1)
    fitted = from_artifact(registry.load_model(con, MODEL_NAME, champion.version, models_dir=models_dir))

    def scored(frame):
        risk = fitted.scores(frame) if len(frame) else []
        return frame[list(ORDER_DRIFT_FEATURES)].add_prefix("order.").assign(**{"score.risk_score": risk})

    columns = [f"order.{c}" for c in ORDER_DRIFT_FEATURES] + ["score.risk_score"]
    reference = champion_reference(con, MODEL_NAME, champion.version, bins, columns,
                                   lambda: scored(orders[day <= champion.train_end]))
    return psi_against(reference, scored(orders[day >= first_current]))


def measure_drift(con, window_days: int = 7, bins: int = DEFAULT_BINS, *, models_dir) -> DriftMeasurement:
    """PSI of the key features and the propensity and risk scores against the champions' training data
    (champions loaded from `models_dir`, the models folder of the shop home in use)."""
    if window_days < 1:
        raise ValueError(f"window_days must be >= 1, got {window_days}")
    notes: list[str] = []
    rows, reference_window, current_window = _product_day_drift(con, window_days, bins, notes)
    rows += _customer_drift(con, bins, notes, models_dir)
    rows += order_drift(con, window_days, bins, notes, models_dir=models_dir)
    return DriftMeasurement(rows, reference_window, current_window, notes)
