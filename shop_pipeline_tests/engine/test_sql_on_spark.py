"""Every statement of shop_pipeline/sql/ transpiles to Spark SQL and passes Spark's EXPLAIN
against every table registered (empty) on a temporary lake; every table's DDL creates on Spark.

A statement is either DuckDB-only with a reason (dialects.DUCKDB_ONLY: file reading stays on
DuckDB) or must pass here: a new file is covered as soon as it is in the package. Statements
that read temp views get them from the statements before them in their caller's sequence
(SEQUENCES); parameters get sample values by name (PARAMETERS), placeholders the fragments
their caller splices in (FILLS).
"""

from __future__ import annotations

import datetime as dt

import pytest

from shop_pipeline.engine import spark_catalog
from shop_pipeline.engine.layout import layout
from shop_pipeline.sql import ddl, dialects
from shop_pipeline_tests.engine.spark_catalogs import fresh_catalog

pytest.importorskip("pyspark")

AS_OF = dt.date(2026, 1, 31)
CUTOFF = dt.datetime(2026, 2, 1)

# A sample value for every parameter name the statements use (the callers' types).
PARAMETERS = {
    "as_of": AS_OF,
    "cutoff": CUTOFF,
    "first_day": dt.date(2026, 1, 10),
    "since": dt.datetime(2026, 1, 20),
    "window_start": dt.datetime(2026, 1, 25),
    "window_end": dt.datetime(2026, 3, 3),
    "known_by": dt.date(2026, 3, 2),
    "ad_spend_known_through": dt.date(2026, 2, 10),
    "horizon_days": 14,
    "no_event_days": 3650.0,
    "half_life_days": 30.0,
    "view_weight": 1.0,
    "cart_weight": 3.0,
    "purchase_weight": 5.0,
    "expensive_ratio": 3.0,
    "table": "features.product_daily_sales",
    "days": [dt.date(2026, 1, 30), dt.date(2026, 1, 31)],
    "event_types": ["view", "cart", "remove_from_cart", "purchase"],
    "max_lateness_days": 3,
    "future_tolerance_minutes": 60,
    "max_price": 100_000.0,
    "max_quantity": 1_000,
}

# The temp views a statement reads, made by the statements its caller runs before it
# (warehouse/staging.stage_days, features/staged_changes.changed_since,
# ml/recommendation/data.load_interactions).
SEQUENCES = {
    "stage_events": ["stage_files"],
    "stage_duplicates": ["stage_files", "stage_events"],
    "changed_since_build": ["staged_fingerprints"],
    "recommend_users": ["@recommend_source"],
    "recommend_items": ["@recommend_source"],
    "recommend_pairs": ["@recommend_source"],
}
SETUPS = {
    "@recommend_source": "CREATE OR REPLACE TEMPORARY VIEW recommend_source AS SELECT * FROM features.interactions"
}

# Placeholders, filled as warehouse/staging.stage_days fills them (with the other partitions'
# rows when there are some, else an empty query).
FILLS = {"stage_events": {"others": "stage_events_others"}}
EMPTY_OTHERS = "SELECT * FROM raw.events LIMIT 0"
# Fragments spliced into another statement (tested there, and alone inside their context).
FRAGMENTS = {"stage_events_others": "WITH current_rows AS (SELECT * FROM raw.events) {fragment}"}

SPARK_STATEMENTS = [name for name in dialects.names() if name not in dialects.DUCKDB_ONLY]


@pytest.fixture(scope="module")
def spark(spark, tmp_path_factory):
    session = spark
    fresh_catalog(session, tmp_path_factory.mktemp("lake").as_uri())
    return session


def _params(text: str) -> dict:
    names = set(dialects.parameters(text))
    missing = names - set(PARAMETERS)
    assert not missing, f"no sample value for parameter(s) {sorted(missing)}: add them to PARAMETERS"
    return dialects.spark_args({name: PARAMETERS[name] for name in names})


def _spark_text(name: str, others: str | None = None) -> str:
    text = dialects.load(name, "spark")
    if name in FILLS:
        text = dialects.fill(
            text, **{key: others or dialects.load(value, "spark") for key, value in FILLS[name].items()}
        )
    if name in FRAGMENTS:
        text = FRAGMENTS[name].replace("{fragment}", text)
    return text


def _explain(spark, name: str, text: str) -> None:
    """Analyse and EXPLAIN each statement of `text` (a temp view: its query), then make the temp
    views (later statements read them) as dialects.execute makes them."""
    for statement in dialects.statements(text):
        view = dialects.temp_view(statement)
        query = view[1] if view else statement
        args = _params(query)
        try:
            plan = spark.sql("EXPLAIN " + query, args=args).collect()[0][0]
            if "Error occurred during query planning" in plan:
                spark.sql(query, args=args)  # raises the error EXPLAIN only mentions
            if view:  # made as the pipeline makes it; CACHE TABLE is only planned (no job on empty tables)
                dialects.execute(spark, statement, {k: PARAMETERS[k] for k in _params(query)})
        except Exception as error:
            pytest.fail(f"sql/{name}.sql on Spark: {error}\n--- statement ---\n{statement}")
        if "Error occurred during query planning" in plan:
            pytest.fail(f"sql/{name}.sql on Spark: {plan}\n--- statement ---\n{statement}")


def _prepare(spark, name: str) -> None:
    for step in SEQUENCES.get(name, []):
        if step in SETUPS:
            spark.sql(SETUPS[step])
        else:
            _explain(spark, step, _spark_text(step))


def test_every_statement_is_on_spark_or_duckdb_only_with_a_reason():
    assert SPARK_STATEMENTS, "no statement found in the package"
    for name in dialects.DUCKDB_ONLY:
        assert name in dialects.names(), f"DUCKDB_ONLY names sql/{name}.sql, which does not exist"
        with pytest.raises(dialects.NotOnSpark, match="DuckDB only"):
            dialects.load(name, "spark")
    for name in dialects.overrides():
        assert name in dialects.names(), f"sql/{name}.spark.sql overrides no statement"
        assert name not in dialects.DUCKDB_ONLY, f"sql/{name}.spark.sql overrides a DuckDB-only statement"


@pytest.mark.parametrize("name", SPARK_STATEMENTS)
def test_statement_explains_on_spark(spark, name):
    _prepare(spark, name)
    _explain(spark, name, _spark_text(name))
    if name in FILLS:
        _explain(spark, name, _spark_text(name, others=EMPTY_OTHERS))


@pytest.mark.parametrize("table", ddl.tables())
def test_table_ddl_creates_on_spark(spark, tmp_path, table):
    statement = spark_catalog.create_statement(table, tmp_path.as_uri())
    scratch = statement.replace(
        spark_catalog.table_name(table), f"`{layout(table).schema}`.`ddl_check_{layout(table).name}`", 1
    )
    spark.sql(scratch)
    created = spark.table(f"{layout(table).schema}.ddl_check_{layout(table).name}").schema
    expected = [c.name for c in ddl.columns(table)] + (
        [layout(table).partition_column] if layout(table).partition_column else []
    )
    assert [f.name for f in created.fields] == expected
    spark.sql(f"DROP TABLE `{layout(table).schema}`.`ddl_check_{layout(table).name}`")
