"""Scoring one order online with the order-risk version the snapshot's batch scores came from."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from shop_pipeline.serving.order_history import OnlineOrder, OrderHistory


@dataclass(frozen=True)
class OrderRiskAnswer:
    risk_score: float
    flagged: bool
    threshold: float
    top_features: list[str]
    known_customer: bool


class OrderRiskScorer:
    """The model version that wrote scoring.order_risk_scores (loaded only if its bytes match the SHA-256
    the registry recorded) and the history."""

    def __init__(self, folder: Path, manifest: dict):
        from shop_pipeline.ml.common import registry
        from shop_pipeline.ml.order_risk.candidates import from_artifact

        self.version = manifest["version"]
        self.as_of = dt.date.fromisoformat(manifest["as_of"])
        self.fitted = from_artifact(registry.load_artifact(folder / "order_risk.skops", manifest["sha256"]))
        self.history = OrderHistory(folder, float(manifest["expensive_ratio"]))

    def score(self, order: OnlineOrder) -> OrderRiskAnswer:
        from shop_pipeline.ml.order_risk.data import feature_row
        from shop_pipeline.ml.order_risk.score import explained_values

        scores, tops = explained_values(self.fitted, feature_row(self.history.features(order), self.fitted.columns))
        score, top = float(scores[0]), tops[0]
        return OrderRiskAnswer(risk_score=score, flagged=score >= self.fitted.threshold,
                               threshold=float(self.fitted.threshold),
                               top_features=[part for part in top.split("; ") if part],
                               known_customer=self.history.knows(order.customer_id))

