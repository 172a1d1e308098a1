"""`shop-pipeline rotate-pseudonym-key`: every layer re-pseudonymised from the old key to a new one
(docs/privacy.md, "Changing the key").

Run with the old key still set ($SHOP_PIPELINE_PSEUDONYM_KEY_FILE or $SHOP_PIPELINE_PSEUDONYM_KEY)
and the new one in `--new-key-file`. In this order:
  1. the clear ids of the landed event files are read (ingestion's reader) and each id's old and
     new pseudonyms paired (key_map; in the connection's memory only);
  2. one warehouse transaction rewrites every stored pseudonym, re-keys the tombstones (from the
     erasure requests' ids) and records the new key's fingerprint (warehouse/rekey.py);
  2b. with a Spark lake (Spark mode, or a home with a lake/ folder): every old pseudonym in the lake's
     tables is replaced on Spark, only the months holding one rewritten, each through the lake's
     write-audit-publish (spark_mode/lake_rekey.py); a kill leaves each month old or re-keyed, and
     the re-run (which finds the new key recorded) re-keys the months still holding old ones;
  3. the API's prediction logs are rewritten with the new pseudonyms (one rename per file);
  4. the serving snapshot is published again from the re-keyed tables, older snapshots removed;
  5. the warehouse file is rewritten whole, so no old pseudonym stays in its free blocks.
A kill before 2 commits leaves the old state; after it, the warehouse is under the new key and
the same command again completes 3-5 (it finds the new key recorded). Models retrain on the next
run (their training inputs, fingerprinted by content, changed). Then set the new key for every
process (the UI, the daemon, `shop-pipeline serve`) and destroy the old one.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

import duckdb

from shop_pipeline.engine.settings import SPARK, engine_kind, lake_models_uri, privacy_lake
from shop_pipeline.engine.spark_session import lake_spark
from shop_pipeline.privacy_log import close_report
from shop_pipeline.pseudonyms import CLEAR, PrivacyKeyError, Pseudonymiser, pseudonymiser_from_env
from shop_pipeline.serving.republish import PREDICTION_LOGS, republish_snapshot
from shop_pipeline.serving.snapshot import serving_root
from shop_pipeline.settings import ShopPaths
from shop_pipeline.sources.landing import discover, fingerprint
from shop_pipeline.sources.native import BatchFile, batch_values, read_batch, start_batch
from shop_pipeline.spark_mode.lake_erase import LakeErasure
from shop_pipeline.spark_mode.lake_rekey import rekey_lake
from shop_pipeline.warehouse.connection import connect
from shop_pipeline.warehouse.encryption import warehouse_key
from shop_pipeline.warehouse.erase import compact
from shop_pipeline.warehouse.rekey import (
    build_key_map,
    install_new_key,
    key_map,
    lookup_ids,
    recorded_fingerprint,
    rekey_tables,
    replace_pseudonyms,
)

ROTATION_LOG = "key_rotations.jsonl"


@dataclass
class RotationReport:
    rotated_at: str
    old_fingerprint: str
    new_fingerprint: str
    pseudonyms: int
    rows_rewritten: dict[str, int]
    tombstones: int
    prediction_log_files_rewritten: int
    snapshot_id: str | None
    resumed: bool
    lake_values_rekeyed: dict[str, int] = field(default_factory=dict)  # Spark lake: table -> rows changed
    lake_partitions_rewritten: dict[str, list[str]] = field(default_factory=dict)  # table -> months ("*": whole)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        rows = sum(self.rows_rewritten.values())
        return "\n".join(
            [
                f"pseudonym key rotated {self.old_fingerprint} -> {self.new_fingerprint}"
                f"{' (a killed rotation completed)' if self.resumed else ''}: {self.pseudonyms:,} pseudonyms, "
                f"{rows:,} values in {len(self.rows_rewritten)} columns, {self.tombstones:,} tombstones",
                *(
                    [f"Spark lake: rows re-keyed (only the partitions holding them rewritten): {_lake_text(self)}"]
                    if self.lake_values_rekeyed
                    else []
                ),
                f"prediction logs rewritten: {self.prediction_log_files_rewritten}; serving snapshot: "
                f"{'republished as ' + self.snapshot_id if self.snapshot_id else 'none published yet'}",
                "now set the new key for every process (SHOP_PIPELINE_PSEUDONYM_KEY_FILE: the UI, the daemon, "
                "`shop-pipeline serve`) and destroy the old one; the next run retrains the models",
                *self.notes,
            ]
        )


def _lake_text(report: RotationReport) -> str:
    return ", ".join(
        f"{t} {n:,} ({len(report.lake_partitions_rewritten.get(t, []))} partition(s))"
        for t, n in sorted(report.lake_values_rekeyed.items())
    )


def _landed_ids_query(con: duckdb.DuckDBPyConnection, paths: ShopPaths) -> str:
    """Read every landed event file as ingestion does; the query of their customer and session ids."""
    start_batch(con)
    files = [landed for landed in discover(paths.landing) if landed.file_format]
    batch = [BatchFile(i, f.path, f.file_format, fingerprint(f.path)) for i, f in enumerate(files)]
    # a file ingestion could not read left no row in the warehouse: what it yields maps nothing stored
    if batch:
        read_batch(con, batch)
    return f"SELECT user_id FROM ({batch_values(('user_id',))}) UNION SELECT session_id FROM ({batch_values(('session_id',))})"


def rotate_pseudonym_key(
    paths: ShopPaths, new: Pseudonymiser, erased_ids: list[str], now: dt.datetime | None = None, spark=None
) -> RotationReport:
    """Rotate from the key set to `new` (module docstring). `spark`: the session that re-keys the lake,
    when the shop has one (default: this process's session for the engine settings)."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    old = pseudonymiser_from_env()
    if old is None:
        raise PrivacyKeyError("no pseudonym key is set: set the current (old) key to rotate from (docs/privacy.md)")
    if old.fingerprint == new.fingerprint:
        raise PrivacyKeyError("the new key is the key already set: nothing to rotate")
    if not paths.warehouse.is_file():
        raise FileNotFoundError(f"no warehouse at {paths.warehouse}: nothing to rotate")
    with connect(paths.warehouse) as con:
        recorded = recorded_fingerprint(con)
        if recorded not in (old.fingerprint, new.fingerprint):
            held = "clear customer ids" if recorded in (None, CLEAR) else f"ids under the key {recorded}"
            raise PrivacyKeyError(f"the warehouse holds {held}, not ids under the key set ({old.fingerprint})")
        install_new_key(con, new)
        # 1. old -> new for every landed id, and every id of the re-identification lookup (a customer
        # whose files left the landing folder); after a killed rotation the lookup is under the new key
        sealed = lookup_ids(con, new if recorded == new.fingerprint else old)
        con.execute("CREATE OR REPLACE TEMP TABLE lookup_ids AS SELECT unnest($ids::VARCHAR[]) AS id", {"ids": sealed})
        build_key_map(con, _landed_ids_query(con, paths) + " UNION SELECT id FROM lookup_ids")
        # 2. the tables (skipped when a killed rotation committed them already)
        resumed = recorded == new.fingerprint
        if resumed:
            pseudonyms, rows, tombstones = len(key_map(con)), {}, 0
        else:
            done = rekey_tables(con, old, new, erased_ids, now)
            pseudonyms, rows, tombstones = done.pseudonyms, done.rows, done.tombstones
        mapping = key_map(con)
    # 2b. the lake: after the warehouse committed, so a re-run (resumed) finishes what a kill left
    lake = privacy_lake(paths)
    on_lake = rekey_lake(spark or lake_spark(paths), lake, mapping) if lake is not None else LakeErasure()
    # 3. the prediction logs
    logs = 0
    folder = serving_root(paths.home) / PREDICTION_LOGS
    for log in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        logs += _rewrite(log, mapping)
    # 4. the snapshot; 5. the file
    spark_mode = lake is not None and engine_kind() == SPARK  # the snapshot was published from the lake
    snapshot_id = republish_snapshot(
        paths, now, lake=lake if spark_mode else None, models_dir=lake_models_uri(lake) if spark_mode else None
    )
    compact(paths.warehouse, warehouse_key())
    report = RotationReport(
        rotated_at=now.isoformat(),
        old_fingerprint=old.fingerprint,
        new_fingerprint=new.fingerprint,
        pseudonyms=pseudonyms,
        rows_rewritten=rows,
        tombstones=tombstones,
        prediction_log_files_rewritten=logs,
        snapshot_id=snapshot_id,
        resumed=resumed,
        lake_values_rekeyed=on_lake.rows,
        lake_partitions_rewritten=on_lake.partitions,
    )
    close_report(paths, report, ROTATION_LOG)
    return report


def _rewrite(path, mapping: dict[str, str]) -> int:
    """The file with every old pseudonym replaced, put in place by one rename; 1 when it changed."""
    text = path.read_text(encoding="utf-8")
    rekeyed = replace_pseudonyms(text, mapping)
    if rekeyed == text:
        return 0
    staged = path.with_name(f".{path.name}.rekeying")
    with open(staged, "w", encoding="utf-8") as handle:
        handle.write(rekeyed)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(staged, path.stat().st_mode & 0o777)
    os.replace(staged, path)
    return 1
