"""One dispatch point: the steps of ingestion and staging for the run's engine.

`ingestion_steps(engine, con)` and `staging_steps(engine, con)` return an object with the same
methods in both engines; the assets (defs/ingestion.py, defs/staging.py) call them and never ask
which engine runs. The DuckDB steps are today's code as it was in the asset bodies; the Spark ones
are in spark_mode/ingestion.py and spark_mode/staging.py. `engine` is the `Engine` resource (or
anything with `is_spark`, `spark()` and `settings().lake`).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import duckdb

from shop_pipeline.quality.audit import STAGED_BATCH, audit_screened, screen_staged
from shop_pipeline.quality.suites import staging_events_suites
from shop_pipeline.quality.validator import SuiteOutcome, warm_up
from shop_pipeline.spark_mode.common import (
    CLEAN_PER_MONTH,
    DUPLICATES_PER_MONTH,
    QUARANTINED_PER_MONTH,
    REASONS,
    STAGING_SUITE_NAME,
    Audited,
    StagingSummary,
    per_month,
)
from shop_pipeline.warehouse.staging import (
    StagingRules,
    days_to_stage,
    file_counts,
    publish_staging,
    published_file_counts,
    stage_days,
)


class DuckDBIngestion:
    """Ingestion's step after the DuckDB publish: nothing more (the warehouse is the tables)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def after_publish(self, changed_days: list[dt.date]) -> None:
        return None


class DuckDBStaging:
    """Staging in the DuckDB file (warehouse/staging.py): stage, audit, publish in one transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def has_catalog(self) -> bool:
        return self.con.execute("SELECT count(*) > 0 FROM raw.products").fetchall()[0][0]

    def stage_and_audit(
        self, days: list[dt.date], thresholds: dict[str, Any], rules: StagingRules, has_catalog: bool
    ) -> Audited:
        con = self.con
        # only days whose landed files (or the rules) changed since they were staged
        stale = days_to_stage(con, days, rules)
        if stale:
            warm_up()  # GX's import overlaps the staging query
            stage_days(con, stale, rules)
            validation_started = time.perf_counter()
            counts = file_counts(con, stale)
            rows_per_day, failing = screen_staged(con, stale, thresholds, has_catalog)
            suite = staging_events_suites(thresholds, check_catalog=has_catalog)
            outcome = audit_screened(
                con, STAGED_BATCH, stale, suite, thresholds["validation_batch_rows"], rows_per_day, failing
            )
        else:  # nothing changed: the published counts still answer for conservation
            validation_started = time.perf_counter()
            counts = published_file_counts(con, days)
            outcome = SuiteOutcome(suite=STAGING_SUITE_NAME)
        return Audited(stale, counts, outcome, time.perf_counter() - validation_started)

    def publish(self, audited: Audited) -> None:
        if audited.stale:
            publish_staging(self.con, audited.stale, audited.counts)

    def summary(self, days: list[dt.date]) -> StagingSummary:
        con = self.con
        return StagingSummary(
            clean=per_month(con.execute(CLEAN_PER_MONTH, {"days": days}).fetchall()),
            quarantined=per_month(con.execute(QUARANTINED_PER_MONTH, {"days": days}).fetchall()),
            duplicates=per_month(con.execute(DUPLICATES_PER_MONTH, {"days": days}).fetchall()),
            reasons=con.execute(REASONS, {"days": days}).df(),
            files=published_file_counts(con, days),
        )


def ingestion_steps(engine, con: duckdb.DuckDBPyConnection):
    """The ingestion steps of `engine` (DuckDB reads the files in both engines)."""
    if engine is not None and engine.is_spark:
        from shop_pipeline.spark_mode.ingestion import SparkIngestion

        return SparkIngestion(con, engine.settings().lake)
    return DuckDBIngestion(con)


def staging_steps(engine, con: duckdb.DuckDBPyConnection):
    """The staging steps of `engine`; `con` is the DuckDB file (the manifest in both engines)."""
    if engine is not None and engine.is_spark:
        from shop_pipeline.spark_mode.staging import SparkStaging

        return SparkStaging(con, engine.spark(), engine.settings().lake)
    return DuckDBStaging(con)
