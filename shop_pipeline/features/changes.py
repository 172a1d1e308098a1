"""Writing a feature table by its changes: compute it whole, write only the rows that differ.

A daily run recomputes a feature table from all of history (one DuckDB query, seconds at
millions of events) but most rows come out exactly as they were: product-days before the
new day keep their values. `write_changes` compares the new rows with the table by value,
deletes the rows that vanished or changed and inserts the new versions, so the table ends
exactly as a whole rebuild would leave it while the write, and the audit of the written rows
(`written_keys`), stay proportional to what changed. The caller owns the transaction.

Some columns move with the cut-off on every row (`aging_columns`: the as_of stamp, a weight
that decays with age). Rows are then compared without them: only rows that changed in
substance are deleted, inserted and "written"; the aging columns of the other rows are
updated in place (DuckDB updates a column that is not part of an index in place: 0.06 s for
500k rows, where rewriting them through the primary key index takes 0.5 s). The rules the
aging can break are the audit's to check on every row.

Table, key and column names are the project's constants, never input; values reach DuckDB
only as parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from shop_pipeline.warehouse.connection import table_columns

# Above this share of changed rows a whole rewrite is cheaper than deleting and inserting
# through the primary key index.
REWRITE_SHARE = 0.5


@dataclass(frozen=True)
class Scope:
    """The part of a table a query recomputes: the rows where `predicate` (SQL over the table's
    columns and `params`) holds are replaced by the query's rows; the others are kept as they
    are but for their aging columns, set to `kept_aging` (column -> SQL over `params`)."""

    predicate: str
    params: dict
    kept_aging: dict[str, str]


@dataclass(frozen=True)
class TableWrite:
    """What one write did. `written_keys` names a temporary table holding the key of every
    inserted or rewritten row (the rows an audit must look at)."""

    rows: int
    written: int
    deleted: int
    whole_table: bool
    written_keys: str


def written_keys_table(table: str) -> str:
    return "written_" + table.replace(".", "_")


def write_changes(
    con: duckdb.DuckDBPyConnection,
    table: str,
    ddl: str,
    select_sql: str,
    params: dict,
    keys: tuple[str, ...],
    columns: tuple[str, ...],
    aging_columns: tuple[str, ...] = (),
    scope: Scope | None = None,
) -> TableWrite:
    """Make `table` hold exactly the rows of `select_sql` (with `params`), writing the difference.

    `ddl` is the table's CREATE OR REPLACE statement; a missing table, or one whose columns
    are not `columns` (an older layout), is rebuilt whole. Rows are compared by every column
    but `aging_columns`, NULLs equal (set semantics). With a `scope` the query computes only
    the rows of the scope (see Scope); the table must then exist with these columns.
    """
    column_list = ", ".join(columns)
    compared = ", ".join(c for c in columns if c not in aging_columns)
    key_list = ", ".join(keys)
    keys_table = written_keys_table(table)
    con.execute(f"CREATE OR REPLACE TEMP TABLE new_rows AS SELECT {column_list} FROM (\n{select_sql}\n)", params)
    try:
        total = con.execute("SELECT count(*) FROM new_rows").fetchall()[0][0]
        comparable = table_columns(con, table) == list(columns)
        if scope is not None and not comparable:
            raise ValueError(f"{table} must exist with columns {list(columns)} to be written by scope")
        in_scope, scope_params = (f"WHERE {scope.predicate}", scope.params) if scope else ("", {})
        if comparable:
            changed = f"SELECT {compared} FROM new_rows EXCEPT SELECT {compared} FROM {table} {in_scope}"
            removed = f"SELECT {key_list} FROM {table} {in_scope} EXCEPT SELECT {key_list} FROM new_rows"
        else:  # nothing to compare with: every row is written
            changed, removed = "SELECT * FROM new_rows", f"SELECT {key_list} FROM new_rows WHERE false"
        con.execute(f"CREATE OR REPLACE TEMP TABLE changed_rows AS {changed}", _used(changed, scope_params))
        con.execute(f"CREATE OR REPLACE TEMP TABLE removed_keys AS {removed}", _used(removed, scope_params))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {keys_table} AS SELECT {key_list} FROM changed_rows")
        written = con.execute("SELECT count(*) FROM changed_rows").fetchall()[0][0]
        deleted = con.execute("SELECT count(*) FROM removed_keys").fetchall()[0][0]
        whole = not comparable or (scope is None and written + deleted > REWRITE_SHARE * max(total, 1))
        if whole:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
            con.execute(ddl)
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM new_rows")
        else:
            con.execute(
                f"DELETE FROM {table} AS t USING "
                f"(SELECT {key_list} FROM changed_rows UNION ALL SELECT * FROM removed_keys) AS k "
                f"WHERE {_match('t', 'k', keys)}"
            )
            con.execute(
                f"INSERT INTO {table} BY NAME SELECT n.* FROM new_rows AS n SEMI JOIN changed_rows AS c "
                f"ON {_match('n', 'c', keys)}"
            )
            if aging_columns:
                moved = " OR ".join(f"t.{c} IS DISTINCT FROM n.{c}" for c in aging_columns)
                con.execute(
                    f"UPDATE {table} AS t SET {', '.join(f'{c} = n.{c}' for c in aging_columns)} "
                    f"FROM new_rows AS n WHERE {_match('t', 'n', keys)} AND ({moved})"
                )
            if scope is not None and scope.kept_aging:
                moved = " OR ".join(f"{c} IS DISTINCT FROM {v}" for c, v in scope.kept_aging.items())
                update = (
                    f"UPDATE {table} SET {', '.join(f'{c} = {v}' for c, v in scope.kept_aging.items())} "
                    f"WHERE NOT ({scope.predicate}) AND ({moved})"
                )
                con.execute(update, _used(update, scope.params))
            if scope is not None:  # the rows the query did not compute are part of the table too
                total = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        return TableWrite(total, written, deleted, whole, keys_table)
    finally:
        for temp in ("new_rows", "changed_rows", "removed_keys"):
            con.execute(f"DROP TABLE IF EXISTS temp.{temp}")


def _match(left: str, right: str, keys: tuple[str, ...]) -> str:
    return " AND ".join(f"{left}.{k} = {right}.{k}" for k in keys)


def _used(statement: str, params: dict) -> dict:
    """The parameters `statement` names (DuckDB refuses parameters a statement does not use)."""
    return {k: v for k, v in params.items() if re.search(rf"\${k}\b", statement)}
