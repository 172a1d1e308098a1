"""Rewriting what the serving side holds after rows left the warehouse (an erasure, a retention
purge, a key rotation: forget.py, retention.py, rotate_key.py): the API's prediction logs, and the
serving snapshot, published again from the tables with every older snapshot removed."""

from __future__ import annotations

import datetime as dt
import shutil

from shop_pipeline.serving.snapshot import (
    CURRENT_FILE,
    SNAPSHOTS_FOLDER,
    current_snapshot_dir,
    publish_snapshot,
    serving_root,
)
from shop_pipeline.settings import ShopPaths
from shop_pipeline.sources.landing_erase import put_in_place
from shop_pipeline.warehouse.connection import connect

PREDICTION_LOGS = "logs"  # under the serving root


def rewrite_prediction_logs(paths: ShopPaths, stage) -> int:
    """Every API prediction log rewritten by `stage(log)` (a StagedRewrite or None); lines removed."""
    folder = serving_root(paths.home) / PREDICTION_LOGS
    removed = 0
    for log in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        rewrite = stage(log)
        if rewrite:
            removed += len(rewrite.removed_lines)
            put_in_place(rewrite)
    return removed


def republish_snapshot(
    paths: ShopPaths, now: dt.datetime, lake: str | None = None, models_dir: str | None = None
) -> str | None:
    """The serving snapshot published again from the tables as they are, every older one removed
    (they hold what was removed); None when none was ever published. With `lake` (Spark mode) the
    tables and the registry are the lake's and the artifacts under `models_dir`, as the
    serving_snapshot asset publishes them there."""
    root = serving_root(paths.home)
    if current_snapshot_dir(root) is None:
        return None
    if lake is not None:
        from shop_pipeline.serving.lake_snapshot import publish_snapshot_from_lake

        snapshot_id = publish_snapshot_from_lake(lake, root, models_dir or paths.models, now=now).snapshot_id
    else:
        with connect(paths.warehouse) as con:
            snapshot_id = publish_snapshot(con, root, paths.models, now=now).snapshot_id
    for folder in (root / SNAPSHOTS_FOLDER).iterdir():
        if folder.name != snapshot_id and folder.name != CURRENT_FILE:
            shutil.rmtree(folder) if folder.is_dir() else folder.unlink()
    return snapshot_id
