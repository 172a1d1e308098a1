"""Files of the serving snapshot, shared by the per-model exports (ml/<model>/online.py) and the
snapshot itself (serving/snapshot.py): a query into Parquet, the version a score table was scored
with, a registered artifact copied and checked (no Dagster).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import duckdb

from shop_pipeline.ml.common import registry
from shop_pipeline.warehouse.connection import table_columns


def write_parquet(con: duckdb.DuckDBPyConnection, query: str, path: Path, params: dict | None = None) -> int:
    """The rows of `query` into a Parquet file through Arrow (no pandas frame in between); the row count."""
    import pyarrow.parquet as pq

    with warnings.catch_warnings():
        # DuckDB suggests con.sql(...) to save a copy, but a relation refuses to run while an earlier
        # execute() result on the connection is unfinished: the copy is the robust way here
        warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
        table = con.execute(query, params or {}).to_arrow_table()
    pq.write_table(table, path)
    return table.num_rows


def scored_version(con: duckdb.DuckDBPyConnection, table: str, model_name: str):
    """(registry row, as_of) of the one model version `table` was scored with; None when it was not
    scored, or by several versions, or by one the registry does not know."""
    if not table_columns(con, "ml.model_registry") or not table_columns(con, table):
        return None
    found = con.execute(f"SELECT DISTINCT model_version, as_of FROM {table}").fetchall()  # table: our constant
    if len(found) != 1:
        return None
    version, as_of = found[0]
    row = registry.get_version(con, model_name, version)
    return None if row is None else (row, as_of)


def copy_artifact(row, models_dir: Path, target: Path) -> None:
    """The registered artifact of `row` into the snapshot, refused when its bytes are not the registered ones."""
    data = registry.read_artifact_bytes(registry.artifact_location(models_dir, row.artifact_path))
    if registry.sha256_bytes(data) != row.sha256:
        raise registry.ArtifactIntegrityError(
            f"{row.model_name} {row.version}: the artifact does not match the SHA-256 the registry recorded"
        )
    Path(target).write_bytes(data)
