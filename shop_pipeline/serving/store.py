"""The snapshot in memory, and the watcher that swaps to a newly published one without a restart.

A request takes `store.current` once and answers from that object only, so a swap in the
middle of a request changes nothing for it: the new snapshot is loaded completely first, then
one attribute assignment (atomic in CPython) makes it current. A snapshot that fails to load
is logged and the old one keeps serving.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shop_pipeline.ml.models import MODELS
from shop_pipeline.serving.snapshot import MANIFEST, current_snapshot_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recommendation:
    rank: int
    product_id: str
    score: float
    reason: str


@dataclass
class Snapshot:
    snapshot_id: str
    path: Path
    manifest: dict
    models: list[dict]
    scores: dict[str, tuple]
    fallback: list[Recommendation]
    _rec_customers: dict[str, tuple[int, int]] = field(repr=False)
    _rec_rank: np.ndarray = field(repr=False)
    _rec_product: np.ndarray = field(repr=False)
    _rec_score: np.ndarray = field(repr=False)
    _rec_reason: np.ndarray = field(repr=False)
    _rec_version: np.ndarray = field(repr=False)
    as_of: str | None = None
    online: dict[str, Any] = field(default_factory=dict)  # model name -> its online predictor (spec.online)

    @property
    def order_risk(self) -> Any:
        """The order-risk predictor (ml/order_risk/online.py), None when the snapshot has none."""
        return self.online.get("order_risk")

    @property
    def demand(self) -> Any:
        """The demand-forecast predictor (ml/demand_forecast/online.py), None when the snapshot has none."""
        return self.online.get("demand_forecast")

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        manifest = json.loads((path / MANIFEST).read_text())
        scores_frame = pd.read_parquet(path / "customer_scores.parquet")
        scores_frame["as_of"] = pd.to_datetime(scores_frame["as_of"]).dt.strftime("%Y-%m-%d")
        scores = {
            row[0]: row[1:]
            for row in scores_frame[
                [
                    "customer_id",
                    "p_purchase",
                    "churn_risk",
                    "expected_orders",
                    "expected_spend",
                    "segment",
                    "model_version",
                    "as_of",
                ]
            ].itertuples(index=False, name=None)
        }
        recs = pd.read_parquet(path / "recommendations.parquet")
        customers = recs["customer_id"].to_numpy()
        # rows are sorted by customer and rank: each customer's rows are one slice
        if len(customers):
            starts = np.flatnonzero(np.r_[True, customers[1:] != customers[:-1]])
            ends = np.r_[starts[1:], len(customers)]
            index = {customers[s]: (int(s), int(e)) for s, e in zip(starts, ends)}
        else:
            index = {}
        fallback_frame = pd.read_parquet(path / "fallback.parquet")
        fallback = [
            Recommendation(int(r), str(p), float(s), str(reason))
            for r, p, s, reason in fallback_frame[["rank", "product_id", "score", "reason"]].itertuples(
                index=False, name=None
            )
        ]
        return cls(
            snapshot_id=manifest["snapshot_id"],
            path=path,
            manifest=manifest,
            models=json.loads((path / "models.json").read_text()),
            scores=scores,
            fallback=fallback,
            _rec_customers=index,
            _rec_rank=recs["rank"].to_numpy(),
            _rec_product=recs["product_id"].to_numpy(),
            _rec_score=recs["score"].to_numpy(),
            _rec_reason=recs["reason"].to_numpy(),
            _rec_version=recs["model_version"].to_numpy(),
            as_of=manifest.get("as_of"),
            online={
                spec.name: spec.online(path, manifest[spec.name])
                for spec in MODELS
                if spec.online is not None and spec.name in manifest
            },
        )

    def recommendations(self, customer_id: str, k: int) -> tuple[list[Recommendation], str | None]:
        """The customer's published list (first k), and its model version; None when there is none."""
        span = self._rec_customers.get(customer_id)
        if span is None:
            return [], None
        start, end = span
        end = min(end, start + k)
        return (
            [
                Recommendation(
                    int(self._rec_rank[i]),
                    str(self._rec_product[i]),
                    float(self._rec_score[i]),
                    str(self._rec_reason[i]),
                )
                for i in range(start, end)
            ],
            str(self._rec_version[start]),
        )

    def recommendation_version(self) -> str | None:
        return str(self._rec_version[0]) if len(self._rec_version) else None


class SnapshotStore:
    """The current snapshot of a serving folder, swapped by `refresh` (or the watcher thread)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.current: Snapshot | None = None
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Load the snapshot CURRENT names if it is not the one in memory; True when it swapped."""
        with self._lock:  # one loader at a time; readers never wait on it
            try:
                path = current_snapshot_dir(self.root)
                if path is None or (self.current is not None and self.current.path == path):
                    return False
                snapshot = Snapshot.load(path)
            except Exception as exc:  # keep serving the old snapshot; say why on /readyz and in the log
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("serving snapshot not loaded: %s", self.last_error)
                return False
            self.current = snapshot
            self.last_error = None
            log.info("serving snapshot %s loaded (%s)", snapshot.snapshot_id, snapshot.manifest.get("rows"))
            return True

    def start(self, interval_seconds: float = 1.0) -> None:
        def watch() -> None:
            while not self._stop.wait(interval_seconds):
                self.refresh()

        self.refresh()
        self._thread = threading.Thread(target=watch, name="snapshot-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
