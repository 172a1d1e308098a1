"""A day's events as parallel numpy arrays (numbers only; rendering to text is render.py's job)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

VIEW, CART, REMOVE, PURCHASE = 0, 1, 2, 3
NO_ORDER = -1


@dataclass
class EventBatch:
    event_id: np.ndarray  # int64, unique per real event
    time_ms: np.ndarray  # int64, ms since the Unix epoch (UTC)
    etype: np.ndarray  # int8, VIEW..PURCHASE
    user: np.ndarray  # int64, user index
    session: np.ndarray  # int64, session number
    product: np.ndarray  # int64, product index
    price_cents: np.ndarray  # int64, effective price at event time
    qty: np.ndarray  # int64
    order: np.ndarray  # int64, NO_ORDER unless a purchase

    def __len__(self) -> int:
        return len(self.time_ms)

    def take(self, index: np.ndarray) -> EventBatch:
        return EventBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def empty() -> EventBatch:
        return EventBatch(**{f.name: np.zeros(0, dtype=np.int64) for f in fields(EventBatch)})

    @staticmethod
    def concat(batches: list[EventBatch]) -> EventBatch:
        batches = [b for b in batches if len(b)]
        if not batches:
            return EventBatch.empty()
        if len(batches) == 1:
            return batches[0]
        return EventBatch(**{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(EventBatch)})

    def sorted_by_time(self) -> EventBatch:
        return self.take(np.lexsort((self.event_id, self.time_ms)))
