"""Spark mode stages on the lake but keeps the manifest in the DuckDB file: the DuckDB-side helpers
it calls (changed_days, files_of_days, file_counts_of, record_staging) must leave the manifest as
the DuckDB engine's own staging does. Checked here on DuckDB alone, without a Spark session."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from shop_pipeline.sources.landing import files_for_days
from shop_pipeline.warehouse import ingest, staging
from shop_pipeline.warehouse.connection import connect
from shop_pipeline.warehouse.staging import StagingRules
from shop_pipeline_tests.landing_fixtures import event_line, write_events
from shop_pipeline_tests.warehouse.helpers import DAY1, DAY2, NOW, ingest_days, rows

DAYS = [DAY1, DAY2]
MANIFEST = (
    "SELECT path, partition_date, rows_clean, rows_quarantined, rows_duplicate, first_event_time, last_event_time "
    "FROM raw.ingested_files ORDER BY ALL"
)


def land_two_days(landing):
    write_events(landing, "a_2025-01-01.csv", [event_line("e1", when="2025-01-01T10:00:00Z")])
    write_events(
        landing,
        "b_2025-01-02.csv",
        [
            event_line("e5", user="u5"),
            event_line("e1", when="2025-01-01T10:00:00Z"),  # a late copy of a's event
            event_line("e6", price="-3"),  # quarantined
        ],
    )


def manifest_side(con):
    return rows(con, MANIFEST), rows(con, "SELECT * FROM staging.staged_days ORDER BY ALL")


def test_the_manifest_side_of_a_spark_staging_equals_the_duckdb_engines(con, landing, tmp_path):
    rules = StagingRules()
    land_two_days(landing)
    ingest_days(con, landing, DAYS)
    assert staging.changed_days(con, DAYS, rules) == DAYS  # never staged
    assert staging.files_of_days(con, [DAY2]) == ["events/b_2025-01-02.csv"]
    assert staging.files_of_days(con, DAYS) == ["events/a_2025-01-01.csv", "events/b_2025-01-02.csv"]

    staging.stage_days(con, DAYS, rules)
    counts = staging.file_counts(con, DAYS)
    # the per-(file, day) counts as Spark computes them over its staged views, joined here
    computed_elsewhere = con.execute(staging.STAGED_COUNTS).df()
    pd.testing.assert_frame_equal(staging.file_counts_of(con, DAYS, computed_elsewhere), counts)
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'staged_counts_frame'").fetchone() == (
        0,
    )  # the frame is not left registered

    # the same landing ingested into another warehouse and staged by the DuckDB engine, for comparison
    with connect(tmp_path / "duckdb_engine.duckdb") as duckdb_staged:
        ingest_days(duckdb_staged, landing, DAYS)
        staging.stage_days(duckdb_staged, DAYS, rules)
        staging.publish_staging(duckdb_staged, DAYS, staging.file_counts(duckdb_staged, DAYS))
        expected = manifest_side(duckdb_staged)

    staging.record_staging(con, DAYS, counts)
    assert manifest_side(con) == expected
    assert [r[2:5] for r in expected[0]] == [(1, 0, 0), (1, 1, 1)]  # e1 | e5, e6 quarantined, the copy of e1
    assert rows(con, "SELECT count(*) FROM staging.events") == [(0,)]  # the rows themselves go to the lake
    assert staging.changed_days(con, DAYS, rules) == []

    # a changed file: only its day changed (Spark mode adds the days holding copies of its events from
    # the lake's staging.duplicate_events)
    write_events(landing, "a_2025-01-01.csv", [event_line("e9", when="2025-01-01T11:00:00Z", user="u9")])
    ingest.load_batch(con, files_for_days(landing, set(DAYS)), DAYS, NOW + dt.timedelta(hours=1))
    ingest.publish_batch(con, DAYS)
    assert staging.changed_days(con, DAYS, rules) == [DAY1]
    # other rules change every day's fingerprint
    assert staging.changed_days(con, DAYS, StagingRules(max_price=5.0)) == DAYS


def test_the_staging_parameters_are_named_as_the_spark_text_of_the_staging_sql_names_them():
    # Spark binds a parameter only under the exact name its text uses (sql/dialects.execute), where
    # DuckDB would forgive another letter case: every name must be given, and spelt the same
    from shop_pipeline.sql import dialects

    given = set(staging.stage_events_params([DAY1], StagingRules()))
    for others in (dialects.load("stage_events_others", "spark"), "SELECT * FROM raw.events LIMIT 0"):
        text = dialects.fill(dialects.load("stage_events", "spark"), others=others)
        assert set(dialects.parameters(text)) == given


def test_staging_a_day_again_on_the_spark_side_replaces_its_recorded_fingerprint(con, landing):
    rules = StagingRules()
    land_two_days(landing)
    ingest_days(con, landing, DAYS)
    for days in (DAYS, [DAY1]):  # the first staging, then DAY1's file changes and DAY1 is staged again
        staging.stage_days(con, days, rules)
        staging.record_staging(con, days, staging.file_counts(con, days))
        assert staging.changed_days(con, DAYS, rules) == []
        write_events(landing, "a_2025-01-01.csv", [event_line("e9", when="2025-01-01T11:00:00Z", user="u9")])
        ingest.load_batch(con, files_for_days(landing, {DAY1}), [DAY1], NOW + dt.timedelta(hours=1))
        ingest.publish_batch(con, [DAY1])
    assert rows(con, "SELECT partition_date, count(*) FROM staging.staged_days GROUP BY 1 ORDER BY 1") == [
        (DAY1, 1),
        (DAY2, 1),
    ]
