"""A feature table that breaks its suite is rolled back and blocks the models."""

from shop_pipeline.defs import features as feature_defs
from shop_pipeline_tests.defs.helpers import checks_by_name, good_day, materialized, query, run_days
from shop_pipeline_tests.landing_fixtures import write_events


def test_a_failing_feature_suite_keeps_the_last_good_table(shop, monkeypatch):
    write_events(shop.landing, "events_2025-01-02.csv", good_day("2025-01-02"))
    write_events(shop.landing, "events_2025-01-03.csv", good_day("2025-01-03"))
    assert run_days(shop, "2025-01-02", "2025-01-03").success
    good = query(shop, "SELECT * FROM features.product_daily_sales ORDER BY ALL")

    real_build = feature_defs.build_product_daily_sales

    def build_with_a_bad_row(con, as_of, own_transaction=True):
        rows = real_build(con, as_of, own_transaction=own_transaction)
        con.execute("UPDATE features.product_daily_sales SET units = -5 WHERE product_id = 'p1' AND day = $d", {"d": as_of})
        return rows

    monkeypatch.setattr(feature_defs, "build_product_daily_sales", build_with_a_bad_row)
    result = run_days(shop, "2025-01-02", "2025-01-03")

    assert not result.success
    assert checks_by_name(result)["product_daily_sales_suite"] is False
    assert "product_daily_sales" not in materialized(result)
    assert query(shop, "SELECT * FROM features.product_daily_sales ORDER BY ALL") == good
