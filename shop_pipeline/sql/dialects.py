"""The SQL files of this package for each engine: DuckDB as written, Spark SQL transpiled (no Dagster).

The DuckDB-dialect files under sql/ are the one source of SQL (docs/cluster_sql.md).
`load(name, "spark")` returns the override file `<name>.spark.sql` when one sits beside the
statement (written where transpiling is not faithful), else the DuckDB file transpiled with
sqlglot (read="duckdb", write="spark") and the rewrites below, cached per process.

How the DuckDB constructs map to Spark SQL:

- Parameters: DuckDB's `$name` becomes Spark's named parameter marker `:name`, bound with
  `spark.sql(text, args=spark_args(params))`. `spark_args` turns the values DuckDB takes into
  ones Spark binds to the same types: a Python list becomes an ARRAY literal (so
  `list_contains($days, partition_date)` -> `array_contains(:days, partition_date)` works with
  `args={"days": [date, ...]}`), a naive datetime a TIMESTAMP_NTZ literal (PySpark would make it a
  TIMESTAMP in the driver's local time zone), None a NULL.
- Placeholders: `{name}` fragments (a whole query spliced into the statement by the caller:
  stage_events.sql's `{others}`) are protected through the transpile: each becomes a sentinel
  query `SELECT * FROM __placeholder_<name>__` for sqlglot and `{name}` again in the Spark text.
  A placeholder must therefore stand where a query may (a CTE body or a parenthesised
  subquery). Fill it with `fill(text, name=fragment)`, never `str.format` (the statements hold
  regex quantifiers like `{1,9}`), and with the fragment loaded for the same engine.
- Temp tables: `CREATE OR REPLACE TEMP TABLE x AS <query>` becomes
  `CREATE OR REPLACE TEMPORARY VIEW x AS <query>` followed by `CACHE TABLE x` (one more
  statement: run the statements of `statements(text)` in order). Spark has no temp tables; a
  cached view is computed once and reused, but unlike a DuckDB temp table it is not a snapshot:
  if its cached blocks are lost Spark computes it again from its inputs, so a caller must not
  rewrite a view's inputs while the view is in use. Temp tables declared with columns and filled
  by INSERT have no Spark equivalent at all: those statements belong to file reading, which stays
  on DuckDB in Spark mode (DUCKDB_ONLY). DuckDB's `temp.` schema qualifier is dropped (Spark's
  temp views are not in a schema).
- Functions sqlglot leaves wrong or unknown for Spark are rewritten here (_REWRITES): epoch_ms /
  epoch_us of a timestamp, make_timestamp(micros), isodow (sqlglot's Spark form is off by a day
  for Sunday), strftime formats with literal text, to_days / to_minutes, isinf, regexp_full_match
  (Java's find() with explicit anchors), to_json (Spark drops NULL fields unless told not to),
  arg_max over a row, generate_series in FROM, date - date (an INTERVAL in Spark, a day count in
  DuckDB), hash() (Spark's is 32-bit: xxhash64, see below), and division and avg, which DuckDB
  computes in DOUBLE even for DECIMAL operands while Spark keeps a DECIMAL rounded to 6 digits.
- NULL order: DuckDB sorts NULLs last in both directions; sqlglot writes `NULLS LAST` on every
  ascending key Spark would otherwise sort NULLs first, windows included.
- Time zone: the statements treat TIMESTAMP as UTC wall time (TIMESTAMP_NTZ on Spark); the
  rewrites of epoch_ms, epoch_us and make_timestamp go through Spark's TIMESTAMP and are exact
  only with `spark.sql.session.timeZone=UTC`, which every Spark session of the pipeline sets.

hash(): DuckDB's hash() is a 64-bit hash that Spark cannot compute; Spark's hash() is 32-bit
Murmur3, too narrow for content duplicates (millions of rows would collide). On Spark hash()
becomes xxhash64(): the same within one engine, different across engines. stage_events.sql and
stage_duplicates.sql compare hashes only within one run; staged_fingerprints.sql's fingerprints
are stored and compared between builds, so switching the engine of an existing warehouse makes
every partition look changed once (a full rebuild, never a missed one).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from functools import cache
from importlib import resources
from typing import Any

import sqlglot
from sqlglot import exp

from shop_pipeline import sql

ENGINES = ("duckdb", "spark")

# Statements that only DuckDB runs, and why. Reading a landed file stays on DuckDB in Spark mode
# (issue 22: files are independent, and DuckDB's CSV reader keeps exact line numbers and
# rejects): these statements use its file readers, their rejects tables and temp tables filled
# row by row, which Spark has no equivalent for.
_READER = "reads a landed file (file reading stays on DuckDB in Spark mode)"
DUCKDB_ONLY: dict[str, str] = {
    "batch_csv_rejects": _READER + ": DuckDB's CSV rejects table",
    "batch_tables": _READER + ": temp tables declared with columns and filled by INSERT",
    "batch_views": _READER + ": the batch's temp tables and DuckDB-side subqueries (sources/native.BATCH_ROWS)",
    "number_batch_csv": _READER + ": DuckDB's CSV rejects table, INSERT into a temp table",
    "number_lines": _READER + ": DuckDB's CSV rejects table",
    "or_rows": _READER + ": a temp table declared with columns and filled by INSERT",
    "order_label_rows": _READER + ": DuckDB's CSV rejects table, INSERT into a temp table",
    "order_label_staged": _READER + ": a temp table declared with columns and filled by INSERT",
    "parse_csv_lines": _READER + ": a Python UDF registered on the DuckDB connection",
    "read_csv_batch": _READER + ": DuckDB's read_csv with store_rejects",
    "read_lines": _READER + ": DuckDB's read_csv with store_rejects",
    "read_parquet_rows": _READER + ": DuckDB's read_parquet with file_row_number",
    "split_csv_rejects": _READER + ": DuckDB's CSV rejects table",
    "split_csv_rows": _READER + ": rows of the DuckDB-side split (parse_csv_lines)",
    "split_jsonl_rejects": _READER + ": DuckDB's CSV rejects table and JSON functions",
    "split_jsonl_rows": _READER + ": rows of a file read by DuckDB",
}

OVERRIDE_SUFFIX = ".spark.sql"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SENTINEL = "__placeholder_{}__"
_SENTINEL_QUERY = re.compile(r"SELECT\s+\*\s+FROM\s+__placeholder_([A-Za-z_][A-Za-z0-9_]*)__")


class NotOnSpark(ValueError):
    """The statement has no Spark form: it is DuckDB-only (DUCKDB_ONLY) or does not transpile."""


def names() -> tuple[str, ...]:
    """Every statement of the package (sql/<name>.sql, overrides excluded), sorted."""
    folder = resources.files(sql.__name__)
    return tuple(
        sorted(
            f.name.removesuffix(".sql")
            for f in folder.iterdir()
            if f.name.endswith(".sql") and not f.name.endswith(OVERRIDE_SUFFIX)
        )
    )


def overrides() -> tuple[str, ...]:
    """The statements with a Spark override file (<name>.spark.sql), sorted."""
    folder = resources.files(sql.__name__)
    return tuple(
        sorted(f.name.removesuffix(OVERRIDE_SUFFIX) for f in folder.iterdir() if f.name.endswith(OVERRIDE_SUFFIX))
    )


def load(name: str, engine: str = "duckdb") -> str:
    """The statement `name` for `engine`: the DuckDB file as written, or its Spark SQL."""
    if engine == "duckdb":
        return sql.load(name)
    if engine == "spark":
        return _spark(name)
    raise ValueError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")


@cache
def _spark(name: str) -> str:
    if name in DUCKDB_ONLY:
        raise NotOnSpark(f"sql/{name}.sql runs on DuckDB only: {DUCKDB_ONLY[name]}")
    override = resources.files(sql.__name__).joinpath(name + OVERRIDE_SUFFIX)
    if override.is_file():
        return override.read_text(encoding="utf-8")
    try:
        return to_spark(sql.load(name))
    except (sqlglot.errors.SqlglotError, NotOnSpark) as error:
        raise NotOnSpark(f"sql/{name}.sql does not transpile to Spark SQL: {error}") from error


def to_spark(text: str) -> str:
    """DuckDB SQL (one or more statements, `{placeholders}` kept) as Spark SQL, statements
    separated by `;` lines."""
    protected = _PLACEHOLDER.sub(lambda m: "SELECT * FROM " + _SENTINEL.format(m.group(1)), text)
    out = []
    for tree in sqlglot.parse(protected, read="duckdb"):
        if tree is None:
            continue
        for statement in _rewrite_statement(tree):
            generated = statement.sql(
                dialect="spark", pretty=True, comments=False, unsupported_level=sqlglot.ErrorLevel.RAISE
            )
            out.append(_SENTINEL_QUERY.sub(lambda m: "{" + m.group(1) + "}", generated))
    return ";\n".join(out) + "\n"


def statements(text: str) -> list[str]:
    """The statements of a Spark SQL text, in order (spark.sql runs one at a time): split at the
    semicolons sqlglot's tokenizer finds, so none in a comment or a string splits it."""
    from sqlglot.dialects.spark import Spark
    from sqlglot.tokens import TokenType

    cuts = [t.start for t in Spark().tokenize(text) if t.token_type == TokenType.SEMICOLON]
    parts, start = [], 0
    for cut in [*cuts, len(text)]:
        parts.append(text[start:cut].strip())
        start = cut + 1
    return [part for part in parts if _has_code(part)]


def parameters(text: str) -> tuple[str, ...]:
    """The named parameter markers (`:name`) of a Spark SQL text, in order of first use (found by
    sqlglot's tokenizer: none in a comment or a string)."""
    from sqlglot.dialects.spark import Spark

    tokens = Spark().tokenize(text)
    found = [
        b.text
        for a, b in itertools.pairwise(tokens)
        if a.token_type.name == "COLON" and b.start == a.end + 1 and _IDENTIFIER.fullmatch(b.text)
    ]
    return tuple(dict.fromkeys(found))


def _has_code(part: str) -> bool:
    from sqlglot.dialects.spark import Spark

    return bool(part) and bool(Spark().tokenize(part))


_TEMP_VIEW = re.compile(
    r"(?:\s*--[^\n]*\n)*\s*CREATE OR REPLACE TEMPORARY VIEW\s+(`?[A-Za-z_][A-Za-z0-9_]*`?)\s+AS\s+(.*)", re.DOTALL
)


def temp_view(statement: str) -> tuple[str, str] | None:
    """(view name, query) of a `CREATE OR REPLACE TEMPORARY VIEW name AS query` statement, else None."""
    found = _TEMP_VIEW.fullmatch(statement)
    return (found.group(1).strip("`"), found.group(2)) if found else None


def execute(spark, text: str, params: dict[str, Any] | None = None):
    """Run the statements of a Spark text in order with `params` bound; the last one's DataFrame.

    Spark refuses parameter markers in a view's definition, so a temp view is made from the
    DataFrame of its query, parameters bound (`createOrReplaceTempView`), not by its CREATE
    statement; every other statement goes to spark.sql with the parameters it names.
    """
    frame = None
    for statement in statements(text):
        named = parameters(statement)
        args = spark_args({k: v for k, v in (params or {}).items() if k in named})
        view = temp_view(statement)
        if view is not None:
            name, query = view
            spark.sql(query, args=args).createOrReplaceTempView(name)
            frame = None
        else:
            frame = spark.sql(statement, args=args)
    return frame


def fill(text: str, **fragments: str) -> str:
    """`text` with each `{name}` placeholder replaced by fragments[name]; other braces left alone."""
    missing = set(_PLACEHOLDER.findall(text)) - set(fragments)
    if missing:
        raise KeyError(f"no fragment for placeholder(s) {', '.join(sorted(missing))}")
    return _PLACEHOLDER.sub(lambda m: fragments[m.group(1)], text)


def placeholders(text: str) -> tuple[str, ...]:
    """The `{name}` placeholders of a statement, in order of first appearance."""
    return tuple(dict.fromkeys(_PLACEHOLDER.findall(text)))


def spark_args(params: dict[str, Any]) -> dict[str, Any]:
    """DuckDB parameters as spark.sql(args=...) values of the same SQL types.

    Lists become ARRAY literals (PySpark binds a list as array(...)); an empty list needs its
    element type, which Spark cannot guess, so it is refused. A naive datetime (the pipeline's UTC
    wall time) becomes a TIMESTAMP_NTZ literal: bound as is, PySpark would read it in the driver's
    local time zone as a TIMESTAMP. Dates, numbers, strings, booleans and None bind as they are.
    """
    from pyspark.sql import functions as F

    args: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            # a typed literal (spark.sql binds literals, not casts); isoformat() is digits only
            args[key] = F.expr(f"TIMESTAMP_NTZ '{value.isoformat(sep=' ')}'")
        elif isinstance(value, (list, tuple)):
            if not value:
                raise ValueError(f"parameter {key!r} is an empty list: Spark cannot tell its element type")
            args[key] = F.array(*[spark_args({"v": v})["v"] if isinstance(v, dt.datetime) else F.lit(v) for v in value])
        else:
            args[key] = value
    return args


# -- the rewrites ---------------------------------------------------------------------------


def _rewrite_statement(tree: exp.Expression) -> list[exp.Expression]:
    """One DuckDB statement as the Spark statements doing the same (a temp table: two)."""
    if isinstance(tree, exp.Create) and _is_temp(tree) and str(tree.args.get("kind", "")).upper() == "TABLE":
        if not isinstance(tree.expression, exp.Query):
            raise NotOnSpark(
                "a temp table declared with columns (filled by INSERT) has no Spark equivalent: "
                "write a <name>.spark.sql override"
            )
        table = tree.this if isinstance(tree.this, exp.Table) else tree.this.this
        view = exp.Create(
            this=exp.to_table(table.name),
            kind="VIEW",
            replace=True,
            expression=_rewrite(tree.expression),
            properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
        )
        return [view, exp.Cache(this=exp.to_table(table.name))]
    if isinstance(tree, exp.Create) and _is_temp(tree) and tree.expression is not None:
        tree.set("replace", True)
    return [_rewrite(tree)]


def _is_temp(tree: exp.Create) -> bool:
    properties = tree.args.get("properties")
    return bool(properties and any(isinstance(p, exp.TemporaryProperty) for p in properties.expressions))


def _rewrite(tree: exp.Expression) -> exp.Expression:
    """Every node through _node, children before their parent (a rewrite sees rewritten arguments)."""
    for node in reversed(list(tree.walk(bfs=False))):
        new = _node(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _cast(node: exp.Expression, to: str) -> exp.Expression:
    return exp.Cast(this=node, to=exp.DataType.build(to, dialect="spark"))


def _name(node: exp.Expression) -> str:
    return node.name.lower() if isinstance(node, exp.Anonymous) else ""


def _node(node: exp.Expression) -> exp.Expression:
    """The Spark form of one DuckDB node (its children already rewritten)."""
    rewritten = _function(node)
    return rewritten if rewritten is not node else _structure(node)


def _structure(node: exp.Expression) -> exp.Expression:
    """Tables, FROM items, arithmetic."""
    if isinstance(node, exp.Table) and node.args.get("db") is not None and node.db.lower() == "temp":
        node.set("db", None)
        return node
    if isinstance(node, exp.Sub) and _is_date(node.this) and _is_date(node.expression):
        return _fn("datediff", node.this, node.expression)
    if isinstance(node, (exp.Table, exp.Lateral)) and isinstance(node.this, exp.GenerateSeries):
        return _series(node)
    if isinstance(node, exp.Window) and isinstance(node.parent, exp.Binary):
        # `sum(x) OVER w - x`: Spark's parser reads `w - x` as one (invalid) identifier
        return exp.Paren(this=node.copy())
    if isinstance(node, exp.Div) and not _is_double(node.this):
        # DuckDB divides DECIMAL (and integers) in DOUBLE; Spark keeps a DECIMAL rounded to 6 digits
        node.set("this", _cast(node.this, "DOUBLE"))
    return node


def _function(node: exp.Expression) -> exp.Expression:
    """Function calls sqlglot leaves unknown or wrong for Spark."""
    if isinstance(node, exp.UnixToTime) and node.args.get("scale") is not None:
        return _epoch(node)
    if isinstance(node, exp.Anonymous):
        return _anonymous(node)
    if isinstance(node, exp.DayOfWeekIso):
        # DuckDB isodow: Monday 1 .. Sunday 7; Spark weekday: Monday 0 .. Sunday 6
        return exp.Paren(this=exp.Add(this=_fn("weekday", node.this), expression=exp.Literal.number(1)))
    if isinstance(node, exp.TimeToStr) and isinstance(node.args.get("format"), exp.Literal):
        return _fn("date_format", node.this, exp.Literal.string(_spark_format(node.args["format"].name)))
    if isinstance(node, exp.ToDays):
        return _fn("make_dt_interval", node.this)
    if isinstance(node, exp.IsInf):
        return exp.EQ(this=_fn("abs", node.this), expression=_cast(exp.Literal.string("Infinity"), "DOUBLE"))
    if isinstance(node, exp.RegexpFullMatch):
        return _full_match(node)
    if isinstance(node, exp.ArgMax) and isinstance(node.expression, exp.Tuple):
        node.set("expression", exp.Struct(expressions=node.expression.expressions))
        return node
    if isinstance(node, exp.Avg) and not _is_double(node.this):
        # DuckDB's avg of a DECIMAL is a DOUBLE, Spark's a DECIMAL
        return exp.Avg(this=_cast(node.this, "DOUBLE"))
    return node


def _anonymous(node: exp.Anonymous) -> exp.Expression:
    name, args = _name(node), node.expressions
    if name == "epoch_us" and len(args) == 1:
        return _fn("unix_micros", _cast(args[0], "TIMESTAMP"))
    if name == "epoch_ms" and len(args) == 1:
        return _fn("unix_millis", _cast(args[0], "TIMESTAMP"))
    if name == "to_minutes" and len(args) == 1:
        return _fn("make_dt_interval", exp.Literal.number(0), exp.Literal.number(0), args[0])
    if name == "to_hours" and len(args) == 1:
        return _fn("make_dt_interval", exp.Literal.number(0), args[0])
    if name == "hash":
        return _fn("xxhash64", *args)
    if name == "to_json" and len(args) == 1:
        # DuckDB writes NULL fields as null; Spark leaves them out unless told not to
        options = _fn("map", exp.Literal.string("ignoreNullFields"), exp.Literal.string("false"))
        return _fn("to_json", args[0], options)
    if name == "make_timestamp" and len(args) == 1:
        return _cast(_fn("timestamp_micros", args[0]), "TIMESTAMP_NTZ")
    return node


def _epoch(node: exp.UnixToTime) -> exp.Expression:
    """sqlglot reads epoch_ms(x) as "the timestamp of x milliseconds", one of DuckDB's two
    epoch_ms; the statements here use the other, the milliseconds of timestamp x (a number
    literal keeps the first reading)."""
    scale = node.args["scale"]
    if isinstance(node.this, exp.Literal):
        return node
    if scale.name == "3":
        return _fn("unix_millis", _cast(node.this, "TIMESTAMP"))
    if scale.name == "6":
        # make_timestamp(micros): the UTC wall time of those microseconds
        return _cast(_fn("timestamp_micros", node.this), "TIMESTAMP_NTZ")
    return node


def _full_match(node: exp.RegexpFullMatch) -> exp.Expression:
    """regexp_full_match: the whole string matches. Spark's regexp_like finds the pattern
    anywhere (Java's find()), so it gets anchors; \\z, not $, which also matches before a final
    line break."""
    pattern = node.expression
    if isinstance(pattern, exp.Literal):
        anchored: exp.Expression = exp.Literal.string("^(?:" + pattern.name + r")\z")
    else:
        anchored = _fn("concat", exp.Literal.string("^(?:"), pattern, exp.Literal.string(r")\z"))
    return exp.RegexpLike(this=node.this, expression=anchored)


def _series(node: exp.Table | exp.Lateral) -> exp.Expression:
    """generate_series(a, b, step) AS g(x) in FROM: Spark's explode(sequence(a, b, step)) as a
    table-valued function (both include b)."""
    series: exp.GenerateSeries = node.this
    sequence = _fn("sequence", *[a for a in (series.args["start"], series.args["end"], series.args.get("step")) if a])
    explode = exp.Explode(this=sequence)
    alias = node.args.get("alias")
    if isinstance(node, exp.Lateral):
        return exp.Lateral(this=explode, alias=alias)
    return exp.Table(this=explode, alias=alias)


_FORMAT_CODES = {"%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%f": "SSSSSS", "%j": "DDD"}


def _spark_format(duckdb_format: str) -> str:
    """A strftime format as a Spark datetime pattern: codes mapped, runs of literal characters
    quoted (plain separators left bare)."""
    out: list[str] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            out.append("'" + "".join(literal).replace("'", "''") + "'")
            literal.clear()

    i = 0
    while i < len(duckdb_format):
        code = duckdb_format[i : i + 2]
        if code in _FORMAT_CODES:
            flush()
            out.append(_FORMAT_CODES[code])
            i += 2
            continue
        if code.startswith("%") and code != "%%":
            raise NotOnSpark(f"strftime code {code} has no Spark pattern here")
        char = "%" if code == "%%" else duckdb_format[i]
        i += 2 if code == "%%" else 1
        if char in _SEPARATORS:
            flush()
            out.append(char)
        else:
            literal.append(char)
    flush()
    return "".join(out)


_SEPARATORS = set("-:/ .,_")


def _is_double(node: exp.Expression) -> bool:
    if isinstance(node, exp.Paren):
        return _is_double(node.this)
    if isinstance(node, exp.Cast):
        return node.to.this in (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT)
    return False  # a literal like 1.0 is a DECIMAL in both engines


def _is_date(node: exp.Expression) -> bool:
    """A DATE by its form: a cast to DATE, a DATE minus/plus a whole number, or greatest/least
    holding one (the columns' own types are not known here)."""
    if isinstance(node, exp.Paren):
        return _is_date(node.this)
    if isinstance(node, exp.Cast):
        return node.to.this == exp.DataType.Type.DATE
    if isinstance(node, (exp.Sub, exp.Add)):
        return _is_date(node.this) and isinstance(node.expression, exp.Literal) and not node.expression.is_string
    if isinstance(node, (exp.Greatest, exp.Least)):
        return any(_is_date(a) for a in [node.this, *node.expressions])
    return False
