"""End to end through Dagster, in-process: what a run publishes, and what a failing check blocks."""

from shop_pipeline_tests.defs.helpers import checks_by_name, good_day, materialized, query, run_days
from shop_pipeline_tests.landing_fixtures import event_line, write_events


def test_a_good_range_publishes_every_asset_and_passes_every_check(shop):
    write_events(shop.landing, "events_2025-01-02.csv", [*good_day("2025-01-02"), "not,a,row"])
    write_events(shop.landing, "events_2025-01-03.csv", good_day("2025-01-03")[:10] + good_day("2025-01-02")[:3])

    result = run_days(shop, "2025-01-02", "2025-01-03")

    assert result.success
    assert materialized(result) == {
        "raw_products",
        "raw_marketing",
        "raw_events",
        "order_labels",
        "clean_events",
        "quarantined_events",
        "product_daily_sales",
        "customer_features",
        "interactions",
        "order_features",
    }
    assert checks_by_name(result) == {
        "raw_events_suite": True,
        "landed_files_readable": True,
        "conservation": True,
        "staging_events_suite": True,
        "product_daily_sales_suite": True,
        "customer_features_suite": True,
        "interactions_suite": True,
        "order_features_suite": True,
    }
    assert query(shop, "SELECT count(*) FROM staging.events") == [(60,)]
    assert query(shop, "SELECT count(*) FROM staging.duplicate_events") == [(3,)]
    assert query(shop, "SELECT reason_code, line FROM staging.quarantined_events") == [("malformed_line", 51)]


def test_rematerializing_a_range_is_idempotent(shop):
    write_events(shop.landing, "events_2025-01-02.csv", [*good_day("2025-01-02"), event_line("bad", price="-3")])
    tables = ["raw.events", "raw.ingested_files", "staging.events", "staging.quarantined_events"]

    assert run_days(shop, "2025-01-02").success
    first = {t: query(shop, f"SELECT * FROM {t} ORDER BY ALL") for t in tables}
    assert run_days(shop, "2025-01-02").success
    second = {t: query(shop, f"SELECT * FROM {t} ORDER BY ALL") for t in tables}

    assert first == second


def test_a_bad_batch_is_blocked_before_it_reaches_raw_or_staging(shop):
    write_events(shop.landing, "events_2025-01-02.csv", good_day("2025-01-02"))
    assert run_days(shop, "2025-01-02").success
    before = query(shop, "SELECT * FROM raw.events ORDER BY ALL")

    # A new delivery for the same day where a third of the event types are unknown.
    bad = good_day("2025-01-02", 60, prefix="n")
    bad = [line.replace(",view,", ",wishlist,") if i % 3 == 0 else line for i, line in enumerate(bad)]
    write_events(shop.landing, "events_2025-01-02.csv", bad)
    result = run_days(shop, "2025-01-02")

    assert not result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["raw_events_suite"].passed is False
    table = checks["raw_events_suite"].metadata["result"].value
    assert "expect_column_values_to_be_in_set" in table and "'wishlist'" in table and "| 20 |" in table
    assert "clean_events" not in materialized(result) and "raw_events" not in materialized(result)
    assert query(shop, "SELECT * FROM raw.events ORDER BY ALL") == before


def test_products_missing_from_the_catalog_block_staging_but_keep_the_last_good_partition(shop):
    write_events(shop.landing, "events_2025-01-02.csv", good_day("2025-01-02"))
    assert run_days(shop, "2025-01-02").success
    published = query(shop, "SELECT * FROM staging.events ORDER BY ALL")

    unknown = [line.replace(",p1,", ",p999,") for line in good_day("2025-01-02", prefix="x")]
    write_events(shop.landing, "events_2025-01-02.csv", unknown)
    result = run_days(shop, "2025-01-02")

    assert not result.success
    assert checks_by_name(result)["staging_events_suite"] is False
    assert "raw_events" in materialized(result)
    assert "clean_events" not in materialized(result)
    assert query(shop, "SELECT * FROM staging.events ORDER BY ALL") == published


def test_an_unreadable_file_fails_alone_with_a_clear_message(shop):
    write_events(shop.landing, "events_2025-01-02.csv", good_day("2025-01-02"))
    drifted = "event_id,event_time,event_type,user_id,session_id,product_id,category,brand,unit_price,quantity,order_id,coupon_code"
    write_events(shop.landing, "events_2025-01-02_partner.csv", [event_line("z1") + ",SAVE10"], header=drifted)

    result = run_days(shop, "2025-01-02")

    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["landed_files_readable"].passed is False
    assert "missing columns price" in checks["landed_files_readable"].metadata["files"].value
    [(status, error)] = query(shop, "SELECT status, error FROM raw.ingested_files WHERE path LIKE '%partner%'")
    assert status == "failed" and "unexpected columns unit_price, coupon_code" in error
    assert query(shop, "SELECT count(*) FROM staging.events") == [(50,)]


def test_a_range_run_records_each_months_own_facts(shop):
    # two months in one single-run backfill: each partition's materialization describes that month
    write_events(shop.landing, "events_2025-01-02.csv", [*good_day("2025-01-02", 40), "not,a,row"])
    write_events(shop.landing, "events_2025-01-03.csv", good_day("2025-01-03", 10) + good_day("2025-01-02")[:2])
    write_events(shop.landing, "events_2025-02-05.csv", good_day("2025-02-05", 25))

    result = run_days(shop, "2025-01-02", "2025-02-05")

    assert result.success
    events = {
        (e.asset_key.to_user_string(), e.partition): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert {partition for asset, partition in events if asset == "raw_events"} == {"2025-01-01", "2025-02-01"}

    def value(asset, month, key):
        return events[(asset, month)][key].value

    assert value("raw_events", "2025-01-01", "dagster/row_count") == 52
    assert value("raw_events", "2025-02-01", "dagster/row_count") == 25
    assert (
        value("raw_events", "2025-01-01", "rejected_lines"),
        value("raw_events", "2025-02-01", "rejected_lines"),
    ) == (1, 0)
    assert (
        value("raw_events", "2025-01-01", "files_ingested") == 2
        and value("raw_events", "2025-02-01", "files_ingested") == 1
    )
    assert "events_2025-02-05.csv" in value("raw_events", "2025-02-01", "files")
    assert "events_2025-02-05.csv" not in value("raw_events", "2025-01-01", "files")
    assert value("clean_events", "2025-01-01", "dagster/row_count") == 50
    assert value("clean_events", "2025-02-01", "dagster/row_count") == 25
    assert (
        value("clean_events", "2025-01-01", "duplicates_dropped"),
        value("clean_events", "2025-02-01", "duplicates_dropped"),
    ) == (2, 0)
    assert value("clean_events", "2025-02-01", "first_event_time").startswith("2025-02-05")
    assert (
        value("quarantined_events", "2025-01-01", "dagster/row_count"),
        value("quarantined_events", "2025-02-01", "dagster/row_count"),
    ) == (1, 0)
    assert "malformed_line" in value("quarantined_events", "2025-01-01", "reasons")
    # what belongs to the run is named so, and is the same on every partition
    assert (
        value("raw_events", "2025-01-01", "run_partitions") == value("raw_events", "2025-02-01", "run_partitions") == 2
    )
