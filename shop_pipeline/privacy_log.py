"""The closing of a privacy operation (forget, the retention purge, a key rotation): one JSON line of its
report in the shop's logs folder (the audit trail docs/privacy.md describes: counts and ids of requests,
never a clear customer id)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from shop_pipeline.settings import ShopPaths


def close_report(paths: ShopPaths, report: Any, log_name: str) -> None:
    """Append `report` (a dataclass with a `notes` list, which stays out of the log) to logs/`log_name`."""
    paths.logs.mkdir(parents=True, exist_ok=True)
    with (paths.logs / log_name).open("a", encoding="utf-8") as handle:
        entry = asdict(report)
        entry.pop("notes")
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
