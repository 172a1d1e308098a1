"""Numbers to text: an EventBatch becomes the canonical string columns (vectorised).

Columns are numpy fixed-width bytes arrays (dtype S, ASCII text: a quarter of the memory of
unicode arrays). Missing values are empty; the writers turn them into nulls where the format
has them.
"""

from __future__ import annotations

import numpy as np

from shop_pipeline.synth.batch import EventBatch
from shop_pipeline.synth.config import EVENT_COLUMNS, EVENT_TYPES
from shop_pipeline.synth.world import World

Columns = dict[str, np.ndarray]  # column name -> numpy bytes array (dtype S), one entry per row

_EVENT_TYPE_NAMES = np.array(EVENT_TYPES, dtype="S")


def to_bytes(values: np.ndarray) -> np.ndarray:
    """A unicode array as a bytes array of the same width (fast: the text is ASCII)."""
    if values.dtype.kind != "U":
        return values
    width = max(values.dtype.itemsize // 4, 1)
    codes = np.ascontiguousarray(values).view(np.uint32).reshape(len(values), -1)
    if codes.size and codes.max() > 127:
        return values.astype("S")  # raises: event text must be ASCII
    return codes.astype(np.uint8).view(f"S{width}").reshape(len(values))


def format_ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return np.strings.add(prefix, np.strings.zfill(numbers.astype(np.int64).astype("U"), width))


def format_times(time_ms: np.ndarray) -> np.ndarray:
    """ISO-8601 UTC with milliseconds and Z: 2025-01-03T14:05:09.123Z."""
    return np.strings.add(np.datetime_as_string(time_ms.astype("datetime64[ms]"), unit="ms"), "Z")


def format_cents(cents: np.ndarray) -> np.ndarray:
    """Two decimals, e.g. 1299 -> '12.99' (non-negative input)."""
    whole = (cents // 100).astype("U")
    frac = np.strings.zfill((cents % 100).astype("U"), 2)
    return np.strings.add(np.strings.add(whole, "."), frac)


def user_ids(users: np.ndarray, world: World) -> np.ndarray:
    return format_ids("u", users + 1, max(6, len(str(world.n_users))))


def render(batch: EventBatch, world: World) -> Columns:
    has_order = batch.order >= 0
    order_ids = np.where(has_order, format_ids("o", np.maximum(batch.order, 0), 8), "")
    cols = {
        "event_id": format_ids("e", batch.event_id, 12),
        "event_time": format_times(batch.time_ms),
        "event_type": _EVENT_TYPE_NAMES[batch.etype],
        "user_id": user_ids(batch.user, world),
        "session_id": format_ids("s", batch.session, 10),
        "product_id": world.product_ids[batch.product],
        "category": world.category_names[world.product_category[batch.product]],
        "brand": world.brand_names[world.product_brand[batch.product]],
        "price": format_cents(batch.price_cents),
        "quantity": batch.qty.astype("U"),
        "order_id": order_ids,
    }
    assert tuple(cols) == EVENT_COLUMNS
    return {name: to_bytes(values) for name, values in cols.items()}


def take(cols: Columns, index: np.ndarray) -> Columns:
    return {name: values[index] for name, values in cols.items()}


# widths that hold every planted value (numpy unicode arrays truncate silently)
PLANTED_WIDTHS = {"event_time": 32, "event_type": 16, "price": 16}


def widen(cols: Columns) -> Columns:
    """A copy whose columns that defects rewrite are wide enough for any planted value."""
    out = dict(cols)
    for name, width in PLANTED_WIDTHS.items():
        values = out[name]
        out[name] = values.astype(f"S{max(width, values.dtype.itemsize)}")
    return out
