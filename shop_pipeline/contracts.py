"""The canonical clean event (docs/data-formats.md), as constants shared by every stage."""

from __future__ import annotations

EVENT_COLUMNS = (
    "event_id",
    "event_time",
    "event_type",
    "user_id",
    "session_id",
    "product_id",
    "category",
    "brand",
    "price",
    "quantity",
    "order_id",
)
EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
