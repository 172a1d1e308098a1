"""The lake's tables as DuckDB views, typed as their DDL: what reads a Spark-mode table with DuckDB code (no Dagster).

`attach_lake(con, lake)` creates, in a DuckDB connection, one view `<schema>.<table>` per table of
sql/tables/ that has a folder on the lake, reading it through `lake.duckdb_source` (never DuckDB's
`**` glob, which would also read a write in progress under `_wap/`). Each view selects the DDL's
columns in order, cast to the DDL's types (the Parquet files hold Spark's types: DECIMAL(20, 0)
for a UBIGINT, and monthly tables add `event_month`, which the view leaves out), so code written
against the warehouse (the serving snapshot's export, the per-model exports) reads the same rows
with the same types. A table folder without data files is an empty view of the same columns; a
table without a folder gets no view (as a warehouse table that was never written does not exist).
A column of the DDL missing from the files (written before it was added) reads as NULL.

Before a table is read its interrupted writes of dead writers are recovered (`lake.recover`), as
every lake reader should.

`lake_fingerprint(lake, table)` names a table's content by its files (the write id is in every file
name, so a new write is a new fingerprint): what a reuse check compares without reading the rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import pyarrow.fs as pafs

from shop_pipeline.engine import lake
from shop_pipeline.engine.layout import MONTH_COLUMN
from shop_pipeline.sql import ddl


def _data_files(table: lake.LakeTable) -> list[pafs.FileInfo] | None:
    """The table's published data files (None when its folder does not exist)."""
    fs, base = table.filesystem()
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        return None
    infos = fs.get_file_info(pafs.FileSelector(base, recursive=True))
    out = []
    for info in infos:
        relative = info.path[len(base) :].lstrip("/")
        parts = relative.split("/")
        if info.type != pafs.FileType.File or not relative.endswith(".parquet"):
            continue
        if any(p.startswith(("_", ".")) for p in parts):
            continue  # _wap/, _trash/: never published data
        if table.partitioned and not (len(parts) == 2 and parts[0].startswith(f"{MONTH_COLUMN}=")):
            continue
        if not table.partitioned and len(parts) != 1:
            continue
        out.append(info)
    return sorted(out, key=lambda i: i.path)


def lake_fingerprint(lake_uri: str, table: str) -> str:
    """`files:<sha256 of the published files' names and sizes>`, or "missing" without a folder."""
    files = _data_files(lake.lake_table(lake_uri, table))
    if files is None:
        return "missing"
    digest = hashlib.sha256()
    for info in files:
        digest.update(f"{info.path}\0{info.size}\n".encode())
    return f"{len(files)}:{digest.hexdigest()}"


def _identifier(name: str) -> str:
    return lake.sql_identifier(name)


def attach_lake(con: Any, lake_uri: str, tables: Iterable[str] | None = None, *, recover: bool = True) -> list[str]:
    """Create a view per lake table (default: every table of sql/tables/) in `con`; returns the
    tables that got one (module docstring)."""
    attached = []
    for table in sorted(tables if tables is not None else ddl.tables()):
        located = lake.lake_table(lake_uri, table)
        if recover:
            fs, base = located.filesystem()
            if fs.get_file_info(base).type == pafs.FileType.Directory:
                lake.recover(located)
        files = _data_files(located)
        if files is None:
            continue
        schema, name = table.split(".")
        columns = ddl.columns(table)
        if files:
            source = lake.duckdb_source(located)
            present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        else:
            source, present = None, set()
        selected = ", ".join(
            f"CAST({_identifier(c.name) if c.name in present else 'NULL'} AS {c.type}) AS {_identifier(c.name)}"
            for c in columns
        )
        body = f"SELECT {selected} FROM {source}" if source else f"SELECT {selected} LIMIT 0"
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_identifier(schema)}")
        con.execute(f"CREATE OR REPLACE VIEW {_identifier(schema)}.{_identifier(name)} AS {body}")
        attached.append(table)
    return attached
