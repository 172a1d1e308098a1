"""The serving snapshot: what the online API answers from, published atomically beside the warehouse.

DuckDB allows one writing process and no reader beside it, so the API never opens the
warehouse. After the scoring stage, `publish_snapshot` copies what the endpoints need into a
new folder under <shop home>/serving/snapshots/<id>/ (Parquet files and a manifest), then
points <shop home>/serving/CURRENT at it with one atomic rename. A reader (`current_snapshot_dir`)
follows CURRENT; a folder is complete before CURRENT names it, and the previous snapshots stay
(the newest KEEP_SNAPSHOTS) so that a server still reading one is never cut off.

Contents (manifest.json lists the files and their row counts):
  customer_scores.parquet   scoring.customer_scores as written by the last run
  recommendations.parquet   scoring.recommendations, by customer and rank
  fallback.parquet          the list an unknown or cold customer gets: the products bought by the
                            most distinct customers in the FALLBACK_DAYS days up to as_of (all
                            history when that window is empty), reason "popular"
  models.json               the champions: version, trained / promoted, cut-off, validated
                            (held-out evaluations recorded in ml.model_evaluations)
  <model>...                each model's part for its online predictor (spec.snapshot_export, under its
                            name in the manifest), when the model was scored: order_risk.skops and
                            risk_*.parquet, the version that scored and the history online order
                            features need (ml/order_risk/online.py); demand_forecast.skops and
                            demand_*.parquet, the version, the history and the future frame the batch
                            forecast read (ml/demand_forecast/online.py)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.snapshot_files import write_parquet
from shop_pipeline.ml.models import MODELS
from shop_pipeline.warehouse.connection import table_columns

CURRENT_FILE = "CURRENT"
SNAPSHOTS_FOLDER = "snapshots"
MANIFEST = "manifest.json"
KEEP_SNAPSHOTS = 3
FALLBACK_DAYS = 30

# What a snapshot is copied from: when these tables and the code that copies them are unchanged,
# a publish would make the snapshot that is already current (publish_if_changed).
# Every score table, what the per-model exports read (the tables their scores were computed from) and
# the staged events (the fallback list, online order history); and the champions as the snapshot lists
# them (_CHAMPIONS): the registry's other rows change every run.
SNAPSHOT_INPUTS = {
    table: ""
    for table in sorted(
        {
            *(spec.score_table for spec in MODELS),
            *(table for spec in MODELS if spec.snapshot_export for table in spec.scoring_inputs),
            "staging.events",
        }
    )
}
SNAPSHOT_CODE = ("serving", "features", "sql", "ml")
FALLBACK_SIZE = 50

_TABLES = {
    "customer_scores": (
        "scoring.customer_scores",
        "SELECT customer_id, p_purchase, churn_risk, expected_orders, expected_spend, segment, model_version, as_of "
        "FROM scoring.customer_scores ORDER BY customer_id",
    ),
    "recommendations": (
        "scoring.recommendations",
        "SELECT customer_id, rank, product_id, score, reason, model_version, as_of "
        "FROM scoring.recommendations ORDER BY customer_id, rank",
    ),
}

# The fallback list: distinct buyers per product in the window before the cut-off.
_FALLBACK = """
WITH cut AS (
    SELECT coalesce(CAST($as_of AS DATE), max(partition_date)) AS as_of FROM staging.events
),
buyers AS (
    SELECT e.product_id, count(DISTINCT e.user_id) AS buyers
    FROM staging.events AS e, cut
    WHERE e.event_type = 'purchase' AND e.partition_date <= cut.as_of
      AND ($all_history OR e.partition_date > cut.as_of - to_days(CAST($days AS INTEGER)))
    GROUP BY e.product_id
)
SELECT CAST(row_number() OVER (ORDER BY buyers DESC, product_id) AS INTEGER) AS rank, product_id,
       CAST(buyers AS DOUBLE) AS score, 'popular' AS reason
FROM buyers
ORDER BY rank
LIMIT $size
"""

_NO_FALLBACK = (
    "SELECT NULL::INTEGER AS rank, NULL::VARCHAR AS product_id, NULL::DOUBLE AS score, NULL::VARCHAR AS reason LIMIT 0"
)

_CHAMPIONS = """
SELECT r.model_name, r.version, r.trained_at, r.promoted_at, r.as_of, r.train_start, r.train_end,
       EXISTS (SELECT 1 FROM ml.model_evaluations AS e
               WHERE e.model_name = r.model_name AND e.version = r.version AND e.value IS NOT NULL) AS validated
FROM ml.model_registry AS r
WHERE r.is_champion
ORDER BY r.model_name
"""


@dataclass(frozen=True)
class PublishedSnapshot:
    snapshot_id: str
    path: Path
    rows: dict[str, int]
    as_of: dt.date | None
    reused: bool = False  # the current snapshot already held these inputs: nothing was written


def serving_root(home: str | os.PathLike) -> Path:
    return Path(home) / "serving"


def current_snapshot_dir(root: str | os.PathLike) -> Path | None:
    """The folder CURRENT names under `root` (<home>/serving), or None before the first publish."""
    root = Path(root)
    try:
        name = (root / CURRENT_FILE).read_text().strip()
    except FileNotFoundError:
        return None
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"{root / CURRENT_FILE} does not name a snapshot folder: {name!r}")
    path = root / SNAPSHOTS_FOLDER / name
    if not (path / MANIFEST).is_file():
        raise FileNotFoundError(f"{root / CURRENT_FILE} names {name}, which has no {MANIFEST}")
    return path


def publish_if_changed(
    con: duckdb.DuckDBPyConnection, root: str | os.PathLike, models_dir: str | os.PathLike
) -> PublishedSnapshot:
    """publish_snapshot, unless the current snapshot was made from the same inputs (SNAPSHOT_INPUTS'
    fingerprints and the code): then that snapshot, marked reused."""
    from shop_pipeline.ml.common.lifecycle import inputs_key

    champions = con.execute(_CHAMPIONS).fetchall() if table_columns(con, "ml.model_registry") else []
    key, _ = inputs_key(
        con,
        tables=SNAPSHOT_INPUTS,
        settings={"fallback_days": FALLBACK_DAYS, "fallback_size": FALLBACK_SIZE, "champions": champions},
        as_of=None,
        code=SNAPSHOT_CODE,
    )
    current = current_snapshot_dir(root)
    if current is not None:
        manifest = json.loads((current / MANIFEST).read_text())
        if manifest.get("inputs_key") == key:
            as_of = dt.date.fromisoformat(manifest["as_of"][:10]) if manifest.get("as_of") else None
            return PublishedSnapshot(
                snapshot_id=manifest["snapshot_id"], path=current, rows=manifest["rows"], as_of=as_of, reused=True
            )
    return publish_snapshot(con, root, models_dir, inputs_key=key)


def publish_snapshot(
    con: duckdb.DuckDBPyConnection,
    root: str | os.PathLike,
    models_dir: str | os.PathLike,
    now: dt.datetime | None = None,
    inputs_key: str | None = None,
) -> PublishedSnapshot:
    """Copy the serving tables out of the warehouse into a new snapshot folder and make it current
    (`inputs_key`, recorded in the manifest, lets publish_if_changed reuse it)."""
    root = Path(root)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    snapshot_id = now.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    folders = root / SNAPSHOTS_FOLDER
    folders.mkdir(parents=True, exist_ok=True)
    building = folders / f".{snapshot_id}.building"
    building.mkdir()
    try:
        rows: dict[str, int] = {}
        as_of = None
        for name, (table, query) in _TABLES.items():
            # a model that never scored (skipped): its endpoints answer 404 / the fallback
            rows[name] = write_parquet(
                con, query if table_columns(con, table) else _empty(name), building / f"{name}.parquet"
            )
            if rows[name] and as_of is None:
                as_of = con.execute(f"SELECT any_value(as_of) FROM {table}").fetchone()[0]
        params = {"as_of": as_of, "days": FALLBACK_DAYS, "size": FALLBACK_SIZE, "all_history": False}
        if not table_columns(con, "staging.events"):
            rows["fallback"] = write_parquet(con, _NO_FALLBACK, building / "fallback.parquet")
        else:  # the window's buyers, else (nobody bought in it) all history's
            rows["fallback"] = write_parquet(con, _FALLBACK, building / "fallback.parquet", params)
            if not rows["fallback"]:
                rows["fallback"] = write_parquet(
                    con, _FALLBACK, building / "fallback.parquet", {**params, "all_history": True}
                )
        champions = con.execute(_CHAMPIONS).fetchall() if table_columns(con, "ml.model_registry") else []
        known = {spec.name for spec in MODELS}
        models = [  # the champion of each model (by name, as the API lists them)
            {
                "model_name": m,
                "version": v,
                "trained_at": _iso(t),
                "promoted_at": _iso(p),
                "as_of": _iso(a),
                "train_start": _iso(s),
                "train_end": _iso(e),
                "validated": bool(ok),
            }
            for m, v, t, p, a, s, e, ok in champions
            if m in known
        ]
        (building / "models.json").write_text(json.dumps(models, indent=2))
        manifest = {
            "snapshot_id": snapshot_id,
            "published_at": _iso(now),
            "as_of": _iso(as_of),
            "rows": rows,
            "models": len(models),
            "inputs_key": inputs_key,
        }
        for spec in MODELS:  # what each model's online predictor needs (when the model was scored)
            part = (
                spec.snapshot_export(con, building, models_dir if registry.is_uri(models_dir) else Path(models_dir))
                if spec.snapshot_export
                else None
            )
            if part is not None:
                rows.update(part.pop("rows"))
                manifest[spec.name] = part
        _write_synced(building / MANIFEST, json.dumps(manifest, indent=2))
        final = folders / snapshot_id
        os.replace(building, final)
        _point_current(root, snapshot_id)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    _prune(folders, keep=snapshot_id)
    return PublishedSnapshot(snapshot_id=snapshot_id, path=final, rows=rows, as_of=as_of)


def _empty(name: str) -> str:
    if name == "customer_scores":
        return (
            "SELECT NULL::VARCHAR AS customer_id, NULL::DOUBLE AS p_purchase, NULL::DOUBLE AS churn_risk, "
            "NULL::DOUBLE AS expected_orders, NULL::DOUBLE AS expected_spend, NULL::VARCHAR AS segment, "
            "NULL::VARCHAR AS model_version, NULL::DATE AS as_of LIMIT 0"
        )
    return (
        "SELECT NULL::VARCHAR AS customer_id, NULL::INTEGER AS rank, NULL::VARCHAR AS product_id, "
        "NULL::DOUBLE AS score, NULL::VARCHAR AS reason, NULL::VARCHAR AS model_version, "
        "NULL::DATE AS as_of LIMIT 0"
    )


def _iso(value) -> str | None:
    return None if value is None else value.isoformat()


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _point_current(root: Path, snapshot_id: str) -> None:
    """CURRENT names the new folder after one rename: a reader sees the old name or the new one."""
    temporary = root / f".{CURRENT_FILE}.{uuid.uuid4().hex[:8]}"
    _write_synced(temporary, snapshot_id + "\n")
    os.replace(temporary, root / CURRENT_FILE)


def _prune(folders: Path, keep: str) -> None:
    """Keep the newest KEEP_SNAPSHOTS folders (a server may still be loading the previous one)."""
    published = sorted(
        (p for p in folders.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name
    )
    for old in published[:-KEEP_SNAPSHOTS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
