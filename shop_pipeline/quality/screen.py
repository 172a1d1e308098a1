"""A suite's row rules as one DuckDB query, so that GX validates a sample and the breaking rows
instead of every row of a big table.

`breaking_rows` translates the expectations GX evaluates row by row (not null, between, in set,
A >= B, unique, compound unique) into predicates with GX's own treatment of missing values
(pandas sees NULL and NaN as missing). Frame-level expectations (the column set, the column
types) hold for every row when they hold for a sample. A suite with any other expectation, or
with `mostly`, is not screenable: the caller validates every row with GX as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

ROW_RULES = {
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique",
}
FRAME_RULES = {"expect_table_columns_to_match_set", "expect_column_values_to_be_in_type_list"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}


def screenable(suite) -> bool:
    return all(
        e.expectation_type in ROW_RULES | FRAME_RULES and getattr(e, "mostly", 1) in (None, 1, 1.0)
        for e in suite.expectations
    )


@dataclass(frozen=True)
class Screened:
    relation: str  # the rows with the helper columns the predicates read (window counts)
    predicates: list[str]
    params: dict


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def breaking_rows(con: duckdb.DuckDBPyConnection, suite, table: str) -> Screened:
    """Per row rule of `suite`, a predicate true on the rows of `table` that break it."""
    floats = {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall() if row[1] in _FLOAT_TYPES}

    def missing(column: str) -> str:
        q = _quoted(column)
        return f"({q} IS NULL OR isnan({q}))" if column in floats else f"{q} IS NULL"

    predicates, params, windows = [], {}, []
    for i, expectation in enumerate(suite.expectations):
        kind, kwargs = expectation.expectation_type, expectation.configuration.kwargs
        if kind in FRAME_RULES:
            continue
        if kind == "expect_column_values_to_not_be_null":
            predicates.append(missing(kwargs["column"]))
        elif kind == "expect_column_values_to_be_between":
            q, outside = _quoted(kwargs["column"]), []
            if kwargs.get("min_value") is not None:
                params[f"min_{i}"] = kwargs["min_value"]
                outside.append(f"{q} {'<=' if kwargs.get('strict_min') else '<'} $min_{i}")
            if kwargs.get("max_value") is not None:
                params[f"max_{i}"] = kwargs["max_value"]
                outside.append(f"{q} {'>=' if kwargs.get('strict_max') else '>'} $max_{i}")
            predicates.append(f"NOT {missing(kwargs['column'])} AND ({' OR '.join(outside) or 'false'})")
        elif kind == "expect_column_values_to_be_in_set":
            params[f"set_{i}"] = list(kwargs["value_set"])
            q = _quoted(kwargs["column"])
            predicates.append(f"NOT {missing(kwargs['column'])} AND NOT list_contains($set_{i}, {q})")
        elif kind == "expect_column_pair_values_a_to_be_greater_than_b":
            a, b = kwargs["column_A"], kwargs["column_B"]
            compare = ">=" if kwargs.get("or_equal") else ">"
            # GX skips a row only when both values are missing; one missing value compares false
            predicates.append(
                f"NOT ({missing(a)} AND {missing(b)}) AND "
                f"({missing(a)} OR {missing(b)} OR NOT ({_quoted(a)} {compare} {_quoted(b)}))"
            )
        elif kind in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"):
            columns = [kwargs["column"]] if "column" in kwargs else list(kwargs["column_list"])
            window = f"__repeats_{i}"
            windows.append(f"count(*) OVER (PARTITION BY {', '.join(_quoted(c) for c in columns)}) AS {window}")
            if kind == "expect_column_values_to_be_unique":
                skipped = missing(columns[0])
            else:  # compound: GX skips a row whose values are all missing
                skipped = "(" + " AND ".join(missing(c) for c in columns) + ")"
            predicates.append(f"NOT {skipped} AND {window} > 1")
    relation = f"(SELECT *{''.join(', ' + w for w in windows)} FROM {table})"
    return Screened(relation=relation, predicates=predicates, params=params)


def breaking_count(con: duckdb.DuckDBPyConnection, screened: Screened) -> int:
    """How many rows break at least one rule."""
    if not screened.predicates:
        return 0
    any_rule = " OR ".join(f"({p})" for p in screened.predicates)
    return con.execute(f"SELECT count(*) FROM {screened.relation} WHERE {any_rule}", screened.params).fetchone()[0]


def breaking_counts(con: duckdb.DuckDBPyConnection, screened: Screened) -> list[int]:
    """Per rule, how many rows break it (in the order of `screened.predicates`)."""
    if not screened.predicates:
        return []
    counts = ", ".join(f"count(*) FILTER (WHERE {p})" for p in screened.predicates)
    return list(con.execute(f"SELECT {counts} FROM {screened.relation}", screened.params).fetchone())


def breaking_frame(con: duckdb.DuckDBPyConnection, screened: Screened, columns: list[str], order_by: str, limit: int):
    """The rows that break a rule (at most `limit`), with the table's own columns only."""
    any_rule = " OR ".join(f"({p})" for p in screened.predicates) or "false"
    selected = ", ".join(_quoted(c) for c in columns)
    return con.execute(
        f"SELECT {selected} FROM {screened.relation} WHERE {any_rule} ORDER BY {order_by} LIMIT {int(limit)}",
        screened.params,
    ).df()
