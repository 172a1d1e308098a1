"""Tiny hand-written landing files for tests (the generator makes the big ones)."""

from __future__ import annotations

from pathlib import Path

HEADER = "event_id,event_time,event_type,user_id,session_id,product_id,category,brand,price,quantity,order_id"


def event_line(
    event_id: str,
    when: str = "2025-01-02T10:00:00.000Z",
    event_type: str = "view",
    user: str = "u1",
    session: str = "s1",
    product: str = "p1",
    price: str = "10.00",
    quantity: str = "1",
    order: str = "",
) -> str:
    return f"{event_id},{when},{event_type},{user},{session},{product},books,acme,{price},{quantity},{order}"


def write_events(landing: Path, name: str, lines: list[str], header: str = HEADER) -> Path:
    path = landing / "events" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def write_catalog(landing: Path, product_ids=("p1", "p2", "p3")) -> Path:
    path = landing / "catalog" / "products.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["product_id,name,category,brand,base_price,launched_on"]
    rows += [f"{p},Item {p},books,acme,10.0,2024-01-01" for p in product_ids]
    path.write_text("\n".join(rows) + "\n")
    return path
