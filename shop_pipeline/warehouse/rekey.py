"""Changing the pseudonym key of a warehouse (the table part of `shop-pipeline rotate-pseudonym-key`,
rotate_key.py).

A pseudonym is an HMAC of the clear id: it cannot be turned into another key's pseudonym without
the id. The ids come from where the shop keeps them: the landed event files (read with ingestion's
own reader, so each id is the value ingestion hashed) and, for erased customers, whose lines are
gone from those files, the ids of the erasure requests. `rekey_tables` then, in one transaction:
maps every stored pseudonym (customer and session columns of every table; pseudonyms inside other
text and JSON values, e.g. a quarantined row's fields or a logged API request) to the new key's,
recomputes every tombstone under the new key, and records the new key's fingerprint. A stored
pseudonym whose id is in neither source is refused before anything changes: it would be left
under the old key, unlinkable to its customer's later events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb
from duckdb.sqltypes import VARCHAR

from shop_pipeline.pseudonyms import PSEUDONYM_HEX_DIGITS, TOMBSTONE_PREFIX, PrivacyKeyError, Pseudonymiser
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import transaction
from shop_pipeline.warehouse.erase import quoted_name, warehouse_tables

ID_COLUMNS = ("user_id", "customer_id", "session_id")
_PSEUDONYM_TOKEN = re.compile(rf"\b[0-9a-f]{{{PSEUDONYM_HEX_DIGITS}}}\b")
_PSEUDONYM_PATTERN = rf"^[0-9a-f]{{{PSEUDONYM_HEX_DIGITS}}}$"
_PSEUDONYM_INSIDE = rf"\b[0-9a-f]{{{PSEUDONYM_HEX_DIGITS}}}\b"
PSEUDONYM_INSIDE = (
    _PSEUDONYM_INSIDE  # a text value holding a pseudonym (a regular expression DuckDB and Spark read alike)
)


@dataclass
class Rekeyed:
    old_fingerprint: str
    new_fingerprint: str
    pseudonyms: int = 0  # distinct pseudonyms mapped
    rows: dict[str, int] = field(default_factory=dict)  # table.column -> rows rewritten
    tombstones: int = 0
    already_done: bool = False


def recorded_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    ddl.create(con, "privacy.key_fingerprints", "privacy.tombstones")
    row = con.execute("SELECT fingerprint FROM privacy.key_fingerprints WHERE purpose = 'pseudonym'").fetchone()
    return None if row is None else row[0]


def install_new_key(con: duckdb.DuckDBPyConnection, new: Pseudonymiser) -> None:
    """TEMP macros of the new key beside the connection's (old) ones: new_pseudonym(x), new_erased(x)."""
    con.execute(f"CREATE OR REPLACE TEMP MACRO new_pseudonym(x) AS {new.sql_macro()}")
    con.execute(f"CREATE OR REPLACE TEMP MACRO new_erased(x) AS new_pseudonym('{TOMBSTONE_PREFIX}' || x)")


def build_key_map(con: duckdb.DuckDBPyConnection, ids_query: str) -> int:
    """key_map(old, new) for every distinct id `ids_query` selects (one column); its size."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE key_map AS "
        f"SELECT DISTINCT pseudonym(id) AS old, new_pseudonym(id) AS new FROM ({ids_query}) AS k(id) WHERE id IS NOT NULL"
    )
    return con.execute("SELECT count(*) FROM key_map").fetchone()[0]


def key_map(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("SELECT old, new FROM key_map").fetchall())


def replace_pseudonyms(text: str | None, mapping: dict[str, str]) -> str | None:
    """`text` with every pseudonym of `mapping` (a whole 32-hex-digit token) replaced."""
    if text is None:
        return None
    return _PSEUDONYM_TOKEN.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)


LOOKUP = "reidentify.customers"


def lookup_ids(con: duckdb.DuckDBPyConnection, old: Pseudonymiser) -> list[str]:
    """The clear ids sealed in the re-identification lookup (reidentify.py), opened with the old key."""
    if LOOKUP not in warehouse_tables(con):
        return []
    return [old.unseal(p, s) for p, s in con.execute(f"SELECT customer_id, sealed_id FROM {LOOKUP}").fetchall()]


def _reseal_lookup(con: duckdb.DuckDBPyConnection, old: Pseudonymiser, new: Pseudonymiser) -> int:
    """The lookup under the new key: each id opened with the old key, sealed with the new one under its
    new pseudonym (in the caller's transaction)."""
    import pyarrow as pa

    rows = con.execute(f"SELECT customer_id, sealed_id, added_at FROM {LOOKUP}").fetchall()
    clear = [old.unseal(p, s) for p, s, _ in rows]
    pseudonyms = [new(c) for c in clear]
    frame = pa.table(
        {
            "customer_id": pa.array(pseudonyms, pa.string()),
            "sealed_id": pa.array([new.seal(p, c) for p, c in zip(pseudonyms, clear, strict=True)], pa.binary()),
            "added_at": pa.array([a for *_, a in rows], pa.timestamp("us")),
        }
    )
    con.execute(f"DELETE FROM {LOOKUP}")
    con.register("resealed_frame", frame)
    try:
        con.execute(f"INSERT INTO {LOOKUP} SELECT customer_id, sealed_id, added_at FROM resealed_frame")
    finally:
        con.unregister("resealed_frame")
    return len(rows)


def rekey_tables(
    con: duckdb.DuckDBPyConnection, old: Pseudonymiser, new: Pseudonymiser, erased_ids: list[str], now
) -> Rekeyed:
    """Map every stored pseudonym through key_map (build_key_map first), recompute the tombstones
    from `erased_ids` and record the new key (one transaction: all of it, or nothing)."""
    old_fingerprint = con.execute("SELECT pseudonym_key()").fetchone()[0]
    result = Rekeyed(old_fingerprint=old_fingerprint, new_fingerprint=new.fingerprint)
    tables = warehouse_tables(con)
    id_columns = [(t, c) for t, cols in tables.items() for c in ID_COLUMNS if c in cols and t != LOOKUP]
    text_columns = [
        (t, c, data_type)
        for t, cols in tables.items()
        for c, data_type in cols.items()
        if c not in ID_COLUMNS and (data_type in ("VARCHAR", "JSON"))
    ]
    _refuse_unmapped(con, id_columns, erased_ids)
    if LOOKUP in tables:  # its sealed ids are re-sealed, never matched as text
        text_columns = [(t, c, d) for t, c, d in text_columns if t != LOOKUP]
    mapping = key_map(con)
    result.pseudonyms = len(mapping)
    con.create_function(
        "rekeyed_text",
        lambda text: replace_pseudonyms(text, mapping),
        [VARCHAR],
        VARCHAR,
        null_handling="special",
    )
    try:
        with transaction(con):
            if LOOKUP in tables:
                result.rows[f"{LOOKUP}.sealed_id"] = _reseal_lookup(con, old, new)
            for table, column in id_columns:
                rows = con.execute(
                    f"UPDATE {table} AS t SET {quoted_name(column)} = m.new FROM key_map AS m "
                    f"WHERE t.{quoted_name(column)} = m.old"
                ).fetchone()[0]
                if rows:
                    result.rows[f"{table}.{column}"] = rows
            for table, column, data_type in text_columns:
                quoted = quoted_name(column)
                rows = con.execute(
                    f"UPDATE {table} SET {quoted} = CAST(rekeyed_text(CAST({quoted} AS VARCHAR)) AS {data_type}) "
                    f"WHERE regexp_matches(CAST({quoted} AS VARCHAR), $pattern) "
                    f"AND rekeyed_text(CAST({quoted} AS VARCHAR)) <> CAST({quoted} AS VARCHAR)",
                    {"pattern": _PSEUDONYM_INSIDE},
                ).fetchone()[0]
                if rows:
                    result.rows[f"{table}.{column}"] = rows
            con.execute(
                "CREATE OR REPLACE TEMP TABLE tombstone_map AS "
                "SELECT DISTINCT erased(id) AS old, new_erased(id) AS new FROM (SELECT unnest($ids) AS id)",
                {"ids": sorted(set(erased_ids))},
            )
            result.tombstones = con.execute(
                "UPDATE privacy.tombstones AS t SET tombstone = m.new FROM tombstone_map AS m WHERE t.tombstone = m.old"
            ).fetchone()[0]
            con.execute(
                "UPDATE privacy.key_fingerprints SET fingerprint = $new, recorded_at = $now WHERE purpose = 'pseudonym'",
                {"new": new.fingerprint, "now": now},
            )
    finally:
        con.remove_function("rekeyed_text")
    return result


def _refuse_unmapped(con: duckdb.DuckDBPyConnection, id_columns: list[tuple[str, str]], erased_ids: list[str]) -> None:
    unmapped = 0
    for table, column in id_columns:
        quoted = quoted_name(column)
        unmapped += con.execute(
            f"SELECT count(DISTINCT {quoted}) FROM {table} WHERE regexp_matches({quoted}, $pattern) "
            f"AND {quoted} NOT IN (SELECT old FROM key_map)",
            {"pattern": _PSEUDONYM_PATTERN},
        ).fetchone()[0]
    unmatched = con.execute(
        "SELECT count(*) FROM privacy.tombstones WHERE tombstone NOT IN "
        "(SELECT erased(id) FROM (SELECT unnest($ids) AS id))",
        {"ids": sorted(set(erased_ids)) or [""]},
    ).fetchone()[0]
    problems = []
    if unmapped:
        problems.append(
            f"{unmapped:,} stored pseudonym(s) have no clear id in the landed event files (were files removed from "
            "the landing folder?)"
        )
    if unmatched:
        problems.append(
            f"{unmatched:,} tombstone(s) match no id of --erased-customers-file (give the ids of every erasure "
            "request: a tombstone cannot be re-keyed without its id)"
        )
    if problems:
        raise PrivacyKeyError("; ".join(problems) + ": nothing was changed (docs/privacy.md, 'Changing the key')")
