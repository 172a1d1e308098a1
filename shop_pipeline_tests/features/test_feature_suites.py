"""The feature suites pass on good tables and fail on planted violations."""

from __future__ import annotations

import pytest

from shop_pipeline.features import tables as ft
from shop_pipeline.quality import feature_suites as fs
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.features.shop import D, T, make_shop

AS_OF = D(2025, 1, 5)


@pytest.fixture
def built(tmp_path):
    path = make_shop(tmp_path / "w.duckdb")
    with connect(path) as con:
        ft.build_product_daily_sales(con, AS_OF)
        ft.build_customer_features(con, AS_OF)
    return path


def failed(outcome) -> set[tuple[str, str | None]]:
    return {(f.expectation, f.column) for f in outcome.failures}


def test_suites_pass_on_good_tables(built):
    with connect(built) as con:
        sales = fs.validate_product_daily_sales(con, AS_OF, max_rows=5)  # two batches: the grid rule spans them
        customers = fs.validate_customer_features(con, AS_OF)
    assert sales.success, sales.to_markdown()
    assert customers.success, customers.to_markdown()
    assert (sales.batches, sales.rows) == (2, 8)
    assert customers.rows == 3


def test_audit_columns(built):
    with connect(built) as con:
        sales = fs.product_daily_sales_audit_frame(con, AS_OF)
        customers = fs.customer_features_audit_frame(con, AS_OF).set_index("customer_id")
    assert (
        (sales["days_after_as_of"] <= 0).all()
        and (sales["grid_gap_days"] == 0).all()
        and sales["grid_reaches_as_of"].all()
    )
    assert customers.loc["u3", "hours_before_cutoff"] == pytest.approx(16.0)  # last seen 2025-01-05 08:00


def test_customer_suite_fails_on_leakage(built):
    with connect(built) as con:
        # a row that used an event at the cut-off, one that breaks ranges, one with a NULL
        con.execute(
            "UPDATE features.customer_features SET last_seen = $t WHERE customer_id = 'u1'", {"t": T(2025, 1, 6)}
        )
        con.execute("UPDATE features.customer_features SET recency_days = -1 WHERE customer_id = 'u2'")
        con.execute(
            "UPDATE features.customer_features SET mean_interpurchase_days = NULL, frequency = 7 WHERE customer_id = 'u3'"
        )
        outcome = fs.validate_customer_features(con, AS_OF)
    got = failed(outcome)
    assert ("expect_column_values_to_be_between", "hours_before_cutoff") in got
    assert ("expect_column_values_to_be_between", "recency_days") in got
    assert ("expect_column_pair_values_a_to_be_greater_than_b", None) in got  # purchases >= frequency
    assert not any(column == "mean_interpurchase_days" for _, column in got)  # NULL allowed there
    leak = next(f for f in outcome.failures if f.column == "hours_before_cutoff")
    assert leak.unexpected_count == 1


def test_product_suite_fails_on_gaps_late_rows_duplicates_and_ranges(built):
    with connect(built) as con:
        # a copy without the primary key, so that a duplicate row can be planted too
        con.execute("CREATE TABLE features.planted AS SELECT * FROM features.product_daily_sales")
        con.execute("DELETE FROM features.planted WHERE product_id = 'pA' AND day = DATE '2025-01-03'")
        con.execute("DELETE FROM features.planted WHERE product_id = 'pB' AND day = DATE '2025-01-05'")
        con.execute(
            "UPDATE features.planted SET conversion = 1.5, units = -1 WHERE product_id = 'pA' AND day = DATE '2025-01-02'"
        )
        con.execute("""INSERT INTO features.planted
                       SELECT * REPLACE (DATE '2025-01-06' AS day) FROM features.planted
                       WHERE product_id = 'pA' AND day = DATE '2025-01-05'""")
        con.execute(
            "INSERT INTO features.planted SELECT * FROM features.planted WHERE product_id = 'pB' AND day = DATE '2025-01-04'"
        )
        outcome = fs.validate_product_daily_sales(con, AS_OF, table="features.planted")
    got = failed(outcome)
    columns = {column for _, column in got}
    assert {"grid_gap_days", "grid_reaches_as_of", "days_after_as_of", "conversion", "units"} <= columns
    assert ("expect_compound_columns_to_be_unique", None) in got
    late = next(f for f in outcome.failures if f.column == "days_after_as_of")
    assert late.unexpected_count == 1


def test_a_suite_draft_keeps_its_expectations_in_order_and_refuses_a_duplicate():
    from shop_pipeline.quality.validator import SuiteDraft, expectations_module

    gxe = expectations_module()
    draft = SuiteDraft("draft.v1")
    draft.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="a"))
    draft.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="a", min_value=0))
    draft.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="b"))
    with pytest.raises(ValueError, match="already has"):
        draft.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="a"))
    suite = draft.build(meta={"as_of": "2025-01-05"})
    assert suite.name == "draft.v1" and suite.meta["as_of"] == "2025-01-05"
    assert [(e.expectation_type, e.column) for e in suite.expectations] == [
        ("expect_column_values_to_not_be_null", "a"),
        ("expect_column_values_to_be_between", "a"),
        ("expect_column_values_to_not_be_null", "b"),
    ]


def _plant_customer_breaks(con):
    con.execute("UPDATE features.customer_features SET last_seen = $t WHERE customer_id = 'u1'", {"t": T(2025, 1, 6)})
    con.execute("UPDATE features.customer_features SET recency_days = -1 WHERE customer_id = 'u2'")
    con.execute(
        "UPDATE features.customer_features SET mean_interpurchase_days = NULL, frequency = 7 WHERE customer_id = 'u3'"
    )


@pytest.mark.parametrize("plant", [False, True])
def test_the_duckdb_screen_fails_exactly_what_gx_on_every_row_fails(built, monkeypatch, plant):
    """Big tables are screened in DuckDB and GX validates a sample and the breaking rows: the
    verdict and the failed expectations are those of GX on every row."""

    def outcomes():
        with connect(built) as con:
            con.execute("BEGIN")
            if plant:
                _plant_customer_breaks(con)
                con.execute("UPDATE features.product_daily_sales SET conversion = 1.5 WHERE product_id = 'pA'")
            result = fs.validate_customer_features(con, AS_OF), fs.validate_product_daily_sales(con, AS_OF)
            con.execute("ROLLBACK")
            return result

    every_row = outcomes()
    monkeypatch.setattr(fs, "SCREEN_ABOVE_ROWS", 0)
    screened = outcomes()
    for gx_alone, with_screen in zip(every_row, screened):
        assert gx_alone.success is with_screen.success is (not plant)
        assert failed(gx_alone) == failed(with_screen)
        assert with_screen.batches == 1 and with_screen.rows == gx_alone.rows
        assert with_screen.suite == gx_alone.suite  # the report names the suite it judged
        if plant:
            assert "breaking a rule" in with_screen.to_markdown()


@pytest.mark.parametrize(
    "rule, breaking",
    [
        # a share of breaking rows is allowed: the screen, which fails any breaking row, must not judge it
        ("mostly", 600),
        # a row rule the screen does not translate: only GX on every row counts all the rows breaking it
        ("untranslated", 1500),
    ],
)
def test_rules_the_screen_cannot_judge_exactly_are_judged_by_gx_on_every_row(tmp_path, monkeypatch, rule, breaking):
    from shop_pipeline.quality.validator import SuiteDraft, expectations_module

    gxe = expectations_module()
    suite = SuiteDraft(f"big_{rule}")
    if rule == "mostly":
        suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="a", min_value=0, max_value=1, mostly=0.5))
    else:
        suite.add_expectation(gxe.ExpectColumnValuesToBeNull(column="a"))
    monkeypatch.setattr(fs, "SCREEN_ABOVE_ROWS", 0)  # the table counts as big
    with connect(tmp_path / "big.duckdb") as con:
        # 1500 rows, more than the screen's sample; `breaking` of them have a = 2
        con.execute(
            "CREATE TABLE t AS SELECT i AS k, CASE WHEN i < $breaking THEN 2.0 ELSE 0.5 END AS a FROM range(1500) r(i)",
            {"breaking": breaking},
        )
        outcome = fs.validate_written(
            con, "t", lambda scope: "SELECT * FROM {table}", {}, suite.build(), 100_000, None, ("k",), ""
        )
    if rule == "mostly":
        assert outcome.success, outcome.to_markdown()  # 900 of 1500 in range: more than half
    else:
        [failure] = outcome.failures
        assert failure.unexpected_count == 1500  # every row, not the sample's


def _big_table_outcome(con, suite, max_rows=100_000):
    """validate_written on table t of 1500 rows (k, a), screened as a big table would be."""
    con.execute("CREATE OR REPLACE TABLE t AS SELECT i AS k, 0.5 AS a FROM range(1500) r(i)")
    return fs.validate_written(con, "t", lambda scope: "SELECT * FROM {table}", {}, suite, max_rows, None, ("k",), "")


def test_a_screened_tables_frame_rule_failure_says_it_was_found_on_the_sample(tmp_path, monkeypatch):
    from shop_pipeline.quality.validator import SuiteDraft, expectations_module

    gxe = expectations_module()
    suite = SuiteDraft("big_columns")
    suite.add_expectation(gxe.ExpectTableColumnsToMatchSet(column_set=["k", "a", "b"], exact_match=True))
    monkeypatch.setattr(fs, "SCREEN_ABOVE_ROWS", 0)
    with connect(tmp_path / "big.duckdb") as con:
        outcome = _big_table_outcome(con, suite.build())
    [failure] = outcome.failures
    assert failure.batch == "sample of 1000 rows (all 1500 screened in DuckDB)"


def test_when_gx_passes_rows_the_screen_flagged_gx_judges_every_row(tmp_path, monkeypatch):
    """A disagreement is never resolved in the screen's favour: rows the screen calls breaking but
    GX passes send the whole table to GX, in frames of max_rows."""
    from shop_pipeline.quality import screen
    from shop_pipeline.quality.validator import SuiteDraft, expectations_module

    gxe = expectations_module()
    suite = SuiteDraft("big_range")
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="a", min_value=0, max_value=1))

    def overeager(con, suite, table):  # a screen that wrongly flags every row
        found = screen.breaking_rows(con, suite, table)
        return screen.Screened(found.relation, [*found.predicates, "true"], found.params)

    monkeypatch.setattr(fs, "breaking_rows", overeager)
    monkeypatch.setattr(fs, "SCREEN_ABOVE_ROWS", 0)
    with connect(tmp_path / "big.duckdb") as con:
        outcome = _big_table_outcome(con, suite.build(), max_rows=1000)
    assert outcome.success, outcome.to_markdown()
    assert (outcome.batches, outcome.rows) == (2, 1500)  # GX's own frames, not the screen's one batch


def test_the_screen_treats_missing_values_as_gx_does(tmp_path):
    """NULL and NaN are missing to GX: skipped by between / in-set / unique, a failure for not-null,
    and for A >= B a failure unless both are missing."""
    from shop_pipeline.quality.screen import breaking_count, breaking_counts, breaking_rows
    from shop_pipeline.quality.validator import SuiteDraft, SuiteOutcome, expectations_module, validate_frame

    gxe = expectations_module()
    suite = SuiteDraft("missing_values")
    suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="a", min_value=0, max_value=1))
    suite.add_expectation(gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="a", column_B="b", or_equal=True))
    suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="k"))
    with connect(tmp_path / "m.duckdb") as con:
        con.execute("CREATE TABLE t (a DOUBLE, b DOUBLE, k VARCHAR)")
        con.execute("""INSERT INTO t VALUES (0.5, 0.2, 'x'), (NULL, NULL, NULL), ('NaN'::DOUBLE, NULL, NULL),
                       (0.5, NULL, 'y'), (2.0, 1.0, 'z'), (0.1, 0.4, 'z')""")
        built_suite = suite.build()
        screened = breaking_rows(con, built_suite, "t")
        per_rule = breaking_counts(con, screened)
        assert per_rule == [1, 2, 2]  # 2.0 out of range; (0.5, NULL) and (0.1, 0.4); the two 'z'
        assert breaking_count(con, screened) == 3
        frame = con.execute("SELECT * FROM t").df()
    by_gx = validate_frame(frame, built_suite, "all rows", SuiteOutcome(suite="missing_values"))
    assert [f.unexpected_count for f in by_gx.failures] == per_rule


def test_the_screen_counts_missing_values_of_a_column_whose_name_holds_a_quote(tmp_path):
    from shop_pipeline.quality.screen import breaking_counts, breaking_rows
    from shop_pipeline.quality.validator import SuiteDraft, expectations_module

    gxe = expectations_module()
    suite = SuiteDraft("quoted")
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column='say "hi"'))
    with connect(tmp_path / "q.duckdb") as con:
        con.execute('CREATE TABLE t ("say ""hi""" VARCHAR, "say " VARCHAR)')
        con.execute("INSERT INTO t VALUES ('a', NULL), (NULL, 'b'), (NULL, 'c')")
        assert breaking_counts(con, breaking_rows(con, suite.build(), "t")) == [2]
