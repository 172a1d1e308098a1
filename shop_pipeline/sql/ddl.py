"""Every warehouse table's DDL, one file each: sql/tables/<schema>.<table>.sql (no Dagster).

A file holds the table's `CREATE TABLE IF NOT EXISTS` with a `--` comment per column (a comment
line right under a column continues its comment), then any `ALTER TABLE ... ADD COLUMN IF NOT
EXISTS` that brings a warehouse written by an earlier version up to date. It is the one source
of the table's columns: the writers execute it (`create`, or `replace` for a table rewritten
whole), the column contracts read its column names (`column_names`), and the UI's column
schemas its names, DuckDB types, nullability and comments (`columns`, defs/schemas.py).

Names and types come from DuckDB itself: every file is executed once in an in-memory database
and read back from duckdb_columns() and duckdb_constraints(), so what a caller is told is what
DuckDB creates. Only the descriptions are read from the text, matched to those columns.

A model kept outside this package (a test's toy model) brings its score table's file along:
`include(path)` (ModelSpec.score_ddl) adds it to the tables here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import duckdb

FOLDER = "tables"

# Created by every read-write connection (warehouse/connection.ensure_schema): the tables of
# ingestion and staging, and the feature builds' records. The others are created by their
# writers, so "the table does not exist" keeps meaning "never written".
ON_CONNECT = (
    "raw.ingested_files",
    "raw.events",
    "raw.rejected_lines",
    "raw.products",
    "raw.ad_spend",
    "raw.promotions",
    "staging.events",
    "staging.quarantined_events",
    "staging.duplicate_events",
    "staging.staged_days",
    "features.table_audits",
    "features.table_builds",
    "features.built_partitions",
)

_CREATE = re.compile(r"^CREATE TABLE IF NOT EXISTS ", flags=re.MULTILINE)
_INCLUDED: dict[str, Path] = {}  # table -> a DDL file outside sql/tables/ (include)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as DuckDB names it: VARCHAR, DOUBLE[], JSON ...
    nullable: bool
    description: str


@cache
def _folder_tables() -> tuple[str, ...]:
    folder = resources.files(__package__).joinpath(FOLDER)
    return tuple(f.name.removesuffix(".sql") for f in folder.iterdir() if f.name.endswith(".sql"))


@cache
def tables() -> tuple[str, ...]:
    """Every table with a DDL file, "schema.table", sorted."""
    return tuple(sorted({*_folder_tables(), *_INCLUDED}))


def include(path: str | Path) -> str:
    """Add the DDL file `path` (<schema>.<table>.sql, kept outside sql/tables/) to the tables; its table."""
    path = Path(path)
    table = path.name.removesuffix(".sql")
    if _INCLUDED.get(table) == path:
        return table
    if table in tables():
        raise ValueError(f"{table} has a DDL file already; {path} cannot add it again")
    _INCLUDED[table] = path
    for cached in (tables, statement, create_script, replace_script, _catalog):
        cached.cache_clear()
    return table


def source(table: str) -> Path:
    """The table's DDL file: sql/tables/<table>.sql, or the file `include` added."""
    if table not in tables():
        raise KeyError(f"no DDL file sql/{FOLDER}/{table}.sql")
    return _INCLUDED.get(table) or Path(str(resources.files(__package__).joinpath(FOLDER, f"{table}.sql")))


@cache
def statement(table: str) -> str:
    """The text of the table's file (CREATE TABLE IF NOT EXISTS, then its migrations)."""
    text = source(table).read_text(encoding="utf-8")
    if len(_CREATE.findall(text)) != 1 or f"CREATE TABLE IF NOT EXISTS {table} (" not in text:
        raise ValueError(f"the DDL file of {table} must hold one 'CREATE TABLE IF NOT EXISTS {table} (' statement")
    return text


@cache
def create_script(*names: str) -> str:
    """The schemas and tables `names`, created when missing and migrated (one script)."""
    schemas = dict.fromkeys(name.split(".")[0] for name in names)
    return "".join(f"CREATE SCHEMA IF NOT EXISTS {s};\n" for s in schemas) + "\n".join(statement(n) for n in names)


@cache
def replace_script(table: str) -> str:
    """The table created anew, empty (CREATE OR REPLACE), with its schema when missing."""
    return create_script(table).replace(f"CREATE TABLE IF NOT EXISTS {table} (", f"CREATE OR REPLACE TABLE {table} (")


def create(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Create the tables `names` (and their schemas) where missing, and migrate older ones.
    Runs in the caller's transaction, if any."""
    con.execute(create_script(*names))


def replace(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Replace `table` by an empty one of its DDL (the caller's transaction keeps the old rows
    until it commits)."""
    con.execute(replace_script(table))


def columns(table: str) -> tuple[Column, ...]:
    """The table's columns in order, as DuckDB creates them, with their comments."""
    try:
        return _catalog()[0][table]
    except KeyError:
        raise KeyError(f"no DDL file sql/{FOLDER}/{table}.sql") from None


def column_names(table: str) -> tuple[str, ...]:
    return tuple(c.name for c in columns(table))


def nullable_columns(table: str) -> tuple[str, ...]:
    """The columns that may hold NULL, in table order."""
    return tuple(c.name for c in columns(table) if c.nullable)


def primary_key(table: str) -> tuple[str, ...]:
    """The primary key's columns; () without one."""
    return _catalog()[1].get(table, ())


@cache
def _catalog() -> tuple[dict[str, tuple[Column, ...]], dict[str, tuple[str, ...]]]:
    """Every table's columns and primary key, read back from an in-memory DuckDB that ran the files."""
    with duckdb.connect(":memory:") as con:
        con.execute(create_script(*tables()))
        rows = con.execute(
            "SELECT schema_name || '.' || table_name, column_name, data_type, is_nullable FROM duckdb_columns() "
            "WHERE NOT internal ORDER BY schema_name, table_name, column_index"
        ).fetchall()
        keys = con.execute(
            "SELECT schema_name || '.' || table_name, constraint_column_names FROM duckdb_constraints() "
            "WHERE constraint_type = 'PRIMARY KEY'"
        ).fetchall()
    found: dict[str, list[tuple[str, str, bool]]] = {}
    for table, name, type_, nullable in rows:
        found.setdefault(table, []).append((name, type_, nullable))
    catalog = {}
    for table in tables():
        described = _descriptions(statement(table), {name for name, _, _ in found[table]})
        catalog[table] = tuple(
            Column(name, type_, nullable, described.get(name, "")) for name, type_, nullable in found[table]
        )
    return catalog, {table: tuple(names) for table, names in keys}


def _descriptions(text: str, names: set[str]) -> dict[str, str]:
    """column -> its `--` comment in the CREATE TABLE: the comment on the line that starts with
    the column's name, continued by comment-only lines right under it."""
    described: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        code, dashes, comment = line.partition("--")
        words = code.split()
        if words:
            first = words[0].strip('"')
            current = first if first in names and first not in described else None
            if current and dashes:
                described[current] = [comment.strip()]
            elif current:
                described[current] = []
        elif dashes and current is not None:
            described[current].append(comment.strip())
        else:
            current = None
    return {name: " ".join(parts) for name, parts in described.items()}
