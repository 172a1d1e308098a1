"""What the drift measurement reads, in either engine: one dispatch point for the monitoring asset (no Dagster).

| | duckdb | spark |
|---|---|---|
| feature and score tables, `staging.events` | the warehouse | DuckDB views of the lake's tables (engine/lake_views.attach_lake, as the serving snapshot reads them) |
| registry (`ml.*`, the drift references included) | the warehouse | the lake's, published when the block ends (spark_mode/lake_registry.py) |
| champions' artifacts | `<shop home>/models` | `Engine.models_location`, default `<lake>/_models` |
| fingerprints of the tables the measurement's key reads | their rows | a lake table's published files (`lake_fingerprint`): views have no row fingerprints |

`drift.measure_drift` and the facts the retraining sensor reads run unchanged on the session's connection.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb

from shop_pipeline.engine.lake_views import attach_lake, lake_fingerprint
from shop_pipeline.ml.common import registry
from shop_pipeline.spark_mode.lake_registry import lake_registry
from shop_pipeline.sql import ddl


@dataclass(frozen=True)
class MonitoringSession:
    con: duckdb.DuckDBPyConnection
    models_dir: os.PathLike | str
    fingerprints: dict[str, str] | None  # of tables read as lake views (lifecycle.inputs_key); None: read rows


@contextlib.contextmanager
def lake_monitoring_session(lake: str, models_dir: os.PathLike | str) -> Iterator[MonitoringSession]:
    """The lake's tables as views and the lake's registry as tables, in one DuckDB session; the registry
    changes of the block (new drift references) are published when it ends without an error."""
    with lake_registry(lake) as con:
        tables = [t for t in ddl.tables() if t not in registry.REGISTRY_TABLES]
        attached = attach_lake(con, lake, tables)
        for table in sorted(set(tables) - set(attached)):  # never written on the lake: empty, as in a new warehouse
            ddl.create(con, table)
        yield MonitoringSession(con, models_dir, {table: lake_fingerprint(lake, table) for table in tables})


@contextlib.contextmanager
def monitoring_session(engine, warehouse, paths) -> Iterator[MonitoringSession]:
    """The session of the run's engine (module docstring); `engine` None or DuckDB: the warehouse."""
    if engine is not None and engine.is_spark:
        with lake_monitoring_session(engine.settings().lake, engine.models_location(paths)) as session:
            yield session
        return
    with warehouse.connection() as con:
        registry.ensure_registry_schema(con)
        yield MonitoringSession(con, paths.models, None)
