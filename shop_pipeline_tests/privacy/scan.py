"""Searching every file under a shop home for ids: the proof of the privacy tests is the bytes, not
a query. DuckDB and Parquet files compress strings, so their decoded text values are searched too
(every text column of every table); every other file's raw bytes. A value is found when it is a
whole token (a run of letters and digits) of the text: ids are such tokens in the shop's formats."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

_TOKEN = re.compile(rb"[A-Za-z0-9]+")
_TEXT_TYPES = ("VARCHAR", "JSON")


@dataclass(frozen=True)
class Found:
    path: Path
    where: str  # "bytes" or "<table>.<column>"
    values: frozenset[str]


def tokens(data: bytes) -> set[bytes]:
    return set(_TOKEN.findall(data))


def landed_ids(landing: Path) -> set[str]:
    """Every customer and session id of the landed event files (CSV and JSON Lines)."""
    ids: set[str] = set()
    with duckdb.connect() as con:
        for path in sorted((landing / "events").glob("*")):
            if path.suffix == ".csv":
                relation = f"read_csv({_quoted(path)}, all_varchar = true, ignore_errors = true, header = true)"
            elif path.suffix == ".jsonl":
                relation = f"read_json({_quoted(path)}, format = 'newline_delimited', ignore_errors = true)"
            else:
                continue
            columns = {c for (c, *_) in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
            for column in sorted({"user_id", "session_id"} & columns):
                ids |= {str(v) for (v,) in con.execute(f"SELECT DISTINCT {column} FROM {relation}").fetchall() if v}
    return ids


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _relations(con: duckdb.DuckDBPyConnection, catalog: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT schema_name || '.' || table_name, column_name FROM duckdb_columns() "
        "WHERE database_name = ? AND NOT internal AND (data_type IN ('VARCHAR', 'JSON') OR data_type LIKE '%VARCHAR%') "
        "ORDER BY 1, 2",
        [catalog],
    ).fetchall()


def _text_values(con: duckdb.DuckDBPyConnection, relation: str, column: str) -> set[bytes]:
    found: set[bytes] = set()
    for (value,) in con.execute(f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM {relation}').fetchall():
        if value is not None:
            found |= tokens(value.encode("utf-8", "replace"))
    return found


def search_home(
    home: Path,
    needles: Iterable[str],
    skip: tuple[str, ...] = (),
    open_duckdb: Callable[[Path], duckdb.DuckDBPyConnection] | None = None,
) -> list[Found]:
    """Where under `home` any of `needles` is found (folders in `skip`, relative to home, are not searched).

    `open_duckdb(path)` opens a DuckDB file whose tables to decode (default: read-only, unencrypted);
    it returns the connection and the catalog name holding the tables."""
    wanted = {n.encode() for n in needles}
    found: list[Found] = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        relative = path.relative_to(home).as_posix()
        if any(relative == s or relative.startswith(s.rstrip("/") + "/") for s in skip):
            continue
        hits = tokens(path.read_bytes()) & wanted
        if hits:
            found.append(Found(path, "bytes", frozenset(h.decode() for h in hits)))
        if path.suffix == ".duckdb":
            con, catalog = open_duckdb(path) if open_duckdb else (duckdb.connect(str(path), read_only=True), None)
            with con:
                catalog = catalog or con.execute("SELECT current_database()").fetchone()[0]
                for table, column in _relations(con, catalog):
                    hits = _text_values(con, f"{catalog}.{table}", column) & wanted
                    if hits:
                        found.append(Found(path, f"{table}.{column}", frozenset(h.decode() for h in hits)))
        elif path.suffix == ".parquet":
            with duckdb.connect() as con:
                relation = f"read_parquet({_quoted(path)})"
                columns = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
                for column, data_type, *_ in columns:
                    if "VARCHAR" in data_type or data_type in _TEXT_TYPES:
                        hits = _text_values(con, relation, column) & wanted
                        if hits:
                            found.append(Found(path, column, frozenset(h.decode() for h in hits)))
    return found
