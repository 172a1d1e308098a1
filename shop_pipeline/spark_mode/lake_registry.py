"""The model registry on the lake (Spark mode): `<lake>/ml/model_registry/`, `<lake>/ml/model_evaluations/`
and `<lake>/ml/drift_references/`, plain Parquet every worker and every Dagster run reads (no Dagster).

The registry's code (ml/common/registry.py, lifecycle.py) works on a DuckDB connection, one
transaction per change. `lake_registry(lake)` gives it one: an in-memory DuckDB session holding the
lake's registry tables (small: a row per version, per metric). When the block ends without an
error, every table whose rows changed is published back with the lake's write-audit-publish
(engine/lake.py: written aside, audited, then swapped in; a killed run leaves the previous table,
and the next write recovers its journal). A block that raises publishes nothing.

- **Several runs at once.** A block may last a whole training (minutes), and in Spark mode the
  models train in parallel. So a block publishes its *changes*, not its copy: the rows it added and
  the rows it removed (an update is both) relative to what it read, merged into the table as the
  lake holds it at publish time (a three-way merge of rows). Other runs' rows (another model's new
  version, its promotion) stay. When a row this block changed was changed by another run too
  (the same model promoted by two runs), the merge refuses it: `RegistryChanged`, nothing of this
  block is published.
- **The swap.** The audit of each write checks that the table's published files are still those
  the merge read; when another run published in between, the merge is done again on the new table
  (a few times). Between that audit and the swap (milliseconds) a second writer is not detected.
- **Order.** The evaluations (and drift references) are published before `ml.model_registry`: a
  version becomes visible with its row, and by then its evaluations are there. A run killed between
  the two leaves evaluations of a version nobody sees (harmless: a version's evaluations are
  replaced whole when it is registered, and a new training is a new version).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from shop_pipeline.engine import lake as lakes
from shop_pipeline.engine.lake_views import lake_fingerprint
from shop_pipeline.ml.common import registry
from shop_pipeline.sql import ddl
from shop_pipeline.sql.session import prepare_session

# published in this order: a version's row last (module docstring)
PUBLISH_ORDER = ("ml.model_evaluations", "ml.drift_references", "ml.model_registry")


class RegistryChanged(RuntimeError):
    """Another run published the lake's registry while this one was changing it."""


def _columns(table: str) -> str:
    return ", ".join(f'"{c}"' for c in ddl.column_names(table))


def _base(table: str) -> str:
    return f"base.{table.replace('.', '_')}"


def read_lake_rows(lake_uri: str, table: str) -> pa.Table | None:
    """The lake's rows of registry `table` with the DDL's columns and types (None: the lake has no such
    table). Read with pyarrow.fs, so a lake on object storage works as a local one."""
    located = lakes.lake_table(lake_uri, table)
    fs, base = located.filesystem()
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        return None
    lakes.recover(located)  # a dead writer's publish is finished (or rolled back) first
    files = sorted(
        info.path
        for info in fs.get_file_info(pafs.FileSelector(base))
        if info.type == pafs.FileType.File
        and info.base_name.endswith(".parquet")
        and not info.base_name.startswith(("_", "."))
    )
    with duckdb.connect() as con:
        prepare_session(con)
        if files:
            rows = pads.dataset(files, filesystem=fs, format="parquet").to_table()
            present = set(rows.column_names)
            source = "lake_rows"
            con.register(source, rows)
        else:
            present, source = set(), None
        selected = ", ".join(
            f"CAST({lakes.sql_identifier(c.name) if c.name in present else 'NULL'} AS {c.type}) AS "
            f"{lakes.sql_identifier(c.name)}"
            for c in ddl.columns(table)
        )
        return con.sql(f"SELECT {selected} FROM {source}" if source else f"SELECT {selected} LIMIT 0").to_arrow_table()


def _load(con: duckdb.DuckDBPyConnection, lake_uri: str) -> None:
    """Copy the lake's registry tables into `con`'s tables of the same names (created empty when the
    lake has none yet), and keep what was read under `base.` (the merge's common ancestor)."""
    registry.ensure_registry_schema(con)
    for table in registry.REGISTRY_TABLES:
        rows = read_lake_rows(lake_uri, table)
        if rows is not None:
            con.register("lake_rows", rows)
            con.execute(f"INSERT INTO {table} ({_columns(table)}) SELECT {_columns(table)} FROM lake_rows")
            con.unregister("lake_rows")
    registry.ensure_registry_schema(con)  # rows written under older model names are renamed (a change)
    con.execute("ATTACH ':memory:' AS base")
    for table in registry.REGISTRY_TABLES:
        rows = read_lake_rows(lake_uri, table)
        con.register(
            "lake_rows",
            rows if rows is not None else con.sql(f"SELECT {_columns(table)} FROM {table} LIMIT 0").to_arrow_table(),
        )
        con.execute(f"CREATE TABLE {_base(table)} AS SELECT {_columns(table)} FROM lake_rows")
        con.unregister("lake_rows")


def _changed(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    columns = _columns(table)
    mine, base = f"SELECT {columns} FROM {table}", f"SELECT {columns} FROM {_base(table)}"
    [(added, removed)] = con.execute(
        f"SELECT (SELECT count(*) FROM ({mine} EXCEPT ALL {base})), (SELECT count(*) FROM ({base} EXCEPT ALL {mine}))"
    ).fetchall()
    return bool(added or removed)


def _merged(con: duckdb.DuckDBPyConnection, lake_uri: str, table: str) -> tuple[pa.Table, str]:
    """(the lake's current rows of `table` with this block's changes, the published state they were read
    from); RegistryChanged when a row this block removed or updated is no longer on the lake."""
    read_as = published(lake_uri, table)
    now = read_lake_rows(lake_uri, table)
    columns = _columns(table)
    mine, base = f"SELECT {columns} FROM {table}", f"SELECT {columns} FROM {_base(table)}"
    con.register("lake_now", now if now is not None else con.sql(f"{base} LIMIT 0").to_arrow_table())
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE removed AS {base} EXCEPT ALL {mine}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE added AS {mine} EXCEPT ALL {base}")
        [(lost,)] = con.execute(
            "SELECT count(*) FROM (SELECT * FROM removed EXCEPT ALL SELECT * FROM lake_now)"
        ).fetchall()
        if lost:
            raise RegistryChanged(
                f"{table}: {lost} rows this run changed were changed by another run meanwhile (the same model "
                "trained or promoted twice at once): nothing of this run was published; run it again"
            )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE merged AS "
            "SELECT * FROM (SELECT * FROM lake_now EXCEPT ALL SELECT * FROM removed) UNION ALL SELECT * FROM added"
        )
        if table == "ml.model_registry":
            broken = con.execute(INVARIANTS).fetchall()
            if broken:
                raise RegistryChanged(
                    f"{table}: merged with another run's changes it would break the registry ({broken[0][0]}): "
                    "nothing of this run was published; run it again"
                )
        rows = con.sql("SELECT * FROM merged").to_arrow_table()
    finally:
        con.unregister("lake_now")
    return rows, read_as


MERGE_ATTEMPTS = 5
# what the registry promises whatever the merge: one row per version, at most one champion per model
INVARIANTS = """
SELECT model_name || ' ' || version || ' registered twice' FROM merged GROUP BY model_name, version HAVING count(*) > 1
UNION ALL
SELECT model_name || ' with ' || count(*) || ' champions' FROM merged WHERE is_champion GROUP BY model_name
HAVING count(*) > 1"""


def _publish(con: duckdb.DuckDBPyConnection, lake_uri: str, table: str) -> lakes.WriteResult:
    """Merge this block's changes of `table` into the lake's table and publish it (module docstring)."""
    for attempt in range(MERGE_ATTEMPTS):
        rows, read_as = _merged(con, lake_uri, table)

        def audit(staged: lakes.StagedWrite, rows=rows, read_as=read_as) -> None:
            if published(lake_uri, table) != read_as:
                raise RegistryChanged(f"{table} on the lake was published by another run during this merge")
            got = staged.dataset().count_rows()
            if got != rows.num_rows:
                raise lakes.AuditFailed(f"{table}: {got} rows staged for {rows.num_rows}")

        try:
            return lakes.write_partitions(rows, lakes.lake_table(lake_uri, table), audit=audit)
        except RegistryChanged:
            if attempt == MERGE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def published(lake_uri: str, table: str) -> str:
    """What the lake has published of `table`: its files' fingerprint, "empty" without data files."""
    found = lake_fingerprint(lake_uri, table)
    return "empty" if found == "missing" or found.startswith("0:") else found


@contextlib.contextmanager
def lake_registry(lake_uri: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection holding the lake's registry; what the block changed is published (module docstring)."""
    con = duckdb.connect()
    try:
        prepare_session(con)
        _load(con, lake_uri)
        yield con
        with con.cursor() as session:  # the registry's statements may leave a result open on `con`
            for table in PUBLISH_ORDER:
                if _changed(session, table):
                    _publish(session, lake_uri, table)
    finally:
        con.close()
