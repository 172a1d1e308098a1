"""The retention purge: events older than `retention_days` leave every layer (docs/privacy.md).

The cut-off is the UTC day `retention_days` before today (or before `now`): an event before it
expires (warehouse/expire.py says which rows that is). In this order, each step safe to repeat, as
`forget` does it (forget.py):
  1. every landed event file dated on or after the cut-off that holds expired lines (late events)
     is rewritten beside itself without them (staged, hidden: not a landed file);
  1b. with a Spark lake (Spark mode, or a home with a lake/ folder): every lake table loses its rows
     dated before the cut-off and the expired late lines the warehouse names (months entirely
     before the cut-off emptied, the boundary month rewritten, later months untouched), then the
     customers left without events there, on Spark, through the lake's write-audit-publish
     (spark_mode/lake_erase.py); a kill leaves each month old or purged, and the re-run finishes;
  2. one warehouse transaction removes the expired rows from every table, records the rewrites
     (not a new file version), the files dated before the cut-off as `expired`, and the purge;
  3. the rewritten files replace the landed ones; the landed files dated before the cut-off are
     deleted;
  4. the API's prediction logs lose the lines logged before the cut-off;
  5. the serving snapshot is published again from the purged tables, older snapshots removed;
  6. the warehouse file is rewritten whole (compacted);
  7. the purge is marked complete and appended to logs/retention.jsonl (counts only).
A kill before 2 leaves the old state (the staged rewrites are made again); after it, the re-run
finds the purge recorded and puts the staged rewrites (complete before 2 began) in place, then
does what is left. The request id is the cut-off's, so a second purge the same day changes
nothing. The next `shop-pipeline run` recomputes the features, models and scores from the events
that remain (the purge clears the feature builds' records).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from shop_pipeline.engine.settings import SPARK, engine_kind, lake_models_uri, privacy_lake
from shop_pipeline.engine.spark_session import lake_spark
from shop_pipeline.privacy_log import close_report
from shop_pipeline.serving.republish import republish_snapshot, rewrite_prediction_logs
from shop_pipeline.settings import RETENTION_DAYS_ENV, ShopPaths
from shop_pipeline.sources.landing import discover
from shop_pipeline.sources.landing_erase import (
    StagedRewrite,
    leftover_staged,
    put_in_place,
    stage_rewrite_lines,
    stage_rewrite_text,
)
from shop_pipeline.spark_mode.lake_erase import LakeErasure, purge_lake
from shop_pipeline.warehouse.connection import connect
from shop_pipeline.warehouse.encryption import warehouse_key
from shop_pipeline.warehouse.erase import LandingRewrite, compact
from shop_pipeline.warehouse.expire import expire_rows, expired_lines, mark_complete, purge_status, request_id_for

RETENTION_LOG = "retention.jsonl"


@dataclass
class PurgeReport:
    request_id: str
    purged_at: str
    retention_days: int
    cutoff: str
    rows_removed: dict[str, int]
    customers_gone: int
    landing_files_removed: int
    landing_files_rewritten: int
    landing_lines_removed: int
    prediction_log_lines_removed: int
    snapshot_id: str | None
    warehouse_compacted: bool
    lake_rows_removed: dict[str, int] = field(default_factory=dict)  # Spark lake: table -> rows removed
    lake_partitions_rewritten: dict[str, list[str]] = field(default_factory=dict)  # table -> months ("*": whole)
    lake_customers_gone: int = 0
    status: str = "complete"
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        tables = ", ".join(f"{t} {n:,}" for t, n in sorted(self.rows_removed.items())) or "none"
        lake = ", ".join(
            f"{t} {n:,} ({len(self.lake_partitions_rewritten.get(t, []))} partition(s))"
            for t, n in sorted(self.lake_rows_removed.items())
        )
        return "\n".join(
            [
                f"retention purge {self.request_id}: events before {self.cutoff} ({self.retention_days} days); "
                f"rows removed: {tables}; customers left without events, erased: {self.customers_gone:,}",
                f"landing: {self.landing_files_removed} file(s) removed, {self.landing_files_rewritten} rewritten "
                f"without {self.landing_lines_removed:,} line(s); prediction logs: "
                f"{self.prediction_log_lines_removed:,} line(s) removed",
                f"serving snapshot: {'republished as ' + self.snapshot_id if self.snapshot_id else 'none published yet'}; "
                f"warehouse file rewritten: {'yes' if self.warehouse_compacted else 'no (nothing removed)'}",
                *([f"Spark lake: rows removed, only the partitions holding them rewritten: {lake}"] if lake else []),
                "features, models and scores are recomputed from the remaining events by the next `shop-pipeline run`",
                *self.notes,
            ]
        )


def retention_cutoff(retention_days: int, now: dt.datetime) -> dt.date:
    """The first day kept: events before it expire."""
    if retention_days < 1:
        raise ValueError(f"retention_days={retention_days}: must be at least 1")
    return (now - dt.timedelta(days=retention_days)).date()


def retention_days_from_env(environ=None) -> int | None:
    """$SHOP_PIPELINE_RETENTION_DAYS as a whole number of days, or None when unset (keep everything)."""
    text = (os.environ if environ is None else environ).get(RETENTION_DAYS_ENV, "").strip()
    if not text:
        return None
    try:
        days = int(text)
    except ValueError:
        raise ValueError(f"{RETENTION_DAYS_ENV}={text!r} is not a whole number of days") from None
    if days < 1:
        raise ValueError(f"{RETENTION_DAYS_ENV}={days}: must be at least 1")
    return days


def _logged_before(cutoff: dt.date):
    def drop(_number: int, text: str) -> bool:
        try:
            logged = json.loads(text).get("logged_at")
            return dt.datetime.fromisoformat(str(logged)).date() < cutoff
        except (ValueError, AttributeError, TypeError):
            return False  # a line that names no time is not known to be old

    return drop


def purge_expired(paths: ShopPaths, retention_days: int, now: dt.datetime | None = None, spark=None) -> PurgeReport:
    """The purge (module docstring). `spark`: the session that rewrites the lake, when the shop has one
    (default: this process's session for the engine settings)."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    cutoff = retention_cutoff(retention_days, now)
    if not paths.warehouse.is_file():
        raise FileNotFoundError(f"no warehouse at {paths.warehouse}: nothing to purge")
    request = request_id_for(cutoff)
    with connect(paths.warehouse) as con:
        recorded = purge_status(con, request)
        staged = _resume(paths.landing, request) if recorded is not None else []
        if recorded is None:
            for stale in leftover_staged(paths.landing):
                stale.unlink(missing_ok=True)
            # 1. the later files' expired lines, staged
            lines = expired_lines(con, cutoff)
            for landed in discover(paths.landing):
                wanted = lines.get(landed.relative)
                if landed.day >= cutoff and wanted and (rewrite := stage_rewrite_lines(landed.path, wanted, request)):
                    staged.append(rewrite)
        old_files = [landed for landed in discover(paths.landing) if landed.day < cutoff]
        rewrites = [LandingRewrite.of(s, paths.landing) for s in staged]
        # 1b. the lake, while the warehouse still names the late expired lines
        lake = privacy_lake(paths)
        on_lake, lake_gone = LakeErasure(), 0
        if lake is not None:
            late = [(path, line) for path, numbers in expired_lines(con, cutoff).items() for line in numbers]
            on_lake, lake_gone = purge_lake(spark or lake_spark(paths), lake, cutoff, late)
        # 2. the tables, in one transaction (a re-run finds nothing left to remove)
        expired = expire_rows(con, cutoff, retention_days, rewrites, len(old_files), now)
    # 3. the landing folder
    for rewrite in staged:
        put_in_place(rewrite)
    for landed in old_files:
        landed.path.unlink(missing_ok=True)
    # 4. the prediction logs
    log_lines = rewrite_prediction_logs(paths, lambda log: stage_rewrite_text(log, _logged_before(cutoff), request))
    # 5. the serving snapshot; 6. the file, when anything was removed (now or by a killed run)
    changed = bool(expired.rows or on_lake.rows or staged or old_files or log_lines or recorded == "rows_purged")
    spark_mode = lake is not None and engine_kind() == SPARK  # the snapshot was published from the lake
    snapshot_id = None
    if changed:
        snapshot_id = republish_snapshot(
            paths, now, lake=lake if spark_mode else None, models_dir=lake_models_uri(lake) if spark_mode else None
        )
    if changed:
        compact(paths.warehouse, warehouse_key())
    # 7. done
    with connect(paths.warehouse) as con:
        mark_complete(con, request)
    report = PurgeReport(
        request_id=request,
        purged_at=now.isoformat(),
        retention_days=retention_days,
        cutoff=cutoff.isoformat(),
        rows_removed=expired.rows,
        customers_gone=expired.customers_gone,
        landing_files_removed=len(old_files),
        landing_files_rewritten=len(staged),
        landing_lines_removed=sum(len(s.removed_lines) for s in staged),
        prediction_log_lines_removed=log_lines,
        snapshot_id=snapshot_id,
        warehouse_compacted=changed,
        lake_rows_removed=on_lake.rows,
        lake_partitions_rewritten=on_lake.partitions,
        lake_customers_gone=lake_gone,
    )
    close_report(paths, report, RETENTION_LOG)
    return report


def _resume(landing: Path, request: str) -> list[StagedRewrite]:
    """A killed purge's staged rewrites, complete before its transaction committed: put in place now."""
    from shop_pipeline.sources.landing import fingerprint

    resumed = []
    for staged in leftover_staged(landing):
        suffix = f".{request}.erasing"
        if not staged.name.endswith(suffix):
            staged.unlink(missing_ok=True)
            continue
        target = staged.with_name(staged.name[1 : -len(suffix)])
        if not target.is_file():
            staged.unlink(missing_ok=True)
            continue
        stat = target.stat()
        resumed.append(
            StagedRewrite(
                target=target,
                staged=staged,
                removed_lines=(),
                original=fingerprint(target),
                rewritten=fingerprint(staged),
                modified_ns=stat.st_mtime_ns,
            )
        )
    return resumed
