"""The serving snapshot exported from the lake (Spark mode): the same snapshot, read from Parquet (no Dagster).

In DuckDB mode `snapshot.publish_snapshot(con, root, models_dir)` copies what the API needs out of
the warehouse: the score tables, the fallback list from staging.events, the champions from the
registry, and each model's part (`spec.snapshot_export`: its artifact, the history its online
features need). In Spark mode those tables are Parquet on the lake. `lake_connection(lake)` is an
in-memory DuckDB session (UTC, as the warehouse's) in which every lake table is a view named and
typed as in the warehouse (engine/lake_views.py: through `lake.duckdb_source`, never a `**`
glob), so the very same export code runs on it: `publish_snapshot_from_lake` gives the snapshot the
warehouse gives for the same data (tested file by file). DuckDB reads only the columns and rows
the export asks for; nothing is loaded whole. The lake must be readable here (a local path or a
mount; DuckDB's httpfs would read object storage, not set up by this module).

The registry (`ml.model_registry`, `ml.model_evaluations`) is read from the lake when it is there,
or from a DuckDB registry file (`registry=`, attached read-only) when the registry stays in a
DuckDB file beside the lake; the artifacts from `models_dir`, storage every worker reads.

`publish_from_lake_if_changed` is `publish_if_changed` for the lake: the views are not tables, so
the warehouse's row fingerprints do not apply; a lake table is fingerprinted by its published
files (`lake_views.lake_fingerprint`: every write has its own file names), with the champions,
the settings and the code as there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import duckdb

from shop_pipeline.engine.lake_views import attach_lake, lake_fingerprint
from shop_pipeline.ml.common.lifecycle import code_version
from shop_pipeline.serving import snapshot
from shop_pipeline.sql import ddl
from shop_pipeline.sql.session import prepare_session
from shop_pipeline.warehouse.connection import table_columns

REGISTRY_TABLES = ("ml.model_registry", "ml.model_evaluations")


def lake_connection(lake_uri: str, registry: str | os.PathLike | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session whose `<schema>.<table>` views read the lake's tables; the
    registry tables from the DuckDB file `registry` instead, when given."""
    con = duckdb.connect()
    prepare_session(con)
    lake_tables = [t for t in ddl.tables() if registry is None or t not in REGISTRY_TABLES]
    attach_lake(con, lake_uri, lake_tables)
    if registry is not None:
        con.execute(f"ATTACH {_string(str(registry))} AS registry_file (READ_ONLY)")
        con.execute("CREATE SCHEMA IF NOT EXISTS ml")
        for table in REGISTRY_TABLES:
            schema, name = table.split(".")
            found = con.execute(
                "SELECT 1 FROM duckdb_tables() WHERE database_name = 'registry_file' AND schema_name = ? "
                "AND table_name = ?",
                [schema, name],
            ).fetchone()
            if found:
                con.execute(f"CREATE VIEW {table} AS SELECT * FROM registry_file.{table}")
    return con


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def publish_snapshot_from_lake(
    lake_uri: str,
    root: str | os.PathLike,
    models_dir: str | os.PathLike,
    *,
    registry: str | os.PathLike | None = None,
    now: dt.datetime | None = None,
    inputs_key: str | None = None,
) -> snapshot.PublishedSnapshot:
    """snapshot.publish_snapshot over the lake's tables (module docstring)."""
    con = lake_connection(lake_uri, registry)
    try:
        return snapshot.publish_snapshot(con, root, models_dir, now=now, inputs_key=inputs_key)
    finally:
        con.close()


def lake_inputs_key(lake_uri: str, registry: str | os.PathLike | None = None) -> str:
    """What a lake snapshot is made from: SNAPSHOT_INPUTS' files, the champions, settings and code."""
    con = lake_connection(lake_uri, registry)
    try:
        champions = con.execute(snapshot._CHAMPIONS).fetchall() if table_columns(con, "ml.model_registry") else []
    finally:
        con.close()
    inputs = {
        "tables": {table: lake_fingerprint(lake_uri, table) for table in sorted(snapshot.SNAPSHOT_INPUTS)},
        "settings": json.loads(
            json.dumps(
                {
                    "fallback_days": snapshot.FALLBACK_DAYS,
                    "fallback_size": snapshot.FALLBACK_SIZE,
                    "champions": champions,
                },
                sort_keys=True,
                default=str,
            )
        ),
        "code": code_version(snapshot.SNAPSHOT_CODE),
        "source": "lake",
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def publish_from_lake_if_changed(
    lake_uri: str,
    root: str | os.PathLike,
    models_dir: str | os.PathLike,
    *,
    registry: str | os.PathLike | None = None,
) -> snapshot.PublishedSnapshot:
    """publish_snapshot_from_lake, unless the current snapshot was made from the same lake files,
    champions and code: then that snapshot, marked reused."""
    key = lake_inputs_key(lake_uri, registry)
    current = snapshot.current_snapshot_dir(root)
    if current is not None:
        manifest = json.loads((Path(current) / snapshot.MANIFEST).read_text())
        if manifest.get("inputs_key") == key:
            as_of = dt.date.fromisoformat(manifest["as_of"][:10]) if manifest.get("as_of") else None
            return snapshot.PublishedSnapshot(
                snapshot_id=manifest["snapshot_id"], path=current, rows=manifest["rows"], as_of=as_of, reused=True
            )
    return publish_snapshot_from_lake(lake_uri, root, models_dir, registry=registry, inputs_key=key)
