"""Generator settings: the size of the shop, the output format and the defect rates."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

# The generator writes the canonical contract; re-exported for the generator's users.
from shop_pipeline.contracts import EVENT_COLUMNS, EVENT_TYPES  # noqa: F401

FORMATS = ("csv", "parquet", "jsonl")
DEFECT_MODES = ("default", "none")
PROFILES = ("default", "grocery", "cohort")  # shop shapes (synth/profiles.py)

# Planted defect -> what a correct ingestion does with it.
DEFECT_OUTCOMES: dict[str, str] = {
    "duplicate_event": "drop_duplicate",
    "duplicate_content": "drop_duplicate",
    "malformed_line": "quarantine",
    "missing_user_id": "quarantine",
    "missing_product_id": "quarantine",
    "negative_price": "quarantine",
    "absurd_price": "quarantine",
    "unparseable_price": "quarantine",
    "unknown_event_type": "quarantine",
    "future_event_time": "quarantine",
    "ancient_event_time": "quarantine",
    "unparseable_event_time": "quarantine",
    "invalid_utf8": "quarantine",
    "mixed_utc_offset": "normalize",
    "replayed_file": "skip_file",
    "schema_drift": "skip_file",
}
FILE_DEFECTS = ("replayed_file", "schema_drift")
LINE_DEFECTS = tuple(name for name in DEFECT_OUTCOMES if name not in FILE_DEFECTS)
# Defects that only exist in text formats (a Parquet file cannot hold them).
TEXT_ONLY_DEFECTS = frozenset({"malformed_line", "invalid_utf8"})

# Fractions of all events. Every per-line defect gets at least one line when defects are on.
DEFAULT_DEFECT_RATES: dict[str, float] = {
    "duplicate_event": 0.01,
    "duplicate_content": 0.002,
    "malformed_line": 0.0005,
    "missing_user_id": 0.0005,
    "missing_product_id": 0.0005,
    "negative_price": 0.0003,
    "absurd_price": 0.0002,
    "unparseable_price": 0.0001,
    "unknown_event_type": 0.0003,
    "future_event_time": 0.0002,
    "ancient_event_time": 0.0002,
    "unparseable_event_time": 0.0002,
    "invalid_utf8": 0.0002,
    "mixed_utc_offset": 0.02,
}


@dataclass(frozen=True)
class GeneratorConfig:
    events: int = 200_000
    days: int = 90
    seed: int = 42
    start: dt.date = dt.date(2025, 1, 1)
    format: str = "csv"
    defects: str = "default"
    defect_rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DEFECT_RATES))
    late_rate: float = 0.002  # share of each day's events delivered in the next day's file
    fraud_rate: float = 0.015  # share of orders that are fraudulent
    duplicate_next_file_share: float = 0.3  # share of duplicate_event copies put in the next file
    schema_drift_events: int = 100
    profile: str = "default"  # shop shape: default, grocery (staples re-bought), cohort (early customers, decay)
    products: int | None = None  # catalog size; None: events // 200 within [50, 20000]

    def __post_init__(self) -> None:
        if isinstance(self.start, str):
            object.__setattr__(self, "start", dt.date.fromisoformat(self.start))
        if self.events < 1:
            raise ValueError("events must be >= 1")
        if self.days < 1:
            raise ValueError("days must be >= 1")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}")
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.profile!r}")
        if self.products is not None and self.products < 50:
            raise ValueError("products must be >= 50")
        if self.defects not in DEFECT_MODES:
            raise ValueError(f"defects must be one of {DEFECT_MODES}, got {self.defects!r}")
        unknown = set(self.defect_rates) - set(LINE_DEFECTS)
        if unknown:
            raise ValueError(f"unknown defect names: {sorted(unknown)}")
        if any(rate < 0 or rate > 0.2 for rate in self.defect_rates.values()):
            raise ValueError("defect rates must be within [0, 0.2]")
        if not 0 <= self.late_rate < 0.5 or not 0 <= self.fraud_rate < 0.5:
            raise ValueError("late_rate and fraud_rate must be within [0, 0.5)")

    @property
    def extension(self) -> str:
        return self.format

    @property
    def defects_on(self) -> bool:
        return self.defects != "none"

    def line_defect_rates(self) -> dict[str, float]:
        """The per-line defects this run plants (none with defects='none'; no text-only ones in Parquet)."""
        if not self.defects_on:
            return {}
        return {
            name: float(self.defect_rates.get(name, 0.0))
            for name in LINE_DEFECTS
            if not (self.format == "parquet" and name in TEXT_ONLY_DEFECTS) and self.defect_rates.get(name, 0.0) > 0
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        # a default shop's generation.json stays byte for byte what it was before profiles existed
        if self.profile == "default":
            del data["profile"]
        if self.products is None:
            del data["products"]
        return data
