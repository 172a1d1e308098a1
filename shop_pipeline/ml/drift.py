"""Drift of the key features and scores against the champions' training data, on the warehouse
(no Dagster): what the `feature_drift` asset measures. Each model with a `drift` in its spec
measures its own features and score (PSI, ml/common/psi.py, against its champion's reference
binned once, ml/common/drift_reference.py); a model without a champion (or without rows) is left
out: "not measurable", never a zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shop_pipeline.ml.common.psi import DEFAULT_BINS, FeatureDrift
from shop_pipeline.ml.models import MODELS


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
        return {
            "rows": [
                {
                    "feature": r.feature,
                    "psi": None if math.isnan(r.psi) else r.psi,
                    "reference_rows": r.reference_rows,
                    "current_rows": r.current_rows,
                }
                for r in self.rows
            ],
            "reference_window": self.reference_window,
            "current_window": self.current_window,
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, data: dict) -> DriftMeasurement:
        rows = [
            FeatureDrift(
                r["feature"],
                math.nan if r["psi"] is None else float(r["psi"]),
                int(r["reference_rows"]),
                int(r["current_rows"]),
            )
            for r in data["rows"]
        ]
        return cls(rows, data["reference_window"], data["current_window"], list(data["notes"]))


def measure_drift(con, window_days: int = 7, bins: int = DEFAULT_BINS, *, models_dir) -> DriftMeasurement:
    """PSI of every model's drift features and score against its champion's training data (champions
    loaded from `models_dir`, the models folder of the shop home in use), in the order of MODELS."""
    if window_days < 1:
        raise ValueError(f"window_days must be >= 1, got {window_days}")
    notes: list[str] = []
    rows: list[FeatureDrift] = []
    reference_window = current_window = ""
    for spec in MODELS:
        if spec.drift is None:
            continue
        part = spec.drift(con, lambda row, spec=spec: spec.load(con, row, models_dir), window_days, bins, notes)
        rows += part.rows
        reference_window = reference_window or part.reference_window
        current_window = current_window or part.current_window
    return DriftMeasurement(rows, reference_window, current_window, notes)
