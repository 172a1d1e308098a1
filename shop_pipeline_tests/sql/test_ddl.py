"""sql/ddl.py: the one DDL file per table, what it creates, and what it tells the rest of the code."""

import fnmatch
import tomllib
from pathlib import Path

import duckdb
import pytest

import shop_pipeline
from shop_pipeline.sql import ddl

PACKAGE = Path(shop_pipeline.__file__).parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"


def columns_of(con, table: str) -> list[tuple[str, str, bool]]:
    schema, name = table.split(".")
    return con.execute(
        "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()


def test_every_table_has_a_file_whose_columns_have_a_type_and_a_comment():
    assert set(ddl.ON_CONNECT) <= set(ddl.tables())
    assert len(ddl.tables()) >= 30
    for table in ddl.tables():
        assert ddl.source(table).is_file()  # sql/tables/<table>.sql, or a toy model's own (ddl.include)
        assert ddl.columns(table), table
        for column in ddl.columns(table):
            assert column.type and column.description, (table, column)


def test_the_columns_are_what_duckdb_creates_from_the_file():
    with duckdb.connect() as con:
        ddl.create(con, *ddl.tables())
        for table in ddl.tables():
            assert columns_of(con, table) == [(c.name, c.type, c.nullable) for c in ddl.columns(table)], table
    assert ddl.primary_key("features.order_features") == ("customer_id", "order_id")
    assert ddl.primary_key("raw.events") == ()
    assert ddl.nullable_columns("features.interactions") == ("category", "last_purchase")
    assert {c.name: c.type for c in ddl.columns("ml.drift_references")}["edges"] == "DOUBLE[]"
    assert {c.name: c.type for c in ddl.columns("ml.model_registry")}["features"] == "JSON"


def test_a_comment_is_continued_by_the_comment_lines_under_its_column():
    text = """-- t: a table
CREATE TABLE IF NOT EXISTS s.t (
    a INTEGER NOT NULL,     -- first line
                            -- second line
    b VARCHAR,
    c DATE                  -- c's own
);
-- a migration
ALTER TABLE s.t ADD COLUMN IF NOT EXISTS c DATE;
"""
    assert ddl._descriptions(text, {"a", "b", "c"}) == {"a": "first line second line", "b": "", "c": "c's own"}


def test_create_keeps_the_rows_and_brings_an_older_layout_up_to_date():
    with duckdb.connect() as con:
        con.execute(
            "CREATE SCHEMA ml; CREATE TABLE ml.model_registry (model_name VARCHAR NOT NULL, "
            "version VARCHAR NOT NULL, trained_at TIMESTAMP NOT NULL, train_start DATE, train_end DATE, "
            "as_of DATE, features JSON NOT NULL, parameters JSON NOT NULL, artifact_path VARCHAR NOT NULL, "
            "sha256 VARCHAR NOT NULL, is_champion BOOLEAN NOT NULL DEFAULT false, promoted_at TIMESTAMP, "
            "notes VARCHAR, PRIMARY KEY (model_name, version))"
        )
        con.execute(
            "INSERT INTO ml.model_registry (model_name, version, trained_at, features, parameters, "
            "artifact_path, sha256) VALUES ('m', 'v1', now()::TIMESTAMP, '[]', '{}', 'm/v1.skops', 'x')"
        )
        ddl.create(con, "ml.model_registry")
        ddl.create(con, "ml.model_registry")  # idempotent
        assert [c[0] for c in columns_of(con, "ml.model_registry")] == list(ddl.column_names("ml.model_registry"))
        assert con.execute("SELECT version, training_key FROM ml.model_registry").fetchall() == [("v1", None)]


def test_replace_leaves_an_empty_table_of_the_file_inside_the_callers_transaction():
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA scoring; CREATE TABLE scoring.customer_scores (customer_id VARCHAR, old DOUBLE)")
        con.execute("INSERT INTO scoring.customer_scores VALUES ('c1', 1.0)")
        con.execute("BEGIN TRANSACTION")
        ddl.replace(con, "scoring.customer_scores")
        assert con.execute("SELECT count(*) FROM scoring.customer_scores").fetchone() == (0,)
        con.execute("ROLLBACK")
        assert con.execute("SELECT * FROM scoring.customer_scores").fetchall() == [("c1", 1.0)]
        ddl.replace(con, "scoring.customer_scores")
        assert [c[0] for c in columns_of(con, "scoring.customer_scores")] == list(
            ddl.column_names("scoring.customer_scores")
        )


def test_an_unknown_table_is_refused():
    with pytest.raises(KeyError, match="no DDL file"):
        ddl.columns("raw.nothing")
    with pytest.raises(KeyError, match="no DDL file"):
        ddl.statement("raw.nothing")


def test_the_package_data_ships_every_sql_file():
    globs = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]["shop_pipeline"]
    files = [p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "sql").rglob("*.sql")]
    assert any(f.startswith("sql/tables/") for f in files)
    # fnmatch's * crosses "/", setuptools' does not: compare folder by folder
    unshipped = [f for f in files if not any(fnmatch.fnmatch(f, g) and f.count("/") == g.count("/") for g in globs)]
    assert unshipped == []
