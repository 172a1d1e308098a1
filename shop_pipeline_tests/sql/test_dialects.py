"""sql/dialects.py without a Spark session: what the transpile keeps and rewrites."""

from __future__ import annotations

import pytest

from shop_pipeline import sql
from shop_pipeline.engine import spark_catalog
from shop_pipeline.sql import dialects


def test_duckdb_text_is_the_file_as_written():
    assert dialects.load("customer_features") == sql.load("customer_features")
    with pytest.raises(ValueError, match="unknown engine"):
        dialects.load("customer_features", "postgres")


def test_parameters_become_named_markers_and_placeholders_survive():
    text = dialects.to_spark(
        "CREATE OR REPLACE TEMP TABLE x AS WITH o AS ({others}) "
        "SELECT * FROM o WHERE list_contains($days, d) AND regexp_full_match(s, '[0-9]{1,9}')"
    )
    [view, cache] = dialects.statements(text)
    assert dialects.temp_view(view)[0] == "x"
    assert cache == "CACHE TABLE x"
    assert "{others}" in view and "ARRAY_CONTAINS(:days, d)" in view
    assert dialects.parameters(view) == ("days",)
    filled = dialects.fill(view, others="SELECT 1 AS d")
    assert "SELECT 1 AS d" in filled and "{1,9}" in filled  # a regex quantifier is no placeholder
    with pytest.raises(KeyError, match="others"):
        dialects.fill(view)


@pytest.mark.parametrize(
    ("duckdb", "spark"),
    [
        ("SELECT isodow(d)", "WEEKDAY(d) + 1"),
        ("SELECT strftime(t, '%Y-%m-%dT%H:%M:%SZ')", "DATE_FORMAT(t, 'yyyy-MM-dd\\'T\\'HH:mm:ss\\'Z\\'')"),
        ("SELECT epoch_ms(t)", "UNIX_MILLIS(CAST(t AS TIMESTAMP))"),
        ("SELECT regexp_full_match(s, 'a+')", "s RLIKE '^(?:a+)\\\\z'"),
        ("SELECT hash(a, b)", "XXHASH64(a, b)"),
        ("SELECT to_json({'a': x})", "TO_JSON(STRUCT(x AS a), MAP('ignoreNullFields', 'false'))"),
        ("SELECT a / b", "CAST(a AS DOUBLE) / b"),
        ("SELECT CAST(d AS DATE) - CAST(e AS DATE)", "DATEDIFF(CAST(d AS DATE), CAST(e AS DATE))"),
        ("SELECT sum(x) OVER w - x FROM t WINDOW w AS (ORDER BY y)", "( SUM(x) OVER w ) - x"),
        ("SELECT * FROM temp.v", "FROM v"),
        ("SELECT a FROM t ORDER BY a", "ORDER BY a NULLS LAST"),
    ],
)
def test_rewrites(duckdb, spark):
    assert spark in " ".join(dialects.to_spark(duckdb).split())


def test_temp_tables_declared_with_columns_have_no_spark_form():
    with pytest.raises(dialects.NotOnSpark, match="override"):
        dialects.to_spark("CREATE OR REPLACE TEMP TABLE x (a INTEGER)")


def test_statements_split_at_semicolons_outside_comments_and_strings():
    assert dialects.statements("-- a; b\nSELECT ';';\nSELECT 2;\n-- end;\n") == ["-- a; b\nSELECT ';'", "SELECT 2"]


def test_lake_path_and_comments_are_quoted_in_the_ddl():
    statement = spark_catalog.create_statement("staging.events", "file:///tmp/it's a \\ lake")
    assert "LOCATION 'file:///tmp/it\\'s a \\\\ lake/staging/events'" in statement
    assert "PARTITIONED BY (`event_month`)" in statement
    assert "`event_time` TIMESTAMP_NTZ" in statement
    with pytest.raises(ValueError, match="identifier"):
        spark_catalog.quote_identifier("a`b")


@pytest.mark.parametrize(
    ("duckdb", "spark"),
    [
        ("VARCHAR", "STRING"),
        ("UBIGINT", "DECIMAL(20, 0)"),
        ("TIMESTAMP", "TIMESTAMP_NTZ"),
        ("DOUBLE[]", "ARRAY<DOUBLE>"),
    ],
)
def test_types(duckdb, spark):
    assert spark_catalog.spark_type(duckdb) == spark
