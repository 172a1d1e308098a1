"""A feature table that breaks its suite is rolled back and blocks the models."""

from shop_pipeline import sql
from shop_pipeline_tests.defs.helpers import checks_by_name, good_day, materialized, query, run_days
from shop_pipeline_tests.landing_fixtures import write_events


def test_a_failing_feature_suite_keeps_the_last_good_table(shop, monkeypatch):
    write_events(shop.landing, "events_2025-01-02.csv", good_day("2025-01-02"))
    write_events(shop.landing, "events_2025-01-03.csv", good_day("2025-01-03"))
    assert run_days(shop, "2025-01-02", "2025-01-03").success
    good = query(shop, "SELECT * FROM features.product_daily_sales ORDER BY ALL")

    real_load = sql.load

    def load_with_a_bad_row(name):
        text = real_load(name)
        if name != "product_daily_sales":
            return text
        # the same rows, but p1 sells -5 units on the cut-off day
        return (
            "SELECT * REPLACE (CASE WHEN product_id = 'p1' AND day = $as_of THEN -5 ELSE units END AS units) "
            f"FROM ({text})"
        )

    monkeypatch.setattr(sql, "load", load_with_a_bad_row)
    result = run_days(shop, "2025-01-02", "2025-01-03")

    assert not result.success
    assert checks_by_name(result)["product_daily_sales_suite"] is False
    assert "product_daily_sales" not in materialized(result)
    assert query(shop, "SELECT * FROM features.product_daily_sales ORDER BY ALL") == good
