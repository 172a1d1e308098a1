"""The Dagster instance of a shop: $DAGSTER_HOME, or $SHOP_PIPELINE_HOME/dagster_home."""

from __future__ import annotations

import os
from pathlib import Path

from shop_pipeline.settings import ShopPaths

# DuckDB has one writer: every asset in pool "duckdb" runs one at a time across runs.
DAGSTER_YAML = """\
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def ensure_dagster_home(paths: ShopPaths) -> Path:
    """Point DAGSTER_HOME at a persistent folder with our dagster.yaml (unless already set)."""
    home = Path(os.environ.get("DAGSTER_HOME") or paths.dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    # The webserver and daemon create the UI's runs: one planned event per asset for a range
    # (see definitions.py), inherited by `dagster dev` from this process.
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
    return home
