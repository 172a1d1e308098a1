"""Loading the thresholds of quality/thresholds.yaml (and a user's overrides)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from shop_pipeline.warehouse.staging import StagingRules

THRESHOLDS_ENV = "SHOP_PIPELINE_THRESHOLDS"  # the `quality` resource's thresholds_path when set (resources.py)


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in (override or {}).items():
        if key not in base:
            raise ValueError(f"unknown threshold {key!r}; known: {', '.join(base)}")
        merged[key] = _merge(base[key], value) if isinstance(base[key], dict) else value
    return merged


def load_thresholds(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """thresholds.yaml, with the keys of the YAML file at `path` (when given) overriding it."""
    defaults = yaml.safe_load(resources.files(__package__).joinpath("thresholds.yaml").read_text())
    if not path:
        return defaults
    return _merge(defaults, yaml.safe_load(Path(path).read_text()) or {})


def staging_rules(thresholds: dict[str, Any]) -> StagingRules:
    rules = thresholds["staging_rules"]
    return StagingRules(
        max_lateness_days=int(rules["max_lateness_days"]),
        future_tolerance_minutes=int(rules["future_tolerance_minutes"]),
        max_price=float(rules["max_price"]),
        max_quantity=int(rules["max_quantity"]),
    )
