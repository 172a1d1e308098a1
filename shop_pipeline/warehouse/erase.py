"""Erasing customers from the warehouse (the table part of `shop-pipeline forget`, see forget.py).

`erase_rows` removes, in one transaction, every row of the given customers (by the id the
warehouse stores: their pseudonym, or the id itself without a pseudonym key) from every table
that has a customer, session or order column, the rows of their sessions and orders, the
quarantine, duplicate and rejected-line rows of their lines, and the lines the landing rewrite
removed; it records the rewritten landing files in raw.ingested_files (new size and SHA-256,
fewer rows read: not a new file version) and a tombstone per customer, so that a later file,
replay or backfill drops their rows at ingestion. The tombstone is an HMAC of the id under the
pseudonym key (a SHA-256 without one): neither the id nor its pseudonym is stored.

Deleted rows still sit in the file's free blocks until `compact` rewrites the whole database
into a fresh file (COPY FROM DATABASE) and puts it in place with one rename.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import transaction

PRIVACY_TABLES = ("privacy.tombstones", "privacy.erasures")
# The columns that name a customer, and the other keys whose rows are theirs.
CUSTOMER_COLUMNS = ("user_id", "customer_id")
SESSION_COLUMNS = ("session_id",)
ORDER_COLUMNS = ("order_id",)
# The JSON columns that hold a request or an answer naming them (monitoring.online_predictions).
JSON_KEYS = {"customer_id": "erase_customers", "session_id": "erase_sessions", "order_id": "erase_orders"}


@dataclass(frozen=True)
class LandingRewrite:
    """A landed file rewritten without the customers' lines (sources/landing_erase.py)."""

    path: str  # relative to the landing folder, as the manifest names it
    removed_lines: tuple[int, ...]
    old_sha256: str
    new_sha256: str
    new_size: int

    @classmethod
    def of(cls, staged, landing: Path) -> LandingRewrite:
        """The manifest's view of a rewrite staged by sources/landing_erase.py (`StagedRewrite`)."""
        return cls(
            path=staged.target.relative_to(landing.resolve()).as_posix(),
            removed_lines=staged.removed_lines,
            old_sha256=staged.original.sha256,
            new_sha256=staged.rewritten.sha256,
            new_size=staged.rewritten.size_bytes,
        )


@dataclass
class ErasedRows:
    request_id: str
    customers: int
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows removed
    landing_files: int = 0
    already_erased: int = 0  # customers that had a tombstone already

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def warehouse_tables(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """Every base table of the warehouse (but privacy.*): column -> type."""
    tables: dict[str, dict[str, str]] = {}
    for table, column, data_type in con.execute(
        "SELECT c.schema_name || '.' || c.table_name, c.column_name, c.data_type FROM duckdb_columns() AS c "
        "JOIN duckdb_tables() AS t USING (database_name, schema_name, table_name) "
        "WHERE c.database_name = current_database() AND NOT t.temporary AND c.schema_name <> 'privacy' "
        "ORDER BY 1, c.column_index"
    ).fetchall():
        tables.setdefault(table, {})[column] = data_type
    return tables


@dataclass(frozen=True)
class ErasureKeys:
    """Everything that names the customers being erased, as the warehouse holds it: their stored ids
    (pseudonyms), their sessions and orders, and their landed lines (file, line number). What the
    lake's tables are filtered by (spark_mode/lake_erase.py), read before the warehouse loses them."""

    customers: tuple[str, ...]
    sessions: tuple[str, ...]
    orders: tuple[str, ...]
    lines: tuple[tuple[str, int], ...]


def erasure_keys(con: duckdb.DuckDBPyConnection, clear_ids: list[str], rewrites: list[LandingRewrite]) -> ErasureKeys:
    """The keys of `clear_ids` as `erase_rows` finds them (the same temporary tables, in a
    transaction rolled back: the warehouse is not changed)."""
    stored = sorted({con.execute("SELECT pseudonym(?)", [i]).fetchone()[0] for i in clear_ids})
    tables = warehouse_tables(con)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE erase_customers AS SELECT DISTINCT unnest($ids) AS id", {"ids": stored}
        )
        collect_keys(con, tables)
        _collect_lines(con, rewrites)

        def ids(name: str) -> tuple[str, ...]:
            return tuple(r[0] for r in con.execute(f"SELECT DISTINCT id FROM {name} ORDER BY 1").fetchall())

        keys = ErasureKeys(
            customers=tuple(stored),
            sessions=ids("erase_sessions"),
            orders=ids("erase_orders"),
            lines=tuple(
                (f, int(n)) for f, n in con.execute("SELECT DISTINCT * FROM erase_lines ORDER BY 1, 2").fetchall()
            ),
        )
    finally:
        con.execute("ROLLBACK")
    return keys


def tombstones_of(con: duckdb.DuckDBPyConnection, clear_ids: Iterable[str]) -> list[str]:
    """The tombstones of `clear_ids` (the connection's erased() macro: pseudonyms.py)."""
    return [con.execute("SELECT erased(?)", [i]).fetchone()[0] for i in clear_ids]


def quoted_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def erase_rows(
    con: duckdb.DuckDBPyConnection,
    clear_ids: list[str],
    request_id: str,
    rewrites: list[LandingRewrite],
    now: dt.datetime,
) -> ErasedRows:
    """Remove the customers `clear_ids` from every table, record the rewrites and their tombstones
    (one transaction: all of it, or nothing)."""
    ddl.create(con, *PRIVACY_TABLES)
    check_same_key(con)
    stored = [con.execute("SELECT pseudonym(?)", [i]).fetchone()[0] for i in clear_ids]
    graves = tombstones_of(con, clear_ids)
    result = ErasedRows(request_id=request_id, customers=len(clear_ids), landing_files=len(rewrites))
    tables = warehouse_tables(con)
    with transaction(con):
        result.already_erased = con.execute(
            "SELECT count(*) FROM privacy.tombstones WHERE list_contains($t, tombstone)", {"t": graves}
        ).fetchone()[0]
        con.execute(
            "CREATE OR REPLACE TEMP TABLE erase_customers AS SELECT DISTINCT unnest($ids) AS id", {"ids": stored}
        )
        collect_keys(con, tables)
        _collect_lines(con, rewrites)
        for table, columns in tables.items():
            removed = delete_rows_of(con, table, columns)
            if removed:
                result.rows[table] = removed
        record_rewrites(con, rewrites)
        con.execute(
            "INSERT INTO privacy.tombstones SELECT DISTINCT unnest($t), $now, $request ON CONFLICT DO NOTHING",
            {"t": graves, "now": now, "request": request_id},
        )
        con.execute(
            "INSERT INTO privacy.erasures VALUES ($request, $now, $customers, $rows, $files, 'rows_erased') "
            "ON CONFLICT DO NOTHING",
            {
                "request": request_id,
                "now": now,
                "customers": len(clear_ids),
                "rows": json.dumps(result.rows, sort_keys=True),
                "files": len(rewrites),
            },
        )
    return result


def check_same_key(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse to erase under another pseudonym key than the warehouse's (or none): the customers'
    rows would not be found, and their tombstones would not match later files."""
    from shop_pipeline.pseudonyms import PrivacyKeyError

    ddl.create(con, "privacy.key_fingerprints")
    recorded = con.execute("SELECT fingerprint FROM privacy.key_fingerprints WHERE purpose = 'pseudonym'").fetchone()
    current = con.execute("SELECT pseudonym_key()").fetchone()[0]
    if recorded is not None and recorded[0] != current:
        held = "clear customer ids" if recorded[0] == "clear" else f"ids pseudonymised with the key {recorded[0]}"
        raise PrivacyKeyError(
            f"the warehouse holds {held}, but the pseudonym key set is {current}: nothing was erased. "
            "Run forget with the key the pipeline runs with (docs/privacy.md)"
        )


def collect_keys(con: duckdb.DuckDBPyConnection, tables: dict[str, dict[str, str]]) -> None:
    """Their sessions and orders: from every table that pairs a customer column with one."""
    sessions, orders = [], []
    for table, columns in tables.items():
        customer = next((c for c in CUSTOMER_COLUMNS if c in columns), None)
        if customer is None:
            continue
        where = f"{quoted_name(customer)} IN (SELECT id FROM erase_customers)"
        sessions += [f"SELECT session_id FROM {table} WHERE {where}" for c in SESSION_COLUMNS if c in columns]
        orders += [f"SELECT order_id FROM {table} WHERE {where}" for c in ORDER_COLUMNS if c in columns]
    for name, selects in (("erase_sessions", sessions), ("erase_orders", orders)):
        query = " UNION ".join(selects) or "SELECT NULL::VARCHAR"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM ({query}) AS k(id) WHERE id IS NOT NULL")


def _collect_lines(con: duckdb.DuckDBPyConnection, rewrites: list[LandingRewrite]) -> None:
    """Their landed lines: the raw rows of theirs and the lines the landing rewrite removed."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE erase_lines AS SELECT DISTINCT source_file, line FROM raw.events "
        "WHERE user_id IN (SELECT id FROM erase_customers)"
    )
    removed = [(r.path, line) for r in rewrites for line in r.removed_lines]
    if removed:
        con.executemany("INSERT INTO erase_lines VALUES (?, ?)", removed)


def delete_rows_of(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str]) -> int:
    conditions = [
        f"{quoted_name(c)} IN (SELECT id FROM {keys})"
        for keys, names in (
            ("erase_customers", CUSTOMER_COLUMNS),
            ("erase_sessions", SESSION_COLUMNS),
            ("erase_orders", ORDER_COLUMNS),
        )
        for c in names
        if c in columns
    ]
    if "source_file" in columns and "line" in columns:
        conditions.append(
            "EXISTS (SELECT 1 FROM erase_lines AS e WHERE e.source_file = t.source_file AND e.line = t.line)"
        )
    for column, data_type in columns.items():
        if data_type == "JSON":
            conditions += [
                f"json_extract_string({quoted_name(column)}, '$.{key}') IN (SELECT id FROM {keys})"
                for key, keys in JSON_KEYS.items()
            ]
    if not conditions:
        return 0
    return con.execute(f"DELETE FROM {table} AS t WHERE {' OR '.join(conditions)}").fetchone()[0]


def record_rewrites(con: duckdb.DuckDBPyConnection, rewrites: list[LandingRewrite]) -> None:
    """The rewritten files' new bytes in the manifest, with as many fewer rows read as lines
    removed (only where the manifest still names the old bytes: a re-run changes nothing twice)."""
    for r in rewrites:
        con.execute(
            """UPDATE raw.ingested_files
               SET size_bytes = $size, sha256 = $new,
                   rows_read = rows_read - $removed,
                   rows_duplicate = CASE WHEN status = 'duplicate_file' THEN rows_duplicate - $removed
                                         ELSE rows_duplicate END
               WHERE path = $path AND sha256 = $old""",
            {
                "size": r.new_size,
                "new": r.new_sha256,
                "removed": len(r.removed_lines),
                "path": r.path,
                "old": r.old_sha256,
            },
        )


def mark_complete(con: duckdb.DuckDBPyConnection, request_id: str) -> None:
    con.execute("UPDATE privacy.erasures SET status = 'complete' WHERE request_id = ?", [request_id])


def request_id_of(tombstones: list[str]) -> str:
    """The request id of an erasure of these customers: the same for a re-run after a kill."""
    import hashlib

    return "erasure-" + hashlib.sha256(",".join(sorted(set(tombstones))).encode()).hexdigest()[:16]


def compact(path: Path, key: str | None = None, new_key: str | bool | None = True) -> None:
    """Rewrite the database at `path` into a fresh file and put it in place with one rename: deleted
    rows leave no bytes behind. Nothing else may hold the file open. A kill leaves the old file
    (and a stray `.compacting` file, removed by the next compaction). The database is read with
    `key` and written with `new_key` (True: the same key; None: unencrypted), so the same rewrite
    encrypts a warehouse or changes its key."""
    from shop_pipeline.warehouse.encryption import attach_options, enable_writes

    new_key = key if new_key is True else new_key
    fresh = path.with_name(f".{path.name}.compacting")
    fresh.unlink(missing_ok=True)
    with duckdb.connect(":memory:") as con:
        if new_key:
            enable_writes(con)
        con.execute(f"ATTACH '{_sql_text(path)}' AS old_db{attach_options(key, read_only=True)}")
        con.execute(f"ATTACH '{_sql_text(fresh)}' AS fresh_db{attach_options(new_key, read_only=False)}")
        con.execute("COPY FROM DATABASE old_db TO fresh_db")
        con.execute("CHECKPOINT fresh_db")
        con.execute("DETACH fresh_db")
        con.execute("DETACH old_db")
    with open(fresh, "rb") as handle:
        os.fsync(handle.fileno())
    os.chmod(fresh, 0o600)
    os.replace(fresh, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _sql_text(path: Path | str) -> str:
    return str(path).replace("'", "''")
