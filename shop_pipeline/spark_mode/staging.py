"""Spark mode, staging: warehouse/staging.py's statements on Spark over the lake tables.

The same DuckDB-dialect SQL (sql/stage_files, stage_events with its `{others}` fragment,
stage_duplicates, and warehouse/staging.py's staged_* statements) runs through
`sql/dialects.execute` on the lake's raw tables. The audit is the embedded one: conservation per
file (the manifest raw.ingested_files stays in the DuckDB file, so the per-file counts Spark
computes are joined with it there), the staging screen's aggregates over every staged row on
Spark, and GX on a sample and on the failing days' rows (fetched to pandas). Only an audit that
passes reaches `lake.write_partitions`, whose own audit reads the staged folder back and checks
its row count against what was audited; the manifest counts and the day fingerprints are then
recorded in the DuckDB file, as the embedded publish does.

The unit of restaging is the month here (the lake's partition): a month with any changed day is
staged whole and its folders of staging.events, quarantined_events and duplicate_events are
rewritten; other months keep their files.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import duckdb

from shop_pipeline.engine.lake import LakeTable, StagedWrite, WriteResult, lake_table, write_partitions
from shop_pipeline.engine.layout import month_key
from shop_pipeline.quality.audit import (
    DUPLICATED_ID_DAYS,
    STAGED_BATCH,
    STAGED_SCREEN,
    audit_fetched,
    staged_screen_params,
    staged_verdict,
)
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
from shop_pipeline.spark_mode.ingestion import write_small_raw_tables
from shop_pipeline.spark_mode.lake_tables import use_lake
from shop_pipeline.sql import ddl, dialects
from shop_pipeline.warehouse.staging import (
    STAGED_COUNTS,
    STAGED_STATEMENTS,
    StagingRules,
    changed_days,
    file_counts_of,
    files_of_days,
    published_file_counts,
    record_staging,
    stage_events_params,
    stage_fingerprints,
)

READS = ("raw.events", "raw.rejected_lines", "raw.products")
WRITES = {  # lake table -> the staged view written to it
    "staging.events": "staged_clean",
    "staging.quarantined_events": "staged_quarantine",
    "staging.duplicate_events": "staged_duplicates",
}
STAGED_VIEWS = (
    "staged_files",
    "staged_rows",
    "staged_repeated_ids",
    "staged_duplicates_found",
    "staged_clean",
    "staged_quarantine",
    "staged_duplicates",
)

_DUPLICATES_OF_FILES = """
SELECT DISTINCT partition_date FROM staging.duplicate_events
WHERE array_contains(:days, partition_date) AND array_contains(:paths, kept_source_file)
"""


def run_sql(spark, duckdb_text: str, params: dict[str, Any] | None = None):
    """A DuckDB-dialect statement (sequence) transpiled and run on Spark; the last DataFrame."""
    return dialects.execute(spark, dialects.to_spark(duckdb_text), params)


def fetch(spark, duckdb_text: str, params: dict[str, Any] | None = None):
    """Its rows as a pandas frame, dates and times typed as DuckDB's .df() types them."""
    import pandas as pd

    frame = run_sql(spark, duckdb_text, params).toPandas()
    for column in frame.columns:
        if frame[column].dtype == object:
            sample = frame[column].dropna()
            if len(sample) and isinstance(sample.iloc[0], dt.date) and not isinstance(sample.iloc[0], dt.datetime):
                frame[column] = pd.to_datetime(frame[column])
    return frame


def stage_on_spark(spark, days: list[dt.date], rules: StagingRules) -> None:
    """warehouse/staging.stage_days (without the fingerprints) on Spark: the staged_* views."""
    from pyspark.sql import functions as F

    # the last run's views, dependents first: uncaching a view Spark still has cached views built
    # on re-plans every one of them
    for view in reversed(STAGED_VIEWS):
        if spark.catalog.tableExists(view):
            spark.catalog.uncacheTable(view)
    has_others = bool(spark.table("raw.events").where(~F.col("partition_date").isin(days)).limit(1).count())
    others = dialects.load("stage_events_others", "spark") if has_others else "SELECT * FROM raw.events LIMIT 0"
    dialects.execute(spark, dialects.load("stage_files", "spark"))
    dialects.execute(
        spark,
        dialects.fill(dialects.load("stage_events", "spark"), others=others),
        stage_events_params(days, rules),
    )
    dialects.execute(spark, dialects.load("stage_duplicates", "spark"))
    for statement in STAGED_STATEMENTS:
        run_sql(spark, statement, {"days": days})
    for view in ("staged_clean", "staged_quarantine", "staged_duplicates"):
        spark.catalog.cacheTable(view)


def write_staged(spark, view: str, table: LakeTable, months: list[str]) -> WriteResult:
    """The staged view `view` to `table`, replacing `months`, audited by its row count.

    The count is read back from the aside folder's Parquet footers (pyarrow), not by Spark: a view
    without rows (a month with no duplicates, say) leaves no data file there, and Spark cannot read
    a schema from no file (UNABLE_TO_INFER_SCHEMA), while the write itself is fine (it empties the
    months)."""
    frame = spark.table(view).select(*ddl.column_names(table.layout.table))
    expected = frame.count()

    def audit(staged: StagedWrite) -> bool:
        return staged.dataset().count_rows() == expected

    return write_partitions(frame, table, months=months, audit=audit)


class SparkStaging:
    """Staging on Spark over the lake; the manifest in the DuckDB file `con`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, spark, lake: str) -> None:
        self.con, self.spark, self.lake = con, spark, lake

    def has_catalog(self) -> bool:
        return self.con.execute("SELECT count(*) > 0 FROM raw.products").fetchall()[0][0]

    def _stale(self, days: list[dt.date], rules: StagingRules) -> list[dt.date]:
        changed = changed_days(self.con, days, rules)
        paths = files_of_days(self.con, changed) if changed else []
        repeating = []
        if paths:
            repeating = [
                r[0]
                for r in dialects.execute(self.spark, _DUPLICATES_OF_FILES, {"days": days, "paths": paths}).collect()
            ]
        months = {month_key(d) for d in [*changed, *repeating]}
        return [d for d in days if month_key(d) in months]

    def stage_and_audit(
        self, days: list[dt.date], thresholds: dict[str, Any], rules: StagingRules, has_catalog: bool
    ) -> Audited:
        spark, con = self.spark, self.con
        write_small_raw_tables(con, self.lake)  # raw.products may have landed after raw_events
        use_lake(spark, self.lake, (*READS, *WRITES))
        stale = self._stale(days, rules)
        if not stale:
            validation_started = time.perf_counter()
            counts = published_file_counts(con, days)
            return Audited([], counts, SuiteOutcome(suite=STAGING_SUITE_NAME), time.perf_counter() - validation_started)
        warm_up()
        stage_on_spark(spark, stale, rules)
        stage_fingerprints(con, stale, rules)
        validation_started = time.perf_counter()
        counts = file_counts_of(con, stale, run_sql(spark, STAGED_COUNTS).toPandas())
        rows = [tuple(r) for r in run_sql(spark, STAGED_SCREEN, staged_screen_params(stale, thresholds)).collect()]
        duplicated = [r[0] for r in run_sql(spark, DUPLICATED_ID_DAYS, {"days": stale}).collect()]
        rows_per_day, failing = staged_verdict(rows, duplicated, thresholds, has_catalog)
        suite = staging_events_suites(thresholds, check_catalog=has_catalog)
        outcome = audit_fetched(
            lambda text, params: fetch(spark, text, params),
            STAGED_BATCH,
            stale,
            suite,
            thresholds["validation_batch_rows"],
            rows_per_day,
            failing,
        )
        return Audited(stale, counts, outcome, time.perf_counter() - validation_started)

    def publish(self, audited: Audited) -> None:
        """The audited months to the lake (each write audited by its row count), then the manifest."""
        if not audited.stale:
            return
        months = sorted({month_key(d) for d in audited.stale})
        for table, view in WRITES.items():
            write_staged(self.spark, view, lake_table(self.lake, table), months)
        record_staging(self.con, audited.stale, audited.counts)

    def summary(self, days: list[dt.date]) -> StagingSummary:
        spark = self.spark
        use_lake(spark, self.lake, WRITES)
        params = {"days": days}
        reasons = fetch(spark, REASONS, params)
        if "month" in reasons:
            reasons["month"] = reasons["month"].dt.date if len(reasons) else reasons["month"]
        return StagingSummary(
            clean=per_month(run_sql(spark, CLEAN_PER_MONTH, params).collect()),
            quarantined=per_month(run_sql(spark, QUARANTINED_PER_MONTH, params).collect()),
            duplicates=per_month(run_sql(spark, DUPLICATES_PER_MONTH, params).collect()),
            reasons=reasons,
            files=published_file_counts(self.con, days),
        )
