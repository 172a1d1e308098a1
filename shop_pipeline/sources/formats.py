"""The public formats `shop-pipeline import` converts: one registry of adapters (sources/adapter.py).

Adding a format is one module with its ADAPTER and one line here (docs/layout.md, "Add a source adapter").
"""

from __future__ import annotations

from shop_pipeline.sources import cdnow, generic, online_retail, rees46, retailrocket
from shop_pipeline.sources.adapter import Adapter, ImportFailed

ADAPTERS: dict[str, Adapter] = {
    adapter.name: adapter
    for adapter in (
        rees46.ADAPTER,
        cdnow.ADAPTER,
        online_retail.ADAPTER,
        retailrocket.ADAPTER,
        generic.ADAPTER,
    )
}


def adapter_for(name: str) -> Adapter:
    """The adapter of format `name`; ImportFailed naming the formats when there is none."""
    if name not in ADAPTERS:
        raise ImportFailed(f"unknown format {name!r}: choose one of {', '.join(ADAPTERS)}")
    return ADAPTERS[name]
