"""A daily write touches only what changed, leaves the table a whole rebuild would, and the
audit of a daily write reads the written rows plus every row a rule spanning rows can break."""

from __future__ import annotations

import datetime as dt
import shutil

import pandas as pd
import pytest

from shop_pipeline.features import columns as fc
from shop_pipeline.features import tables as ft
from shop_pipeline.features.changes import REWRITE_SHARE, TableWrite
from shop_pipeline.features.interactions import INTERACTIONS_TABLE, write_interactions
from shop_pipeline.features.order_features import ORDER_FEATURES_TABLE, write_order_features
from shop_pipeline.quality import feature_suites as fs
from shop_pipeline.quality.interactions_suite import validate_interactions
from shop_pipeline.quality.order_feature_suite import validate_order_features
from shop_pipeline.warehouse.connection import connect
from shop_pipeline_tests.features.shop import D, T, insert_events, make_shop, random_shop

DAY_BEFORE, AS_OF = D(2025, 1, 4), D(2025, 1, 5)
RANDOM_DAYS = [D(2025, 3, 1) + pd.Timedelta(days=i).to_pytimedelta() for i in range(25, 40)]


def table(con, name: str, keys: list[str]) -> pd.DataFrame:
    return con.execute(f"SELECT * FROM {name}").df().sort_values(keys).reset_index(drop=True)


def written(con, write: TableWrite) -> set[tuple]:
    return set(con.execute(f"SELECT * FROM temp.{write.written_keys}").fetchall())


def rebuilt(path, tmp_path, name: str, write, as_of, keys: list[str]) -> pd.DataFrame:
    """The table as a whole rebuild from scratch leaves it (a copy of the warehouse without it)."""
    fresh = tmp_path / f"fresh-{name.replace('.', '-')}.duckdb"
    shutil.copy(path, fresh)
    with connect(fresh) as con:
        con.execute(f"DROP TABLE IF EXISTS {name}")
        result = write(con, as_of)
        assert result.whole_table
        return table(con, name, keys)


@pytest.mark.parametrize(
    "name, write, keys",
    [
        (fc.PRODUCT_DAILY_SALES_TABLE, ft.write_product_daily_sales, ["product_id", "day"]),
        (INTERACTIONS_TABLE, write_interactions, ["customer_id", "product_id"]),
        (ORDER_FEATURES_TABLE, write_order_features, ["customer_id", "order_id"]),
    ],
)
def test_day_after_day_equals_a_whole_rebuild_every_day(tmp_path, name, write, keys):
    path = random_shop(tmp_path / "w.duckdb")
    with connect(path) as con:
        first = write(con, RANDOM_DAYS[0])
        assert first.whole_table and first.written == first.rows
    rewritten_days = 0
    for day in RANDOM_DAYS[1:]:
        with connect(path) as con:
            daily = write(con, day)
            assert 0 < daily.written < daily.rows, "a new day writes some rows, not the whole table"
            # aging columns (as_of, weight) of the other rows are updated in place, not rewritten
            assert daily.whole_table == (daily.written + daily.deleted > REWRITE_SHARE * daily.rows)
            rewritten_days += daily.whole_table
            got = table(con, name, keys)
        pd.testing.assert_frame_equal(got, rebuilt(path, tmp_path, name, write, day, keys))
    assert rewritten_days < len(RANDOM_DAYS) // 2


def test_a_new_day_writes_its_rows_and_nothing_else(tmp_path):
    path = make_shop(tmp_path / "w.duckdb")
    with connect(path) as con:
        ft.write_product_daily_sales(con, DAY_BEFORE)
        daily = ft.write_product_daily_sales(con, AS_OF)
        assert written(con, daily) == {("pA", AS_OF), ("pB", AS_OF)}
        assert (daily.rows, daily.deleted, daily.whole_table) == (8, 0, False)
        again = ft.write_product_daily_sales(con, AS_OF)
        assert (again.written, again.deleted, again.rows) == (0, 0, 8)


def test_a_late_event_rewrites_the_day_it_happened(tmp_path):
    path = make_shop(tmp_path / "w.duckdb")
    with connect(path) as con:
        ft.write_product_daily_sales(con, AS_OF)
        # a view of 2025-01-03 that landed with the 5th's partition
        insert_events(con, [("late1", T(2025, 1, 3, 15, 0), "view", "u9", "s9", "pB", 20.0, 1, None)], AS_OF)
        daily = ft.write_product_daily_sales(con, AS_OF)
        assert written(con, daily) == {("pB", D(2025, 1, 3))}
        views = con.execute(
            "SELECT views FROM features.product_daily_sales WHERE product_id = 'pB' AND day = $day",
            {"day": D(2025, 1, 3)},
        ).fetchall()
    assert views == [(1,)]


def test_orders_are_recomputed_only_from_the_first_staged_event_that_changed(tmp_path):
    path = random_shop(tmp_path / "w.duckdb")
    built, today = RANDOM_DAYS[5], RANDOM_DAYS[6]
    keys = ["customer_id", "order_id"]
    with connect(path) as con:
        write_order_features(con, built)
        fixed_at = con.execute(
            "SELECT min(event_time) FROM staging.events WHERE event_type = 'purchase' AND partition_date = $day",
            {"day": built - dt.timedelta(days=8)},
        ).fetchone()[0]
        # a purchase of eleven days ago that lands with today's partition; an old purchase's price
        # fixed in place (a re-staged partition); an event of four days ago gone
        late_time = dt.datetime.combine(built - dt.timedelta(days=11), dt.time(12))
        insert_events(con, [("late1", late_time, "purchase", "u001", "s0001", "r001", 9.0, 1, "late-order")], today)
        con.execute(
            "UPDATE staging.events SET price = price + 1 WHERE event_time = $t AND event_type = 'purchase'",
            {"t": fixed_at},
        )
        con.execute(
            "DELETE FROM staging.events WHERE event_id = (SELECT min(event_id) FROM staging.events "
            "WHERE partition_date = $day)",
            {"day": built - dt.timedelta(days=4)},
        )
        daily = write_order_features(con, today)
        times = dict(con.execute(f"SELECT order_id, order_time FROM {ORDER_FEATURES_TABLE}").fetchall())
        changed = {order for _, order in written(con, daily)}
        got = table(con, ORDER_FEATURES_TABLE, keys)
    assert "late-order" in changed and 0 < len(changed) < len(times)
    assert min(times[o] for o in changed) >= late_time  # nothing before the first change was written
    pd.testing.assert_frame_equal(got, rebuilt(path, tmp_path, ORDER_FEATURES_TABLE, write_order_features, today, keys))
    with connect(path) as con:  # rows deleted by hand, not by a build: every row is computed again
        con.execute(f"DELETE FROM {ORDER_FEATURES_TABLE} WHERE order_time < $t", {"t": late_time})
        again = write_order_features(con, today)
        got = table(con, ORDER_FEATURES_TABLE, keys)
    assert again.written > 0
    pd.testing.assert_frame_equal(got, rebuilt(path, tmp_path, ORDER_FEATURES_TABLE, write_order_features, today, keys))
    with connect(path) as con:  # the cut-off moved back: every row is computed again
        back = write_order_features(con, RANDOM_DAYS[2])
        got = table(con, ORDER_FEATURES_TABLE, keys)
    assert back.whole_table or back.deleted > 0
    pd.testing.assert_frame_equal(
        got, rebuilt(path, tmp_path, ORDER_FEATURES_TABLE, write_order_features, RANDOM_DAYS[2], keys)
    )


def _feature_run(con, name: str, write, as_of):
    """What a feature asset does on a run (defs/features.py, without Dagster and its audit): keep
    the table when its inputs are those of its last build and it still has the rows that build
    left (None), else write it by its changes and remember the inputs."""
    from shop_pipeline.features.staged_changes import record_inputs, unchanged_inputs
    from shop_pipeline.ml.common.lifecycle import inputs_key

    key, _ = inputs_key(con, tables={"staging.events": ""}, settings={"table": name}, as_of=as_of, code=())
    if unchanged_inputs(con, name, key) is not None:
        return None
    write_ = write(con, as_of)
    record_inputs(con, name, key, write_.rows)
    return write_


@pytest.mark.parametrize(
    "name, write, keys",
    [
        (ft.PRODUCT_DAILY_SALES_TABLE, ft.write_product_daily_sales, ["product_id", "day"]),
        (ORDER_FEATURES_TABLE, write_order_features, ["customer_id", "order_id"]),
        (INTERACTIONS_TABLE, write_interactions, ["customer_id", "product_id"]),
    ],
)
def test_rows_added_by_hand_are_noticed_and_the_next_run_computes_the_table_again(tmp_path, name, write, keys):
    """A row inserted into a feature table outside the pipeline (on an old day, or an old order,
    which a daily write would not look at) is noticed on the next run, although nothing the
    table is computed from changed: the table is computed again and the row is gone."""
    path = make_shop(tmp_path / "w.duckdb")
    with connect(path) as con:
        assert _feature_run(con, name, write, AS_OF) is not None
        built = table(con, name, keys)
        assert _feature_run(con, name, write, AS_OF) is None, "nothing changed: the table is kept"
        con.execute(
            f"INSERT INTO {name} SELECT * REPLACE ('added-by-hand' AS {keys[0]}) FROM {name} ORDER BY ALL LIMIT 1"
        )
        again = _feature_run(con, name, write, AS_OF)
        assert again is not None, "the added row is noticed: the table is computed again"
        assert again.deleted == 1
        pd.testing.assert_frame_equal(table(con, name, keys), built)


def test_a_dropped_feature_table_is_built_again_on_the_next_run(tmp_path):
    """Its inputs are still recorded, but the table is gone (dropped by hand, a lost file): the next run
    builds it again instead of failing on the missing table; so does a table with no record at all."""
    name, write, keys = ft.PRODUCT_DAILY_SALES_TABLE, ft.write_product_daily_sales, ["product_id", "day"]
    path = make_shop(tmp_path / "w.duckdb")
    with connect(path) as con:
        assert _feature_run(con, name, write, AS_OF) is not None
        built = table(con, name, keys)
        con.execute(f"DROP TABLE {name}")
        assert _feature_run(con, name, write, AS_OF) is not None, "the table is gone: computed again"
        pd.testing.assert_frame_equal(table(con, name, keys), built)
        con.execute("DROP TABLE features.table_inputs")  # no record of any build: computed again
        assert _feature_run(con, name, write, AS_OF) is not None
        pd.testing.assert_frame_equal(table(con, name, keys), built)


def test_a_table_fingerprint_changes_with_the_columns_it_covers_only(tmp_path):
    """A build's small inputs (catalog, promotions, ad spend) are fingerprinted by the columns the table
    reads: renaming a product is no change for product_daily_sales, a new price is; whole rows by default,
    or the rows a filter keeps; a table that does not exist is "missing"."""
    import duckdb

    from shop_pipeline.features.staged_changes import table_fingerprint

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert table_fingerprint(con, "raw.products") == "missing"
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw.products (product_id VARCHAR, name VARCHAR, base_price DOUBLE)")
        con.execute("INSERT INTO raw.products VALUES ('p1', 'Pen', 1.5), ('p2', 'Ink', 3.0)")
        read = ("product_id", "base_price")
        before, whole = table_fingerprint(con, "raw.products", read), table_fingerprint(con, "raw.products")
        assert before.startswith("2:") and whole.startswith("2:")
        con.execute("UPDATE raw.products SET name = name || ' (renamed)'")
        assert table_fingerprint(con, "raw.products", read) == before
        assert table_fingerprint(con, "raw.products") != whole
        con.execute("UPDATE raw.products SET base_price = 1.75 WHERE product_id = 'p1'")
        assert table_fingerprint(con, "raw.products", read) != before
        # filtered (a training reads the rows before its cut-off): a change outside the filter is no change
        dear = table_fingerprint(con, "raw.products", where="base_price > $limit", params={"limit": 2})
        assert dear.startswith("1:")
        con.execute("UPDATE raw.products SET base_price = 1.25 WHERE product_id = 'p1'")
        assert table_fingerprint(con, "raw.products", where="base_price > $limit", params={"limit": 2}) == dear


def test_product_days_are_recomputed_from_the_first_change_and_whole_when_labels_or_marketing_move(tmp_path):
    path = random_shop(tmp_path / "w.duckdb")
    keys = ["product_id", "day"]
    days = iter(RANDOM_DAYS[3:])

    def next_day_equals_rebuild(change=None):
        day = next(days)
        with connect(path) as con:
            if change:
                change(con, day)
            daily = ft.write_product_daily_sales(con, day)
            got = table(con, fc.PRODUCT_DAILY_SALES_TABLE, keys)
            first_written = con.execute(f"SELECT min(day) FROM temp.{daily.written_keys}").fetchone()[0]
        pd.testing.assert_frame_equal(
            got, rebuilt(path, tmp_path, fc.PRODUCT_DAILY_SALES_TABLE, ft.write_product_daily_sales, day, keys)
        )
        return daily, first_written

    with connect(path) as con:
        ft.write_product_daily_sales(con, RANDOM_DAYS[2])
    daily, first_written = next_day_equals_rebuild()
    assert not daily.whole_table and first_written == RANDOM_DAYS[3]  # a new day: that day alone
    # a view of ten days ago landing late: the days from it on
    late = dt.datetime.combine(RANDOM_DAYS[4] - dt.timedelta(days=10), dt.time(9))
    _, first_written = next_day_equals_rebuild(
        lambda con, day: insert_events(con, [("late-view", late, "view", "u001", "s0001", "r001", 9.0, 1, None)], day)
    )
    assert first_written == late.date()
    # a catalog price, a promotion and the ad spend of an old product-day: every day
    with connect(path) as con:
        product, category, old_day = con.execute(
            f"SELECT product_id, category, day FROM {fc.PRODUCT_DAILY_SALES_TABLE} ORDER BY day, product_id LIMIT 1"
        ).fetchone()
    for change in (
        f"INSERT INTO raw.products VALUES ('{product}', 'P', '{category}', 'b', 42.0, DATE '{old_day}')",
        f"INSERT INTO raw.promotions VALUES ('{product}', DATE '{old_day}', DATE '{old_day}', 0.2)",
        f"INSERT INTO raw.ad_spend VALUES (DATE '{old_day}', '{category}', 120.0)",
    ):
        _, first_written = next_day_equals_rebuild(lambda con, day, change=change: con.execute(change))
        assert first_written == old_day
    # the latest event of a product (not in the catalog) names another category: every day of it
    # carries the new one
    with connect(path) as con:
        [(relabelled, days_of_it)] = con.execute(
            f"SELECT product_id, count(*) FROM {fc.PRODUCT_DAILY_SALES_TABLE} WHERE product_id <> $catalogued "
            "GROUP BY product_id ORDER BY count(*) DESC, product_id LIMIT 1",
            {"catalogued": product},
        ).fetchall()
    daily, _ = next_day_equals_rebuild(
        lambda con, day: con.execute(
            "INSERT INTO staging.events SELECT * REPLACE ('relabel' AS event_id, $t AS event_time, 'c9' AS category, "
            "$day AS partition_date) FROM staging.events WHERE product_id = $relabelled LIMIT 1",
            {"t": dt.datetime.combine(day, dt.time(23, 59)), "day": day, "relabelled": relabelled},
        )
    )
    assert daily.written > days_of_it  # every day of the relabelled product


def test_interactions_count_only_pairs_with_new_events_as_written(tmp_path):
    path = make_shop(tmp_path / "w.duckdb")
    with connect(path) as con:
        write_interactions(con, DAY_BEFORE)
        write_order_features(con, DAY_BEFORE)
        daily = write_interactions(con, AS_OF)
        assert written(con, daily) == {("u3", "pA")}  # the only event of the 5th
        # ... but every row moved to the new cut-off: as_of and the decayed weight
        assert con.execute("SELECT DISTINCT as_of FROM features.interactions").fetchall() == [(AS_OF,)]
        orders = write_order_features(con, AS_OF)
        assert orders.written == 0 and orders.rows == 3  # no order on the 5th


def test_the_daily_audit_reads_written_rows_and_rows_off_the_grid(tmp_path):
    path = make_shop(tmp_path / "w.duckdb")
    with connect(path) as con:
        con.execute("BEGIN TRANSACTION")
        first = ft.write_product_daily_sales(con, DAY_BEFORE, own_transaction=False)
        whole = fs.validate_product_daily_sales(con, DAY_BEFORE, written_keys=first.written_keys)
        con.execute("COMMIT")
        assert whole.success and whole.rows == first.rows  # never audited before: every row

        con.execute("BEGIN TRANSACTION")
        daily = ft.write_product_daily_sales(con, AS_OF, own_transaction=False)
        scoped = fs.validate_product_daily_sales(con, AS_OF, written_keys=daily.written_keys)
        assert scoped.success and scoped.rows == 2  # the two rows of the 5th

        # a hole in the grid is on a row nobody wrote: the grid rules still see it
        con.execute(
            "DELETE FROM features.product_daily_sales WHERE product_id = 'pA' AND day = $d", {"d": D(2025, 1, 2)}
        )
        holed = fs.validate_product_daily_sales(con, AS_OF, written_keys=daily.written_keys)
        con.execute("ROLLBACK")
    assert not holed.success
    assert ("expect_column_values_to_be_between", "grid_gap_days") in {
        (f.expectation, f.column) for f in holed.failures
    }


def test_a_changed_suite_audits_every_row_again(tmp_path):
    path = make_shop(tmp_path / "w.duckdb")
    with connect(path) as con:
        ft.write_product_daily_sales(con, DAY_BEFORE)
        fs.record_audit(con, fc.PRODUCT_DAILY_SALES_TABLE, "product_daily_sales.v0", DAY_BEFORE)
        daily = ft.write_product_daily_sales(con, AS_OF)
        outcome = fs.validate_product_daily_sales(con, AS_OF, written_keys=daily.written_keys)
        recorded = con.execute(
            "SELECT suite, as_of FROM features.table_audits WHERE table_name = $t", {"t": fc.PRODUCT_DAILY_SALES_TABLE}
        ).fetchall()
    assert outcome.rows == daily.rows == 8
    assert recorded == [(fs.product_daily_sales_suite(AS_OF).name, AS_OF)]


def test_rows_a_new_cutoff_can_break_are_audited_though_not_written(tmp_path):
    path = make_shop(tmp_path / "w.duckdb")
    with connect(path) as con:
        for day in (DAY_BEFORE, AS_OF):
            con.execute("BEGIN TRANSACTION")
            pairs = write_interactions(con, day, own_transaction=False)
            orders = write_order_features(con, day, own_transaction=False)
            validate_interactions(con, day, written_keys=pairs.written_keys)
            validate_order_features(con, day, written_keys=orders.written_keys)
            con.execute("COMMIT")
        # nothing written on these rows, but their weight / as_of break the rules now
        con.execute("UPDATE features.interactions SET weight = 0 WHERE customer_id = 'u1'")
        con.execute("UPDATE features.order_features SET as_of = $d WHERE order_id = 'o1'", {"d": DAY_BEFORE})
        pair_audit = validate_interactions(con, AS_OF, written_keys=pairs.written_keys)
        order_audit = validate_order_features(con, AS_OF, written_keys=orders.written_keys)
    assert pairs.written == 1 and orders.written == 0
    assert {f.column for f in pair_audit.failures} == {"weight"} and pair_audit.rows == 3  # u3-pA + u1's two pairs
    assert {f.column for f in order_audit.failures} == {"as_of_matches"} and order_audit.rows == 1
