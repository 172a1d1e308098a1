"""`shop-pipeline forget`: erase customers from every layer of the shop (docs/privacy.md).

In this order, each step safe to repeat, so that a re-run after a kill completes the erasure:
  1. every landed event file holding one of their lines is rewritten beside itself without those
     lines (staged, hidden: not a landed file);
  1b. with a Spark lake (Spark mode, or a home with a lake/ folder): every lake table's partitions
     holding their rows are rewritten without them on Spark (spark_mode/lake_erase.py), each through
     the lake's write-audit-publish; the keys (their pseudonyms, sessions, orders, landed lines) are
     read from the warehouse first, which still holds them;
  2. one warehouse transaction removes their rows from every table, records the rewritten files
     in the manifest (new bytes, fewer rows: not a new file version) and their tombstones;
  3. the rewritten landing files replace the originals (one rename each);
  4. the API's prediction logs are rewritten without the lines naming them;
  5. the serving snapshot is published again from the erased tables, and every older snapshot
     folder is removed;
  6. the warehouse file is rewritten whole (compacted), so that no deleted row stays in its bytes;
  7. the erasure is marked complete and appended to logs/erasures.jsonl (no id: counts only).
A kill before 2 leaves the old state (staged rewrites are made again), except for lake partitions
already rewritten (each is old or erased, never half: the re-run finds nothing left in them and
rewrites the others); after 2 the customers are
gone from the tables and the re-run does what is left (its deletes find nothing; the request id is
derived from the customers' tombstones, so it is the same request).

Models trained on their data are retrained by the next run: their training inputs are
fingerprinted by content (ml/common/lifecycle.py), and the erased rows changed them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from shop_pipeline.engine.settings import SPARK, engine_kind, lake_models_uri, privacy_lake
from shop_pipeline.engine.spark_session import lake_spark
from shop_pipeline.features.staged_changes import table_fingerprint
from shop_pipeline.ml.models import MODELS
from shop_pipeline.privacy_log import close_report
from shop_pipeline.serving.republish import republish_snapshot, rewrite_prediction_logs
from shop_pipeline.settings import ShopPaths
from shop_pipeline.sources.landing import discover
from shop_pipeline.sources.landing_erase import leftover_staged, put_in_place, stage_rewrite
from shop_pipeline.spark_mode.lake_erase import LakeErasure, erase_from_lake
from shop_pipeline.warehouse.connection import connect, table_columns
from shop_pipeline.warehouse.encryption import warehouse_key
from shop_pipeline.warehouse.erase import (
    LandingRewrite,
    check_same_key,
    compact,
    erase_rows,
    erasure_keys,
    mark_complete,
    request_id_of,
    tombstones_of,
)

ERASURE_LOG = "erasures.jsonl"


@dataclass
class ForgetReport:
    request_id: str
    erased_at: str
    customers: int
    already_erased: int
    rows_removed: dict[str, int]
    landing_files_rewritten: int
    landing_lines_removed: int
    prediction_log_lines_removed: int
    snapshot_id: str | None
    warehouse_compacted: bool
    models_to_retrain: list[str] = field(default_factory=list)  # champions whose training inputs changed
    lake_rows_removed: dict[str, int] = field(default_factory=dict)  # Spark lake: table -> rows removed
    lake_partitions_rewritten: dict[str, list[str]] = field(default_factory=dict)  # table -> months ("*": whole)
    status: str = "complete"
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        tables = ", ".join(f"{t} {n:,}" for t, n in sorted(self.rows_removed.items())) or "none"
        lines = [
            f"erasure {self.request_id}: {self.customers} customer(s) "
            f"({self.already_erased} erased before); rows removed: {tables}",
            f"landing: {self.landing_files_rewritten} file(s) rewritten without {self.landing_lines_removed:,} line(s); "
            f"prediction logs: {self.prediction_log_lines_removed:,} line(s) removed",
            f"serving snapshot: {'republished as ' + self.snapshot_id if self.snapshot_id else 'none published yet'}; "
            f"warehouse file rewritten: {'yes' if self.warehouse_compacted else 'no'}",
            *self._lake_lines(),
            "models trained on their data, retrained by the next `shop-pipeline run` (their training inputs "
            f"changed): {', '.join(self.models_to_retrain) or 'none'}",
            *self.notes,
        ]
        return "\n".join(lines)

    def _lake_lines(self) -> list[str]:
        if not self.lake_rows_removed:
            return []
        tables = ", ".join(
            f"{t} {n:,} ({len(self.lake_partitions_rewritten.get(t, []))} partition(s))"
            for t, n in sorted(self.lake_rows_removed.items())
        )
        return [f"Spark lake: rows removed, only the partitions holding them rewritten: {tables}"]


def models_to_retrain(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The champions ("model version") whose training inputs, as their registry row recorded them, no
    longer match the tables: the next run trains them again (ml/common/lifecycle.py reuses a
    version only while its inputs are unchanged)."""
    if not table_columns(con, "ml.model_registry"):
        return []
    stale = []
    champions = con.execute(
        "SELECT model_name, version, as_of, training_inputs FROM ml.model_registry WHERE is_champion ORDER BY 1"
    ).fetchall()
    specs = {spec.name: spec for spec in MODELS}
    for name, version, as_of, recorded in champions:
        spec = specs.get(name)
        if spec is None or not recorded:
            continue
        tables = json.loads(recorded).get("tables", {})
        for table, where in dict(spec.training_inputs).items():
            params = {"as_of": as_of} if "$as_of" in where else None
            if table in tables and table_fingerprint(con, table, where=where, params=params) != tables[table]:
                stale.append(f"{name} {version}")
                break
    return stale


def read_customers_file(path: str | Path) -> list[str]:
    """One customer id per line; blank lines and lines starting with # are skipped."""
    return [
        line.strip()
        for line in Path(path).read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


def forget(
    paths: ShopPaths,
    customer_ids: list[str],
    request_id: str | None = None,
    now: dt.datetime | None = None,
    spark=None,
) -> ForgetReport:
    """Erase `customer_ids` from every layer (module docstring). `spark`: the session that rewrites
    the lake, when the shop has one (default: this process's session for the engine settings)."""
    ids = sorted({i.strip() for i in customer_ids if i and i.strip()})
    if not ids:
        raise ValueError("no customer id given (--customer ID or --customers-file FILE)")
    if not paths.warehouse.is_file():
        raise FileNotFoundError(f"no warehouse at {paths.warehouse}: nothing to erase from")
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    wanted = frozenset(ids)
    for stale in leftover_staged(paths.landing):
        stale.unlink(missing_ok=True)
    with connect(paths.warehouse) as con:
        check_same_key(con)  # before any file is touched
        graves = tombstones_of(con, ids)
        stored = {con.execute("SELECT pseudonym(?)", [i]).fetchone()[0] for i in ids}
        request = request_id or request_id_of(graves)
        # 1. the landing files, staged
        staged = [s for landed in discover(paths.landing) if (s := stage_rewrite(landed.path, wanted, request))]
        rewrites = [LandingRewrite.of(s, paths.landing) for s in staged]
        # 1b. the lake's partitions holding them, while the warehouse still names their keys
        lake = privacy_lake(paths)
        on_lake = LakeErasure()
        if lake is not None:
            on_lake = erase_from_lake(spark or lake_spark(paths), lake, erasure_keys(con, ids, rewrites))
        # 2. the tables, in one transaction
        erased = erase_rows(con, ids, request, rewrites, now)
    # 3. the landing files, in place
    for rewrite in staged:
        put_in_place(rewrite)
    # 4. the prediction logs (they name pseudonyms, or the ids without a key)
    log_lines = rewrite_prediction_logs(paths, lambda log: stage_rewrite(log, frozenset(stored | wanted), request))
    # 5. the serving snapshot, from the erased tables; the older ones go
    with connect(paths.warehouse) as con:
        retrain = models_to_retrain(con)
    spark_mode = lake is not None and engine_kind() == SPARK  # the snapshot was published from the lake
    snapshot_id = republish_snapshot(
        paths, now, lake=lake if spark_mode else None, models_dir=lake_models_uri(lake) if spark_mode else None
    )
    # 6. the warehouse file, rewritten whole
    compact(paths.warehouse, warehouse_key())
    # 7. done: the audit log
    with connect(paths.warehouse) as con:
        mark_complete(con, request)
    report = ForgetReport(
        request_id=request,
        erased_at=now.isoformat(),
        customers=len(ids),
        already_erased=erased.already_erased,
        rows_removed=erased.rows,
        landing_files_rewritten=len(staged),
        landing_lines_removed=sum(len(s.removed_lines) for s in staged),
        prediction_log_lines_removed=log_lines,
        snapshot_id=snapshot_id,
        warehouse_compacted=True,
        models_to_retrain=retrain,
        lake_rows_removed=on_lake.rows,
        lake_partitions_rewritten=on_lake.partitions,
    )
    close_report(paths, report, ERASURE_LOG)
    return report
