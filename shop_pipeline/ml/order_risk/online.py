"""Order risk online: what the serving snapshot needs (`export_order_risk`: the version that scored
scoring.order_risk_scores and the history online order features read, order_history.py) and one
order scored with it (`OrderRiskScorer`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from shop_pipeline.features.order_features import EXPENSIVE_RATIO
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.snapshot_files import copy_artifact, scored_version
from shop_pipeline.ml.order_risk.candidates import MODEL_NAME, FittedOrderRisk
from shop_pipeline.ml.order_risk.data import feature_row
from shop_pipeline.ml.order_risk.order_history import OnlineOrder, OrderHistory, export_history
from shop_pipeline.ml.order_risk.score import explained_values


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
        self.version = manifest["version"]
        self.as_of = dt.date.fromisoformat(manifest["as_of"])
        self.fitted = FittedOrderRisk.from_artifact(
            registry.load_artifact(folder / "order_risk.skops", manifest["sha256"])
        )
        self.history = OrderHistory(folder, float(manifest["expensive_ratio"]))

    def score(self, order: OnlineOrder) -> OrderRiskAnswer:
        scores, tops = explained_values(self.fitted, feature_row(self.history.features(order), self.fitted.columns))
        score, top = float(scores[0]), tops[0]
        return OrderRiskAnswer(
            risk_score=score,
            flagged=score >= self.fitted.threshold,
            threshold=float(self.fitted.threshold),
            top_features=[part for part in top.split("; ") if part],
            known_customer=self.history.knows(order.customer_id),
        )


def export_order_risk(con: duckdb.DuckDBPyConnection, folder: Path, models_dir: Path) -> dict | None:
    """The artifact of the version that wrote scoring.order_risk_scores (the champion, or on a shop too
    new for a validated model the unvalidated version the batch scored with) and the history its
    online features need; None when order risk was not scored."""

    scored = scored_version(con, "scoring.order_risk_scores", MODEL_NAME)
    if scored is None:
        return None
    row, as_of = scored
    copy_artifact(row, models_dir, folder / "order_risk.skops")
    rows = export_history(con, folder, as_of)
    return {
        "model_name": MODEL_NAME,
        "version": row.version,
        "sha256": row.sha256,
        "champion": row.is_champion,
        "as_of": as_of.isoformat(),
        "expensive_ratio": EXPENSIVE_RATIO,
        "rows": rows,
    }
