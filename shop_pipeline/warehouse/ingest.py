"""Exactly-once ingestion of landed event files into raw.events (write-audit-publish).

`load_batch` reads the new or changed files of some days into temp tables (batch_events,
batch_rejects, batch_files) without touching the published tables; the caller audits the
batch, then `publish_batch` replaces those files' rows in raw.* in one transaction.

Cost follows the change: a landed file already recorded with the same path, size and
modification time (or, when only the time moved, the same SHA-256) is not read again, and
its published rows stay. A file no longer in the landing folder keeps its published rows
too: removing a landed file never deletes events (delete them on purpose, with SQL).

Exactly once: a file whose SHA-256 was already ingested (under any name, in another
partition, or earlier in this batch) is recorded as `duplicate_file` and adds no rows. When the
file first ingested with those bytes is rewritten or fails to read, a recorded copy inherits its
rows (`_promote_orphaned_copies`): no event is lost.
Re-loading the same files gives the same rows: ingested_at is kept from the first time the
same bytes were ingested at the same path.

A file dated outside the partitions (`valid_days`: the first partition day .. tomorrow, UTC)
is recorded as failed with the reason, under its own day, and the others go through.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb

from shop_pipeline import sql
from shop_pipeline.pseudonyms import CLEAR, PSEUDONYM_KEY_ENV, PSEUDONYM_KEY_FILE_ENV, PrivacyKeyError
from shop_pipeline.sources.landing import Fingerprint, LandedFile, fingerprint
from shop_pipeline.sources.native import (
    BATCH_ROWS,
    BatchFile,
    ReadCounts,
    UnreadableFile,
    batch_values,
    data_line_count,
    glob_escaped,
    read_batch,
    start_batch,
)
from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import transaction, unordered_inserts

_BATCH_DDL = sql.load("batch_views").format(
    rows=BATCH_ROWS.format(where="TRUE", csv="batch_csv"),
    sample=BATCH_ROWS.format(where="TRUE", csv="(SELECT * FROM batch_csv LIMIT 1000)"),
)

_RECORDED = """
SELECT path, partition_date, size_bytes, modified_ns, sha256, status, duplicate_of, rows_read, error, ingested_at
FROM raw.ingested_files
"""

# what load_batch records of a file (the other columns of raw.ingested_files are staging's counts)
_RECORD_COLUMNS = (
    "path",
    "partition_date",
    "size_bytes",
    "sha256",
    "file_format",
    "status",
    "duplicate_of",
    "rows_read",
    "rows_duplicate",
    "error",
    "ingested_at",
    "modified_ns",
)

_INGESTED_SHA = "SELECT path, partition_date, sha256 FROM raw.ingested_files WHERE status = 'ingested'"


@dataclass
class FileOutcome:
    path: str
    day: dt.date
    status: str
    rows_read: int | None = None
    error: str | None = None
    duplicate_of: str | None = None
    unchanged: bool = False  # already recorded with the same bytes: not read again


@dataclass
class BatchReport:
    days: list[dt.date]
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def duplicates(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "duplicate_file"]

    @property
    def ingested(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "ingested"]

    @property
    def changed(self) -> list[FileOutcome]:
        """Files recorded by this batch (new or changed bytes, or a new verdict)."""
        return [f for f in self.files if not f.unchanged]

    @property
    def changed_days(self) -> list[dt.date]:
        return sorted({f.day for f in self.changed})


def out_of_range_reason(day: dt.date, valid_days: tuple[dt.date, dt.date]) -> str | None:
    first, last = valid_days
    if day > last:
        return (
            f"dated {day.isoformat()}, after tomorrow ({last.isoformat()}, UTC): not ingested; "
            "name the file with the day its events belong to"
        )
    if day < first:
        return (
            f"dated {day.isoformat()}, before the first partition day {first.isoformat()}: not ingested; "
            "set SHOP_PIPELINE_PARTITIONS_START earlier or name the file with its real day"
        )
    return None


def _fingerprints(files: list[LandedFile]) -> dict[str, Fingerprint | OSError]:
    """SHA-256 and line counts, two files at a time (hashlib releases the GIL)."""

    def one(landed: LandedFile):
        try:
            return landed.relative, fingerprint(landed.path)
        except OSError as exc:
            return landed.relative, exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, files))


def load_batch(  # noqa: C901 - the exactly-once rounds below share their state (recorded, known_sha, pending)
    con: duckdb.DuckDBPyConnection,
    files: list[LandedFile],
    days: list[dt.date],
    now: dt.datetime,
    valid_days: tuple[dt.date, dt.date] | None = None,
    before_read: Callable[[], None] | None = None,
) -> BatchReport:
    """Read the new or changed files among `files` (the landed files of `days`) into the batch tables.

    `before_read` is called once before the first file is read (when any is).
    """
    check_pseudonym_key(con, now)
    start_batch(con)
    con.execute(_BATCH_DDL)
    report = BatchReport(days=sorted(days))
    recorded = {(r[0], r[1]): r[2:] for r in con.execute(_RECORDED).fetchall()}
    records: list[dict] = []

    def record(
        landed: LandedFile, status: str, fp: Fingerprint | None = None, modified_ns: int | None = None, **values
    ) -> FileOutcome:
        row = {
            "path": landed.relative,
            "partition_date": landed.day,
            "file_format": landed.file_format,
            "size_bytes": fp.size_bytes if fp else None,
            "sha256": fp.sha256 if fp else None,
            "modified_ns": modified_ns,
            "status": status,
            "duplicate_of": None,
            "rows_read": None,
            "rows_duplicate": None,
            "error": None,
            "ingested_at": now,
        }
        row.update(values)
        records.append(row)
        outcome = FileOutcome(
            path=landed.relative,
            day=landed.day,
            status=status,
            rows_read=row["rows_read"],
            error=row["error"],
            duplicate_of=row["duplicate_of"],
        )
        report.files.append(outcome)
        return outcome

    # 1. What changed: out-of-range days, then size + modification time, then the bytes.
    candidates: list[tuple[LandedFile, int | None]] = []
    for landed in files:
        reason = out_of_range_reason(landed.day, valid_days) if valid_days else None
        if reason:
            record(landed, "failed", error=reason)
            continue
        try:
            stat = landed.path.stat()
        except OSError as exc:
            record(landed, "failed", error=f"cannot read file: {exc.strerror or exc}")
            continue
        known = recorded.get((landed.relative, landed.day))
        if known and known[0] == stat.st_size and known[1] == stat.st_mtime_ns:
            report.files.append(_unchanged(landed, known))
            continue
        candidates.append((landed, stat.st_mtime_ns))
    prints = _fingerprints([landed for landed, _ in candidates])
    replaced: set[tuple[str, dt.date]] = set()
    fresh: list[tuple[LandedFile, int | None, Fingerprint]] = []
    for landed, modified_ns in candidates:
        fp = prints[landed.relative]
        if isinstance(fp, OSError):
            record(landed, "failed", modified_ns=modified_ns, error=f"cannot read file: {fp.strerror or fp}")
            replaced.add((landed.relative, landed.day))
            continue
        known = recorded.get((landed.relative, landed.day))
        if known and known[2] == fp.sha256 and known[1] is not None:
            # same bytes, touched: keep the verdict, remember the new time
            report.files.append(_unchanged(landed, known))
            con.execute(
                "UPDATE raw.ingested_files SET modified_ns = $m WHERE path = $p AND partition_date = $d",
                {"m": modified_ns, "p": landed.relative, "d": landed.day},
            )
            continue
        replaced.add((landed.relative, landed.day))
        fresh.append((landed, modified_ns, fp))

    # 2. Exactly once: bytes ingested before (outside the files being replaced) or earlier in this batch.
    known_sha: dict[str, str] = {}
    for path, day, sha in sorted(con.execute(_INGESTED_SHA).fetchall(), key=lambda r: (r[0], r[1])):
        if (path, day) not in replaced:
            known_sha.setdefault(sha, path)
    first_seen = {(p, s): t for (p, _), (_, _, s, _, _, _, _, t) in recorded.items()}
    # Arrival order, not day order: of two files with the same bytes the earlier arrival is
    # the original, whichever days are loaded together (a backfill must not move rows). A copy
    # waits for its original's read: the bytes of a file that cannot be read are no original.
    pending = sorted(fresh, key=lambda item: (item[0].arrived_ns, item[0].relative))
    batch: list[BatchFile] = []
    to_read: list[tuple[LandedFile, int | None, Fingerprint, dt.datetime]] = []
    outcomes: dict[int, ReadCounts | UnreadableFile] = {}
    ids = []
    while pending:
        waiting, round_files, round_shas = [], [], set()
        for landed, modified_ns, fp in pending:
            ingested_at = first_seen.get((landed.relative, fp.sha256), now)
            if landed.file_format is None:
                record(
                    landed,
                    "failed",
                    fp,
                    modified_ns,
                    ingested_at=ingested_at,
                    error=(
                        f"unsupported file type {landed.path.suffix or '(no extension)'!r}: expected .csv, .jsonl or .parquet"
                    ),
                )
            elif fp.sha256 in known_sha:
                rows = _count_without_reading(con, landed, fp)
                record(
                    landed,
                    "duplicate_file",
                    fp,
                    modified_ns,
                    ingested_at=ingested_at,
                    duplicate_of=known_sha[fp.sha256],
                    rows_read=rows,
                    rows_duplicate=rows,
                )
            elif fp.sha256 in round_shas:
                waiting.append((landed, modified_ns, fp))
            else:
                round_shas.add(fp.sha256)
                round_files.append((landed, modified_ns, fp, ingested_at))
        # 3. One read for the round (one multi-file read per CSV header).
        first_id = len(batch)
        round_batch = [
            BatchFile(first_id + i, landed.path, landed.file_format, fp)
            for i, (landed, _, fp, _) in enumerate(round_files)
        ]
        if round_batch and before_read and not batch:
            before_read()
        outcomes.update(read_batch(con, round_batch) if round_batch else {})
        for item, (landed, modified_ns, fp, ingested_at) in zip(round_batch, round_files):
            outcome = outcomes[item.file_id]
            if isinstance(outcome, UnreadableFile):
                record(landed, "failed", fp, modified_ns, ingested_at=ingested_at, error=str(outcome))
                continue
            rows_read = data_line_count(landed.file_format, fp, outcome)
            record(landed, "ingested", fp, modified_ns, ingested_at=ingested_at, rows_read=rows_read)
            ids.append((item.file_id, landed.relative, landed.day, ingested_at))
            known_sha[fp.sha256] = landed.relative
        batch += round_batch
        to_read += round_files
        pending = waiting
    records += _promote_orphaned_copies(con, recorded, replaced, known_sha, report)
    if ids:
        con.executemany("INSERT INTO batch_file_ids VALUES (?, ?, ?, ?)", ids)
    failed_ids = [
        item.file_id for item, (landed, *_) in zip(batch, to_read) if isinstance(outcomes[item.file_id], UnreadableFile)
    ]
    if failed_ids:  # a file that failed after part of it was read leaves nothing behind
        for table in ("batch_csv", "batch_lined", "batch_reject_rows"):
            con.execute(f"DELETE FROM {table} WHERE list_contains($ids, file_id)", {"ids": failed_ids})
    if records:
        import pandas as pd

        frame = pd.DataFrame.from_records(records)
        con.register("batch_file_records", frame)
        try:
            con.execute(
                """INSERT INTO batch_files BY NAME
                   SELECT path, CAST(partition_date AS DATE) AS partition_date, CAST(size_bytes AS BIGINT) AS size_bytes,
                          sha256, file_format, status, duplicate_of, CAST(rows_read AS BIGINT) AS rows_read,
                          CAST(rows_duplicate AS BIGINT) AS rows_duplicate, error,
                          CAST(ingested_at AS TIMESTAMP) AS ingested_at, CAST(modified_ns AS BIGINT) AS modified_ns
                   FROM batch_file_records"""
            )
        finally:
            con.unregister("batch_file_records")
    if ids:
        _pseudonymise_batch(con)
        _drop_erased(con)
        _drop_expired(con)
        _seal_new_customers(con, now)
    report.files.sort(key=lambda f: (f.day, f.path))
    return report


def _pseudonymise_batch(con: duckdb.DuckDBPyConnection) -> None:
    """With a pseudonym key: each distinct customer and session id of the batch hashed once into
    batch_pseudonyms, which the batch views look the ids up in (hashing every row, in every view
    that reads the batch, would cost several times as much)."""
    if con.execute("SELECT pseudonym_key() = 'clear'").fetchone()[0]:
        return
    con.execute(
        f"""INSERT INTO batch_pseudonyms
            SELECT id, pseudonym(id) FROM (
                SELECT user_id AS id FROM ({batch_values(("user_id",))})
                UNION SELECT session_id FROM ({batch_values(("session_id",))})
            ) WHERE id IS NOT NULL"""
    )


def _drop_erased(con: duckdb.DuckDBPyConnection) -> None:
    """The batch's rows of erased customers (a tombstone of their id) leave batch_events; each
    file's count of them goes to rows_erased (conservation: read = clean + quarantined + duplicate
    + erased). Only the batch's distinct ids are checked, and only when there are tombstones."""
    if not con.execute("SELECT EXISTS (SELECT 1 FROM privacy.tombstones)").fetchone()[0]:
        return
    # a line that is no row keeps its file, line and reason, not a text naming them
    con.execute(
        r"""UPDATE batch_reject_rows SET raw_record = NULL
            WHERE raw_record IS NOT NULL AND list_has_any(
                list_transform(regexp_split_to_array(raw_record, '[,"{}\[\]\s]+'), lambda token: erased(token)),
                (SELECT list(tombstone) FROM privacy.tombstones))"""
    )
    values = batch_values(("user_id",))
    con.execute(
        f"""INSERT INTO batch_erased
            SELECT user_id FROM (SELECT DISTINCT user_id FROM ({values}) WHERE user_id IS NOT NULL)
            WHERE erased(user_id) IN (SELECT tombstone FROM privacy.tombstones)"""
    )
    con.execute(
        f"""UPDATE batch_files AS f SET rows_erased = c.erased
            FROM (SELECT i.source_file, i.partition_date, count(*) AS erased
                  FROM ({values}) AS v JOIN batch_erased USING (user_id) JOIN batch_file_ids AS i USING (file_id)
                  GROUP BY ALL) AS c
            WHERE f.path = c.source_file AND f.partition_date = c.partition_date"""
    )


def _seal_new_customers(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> None:
    """With a pseudonym key: the batch's customers not in the re-identification lookup yet (nor
    erased), their clear ids sealed under the key (pseudonyms.py) into batch_lookup, which
    publish_batch adds to reidentify.customers with the batch's rows."""
    if con.execute("SELECT pseudonym_key() = 'clear'").fetchone()[0]:
        return
    from shop_pipeline.pseudonyms import pseudonymiser_from_env

    pseudonymiser = pseudonymiser_from_env()
    ddl.create(con, "reidentify.customers")
    # the batch's customers with a row kept: after a retention purge only batch_events knows which
    # (an old file landed again keeps none); else every customer of the batch but the erased ones
    if con.execute("SELECT EXISTS (SELECT 1 FROM batch_retention)").fetchone()[0]:
        kept = "p.pseudonym IN (SELECT user_id FROM batch_events)"
    else:
        kept = (
            f"p.clear IN (SELECT user_id FROM ({batch_values(('user_id',))})) "
            "AND p.clear NOT IN (SELECT user_id FROM batch_erased)"
        )
    new = con.execute(
        f"""SELECT p.clear, p.pseudonym FROM batch_pseudonyms AS p
            WHERE {kept} AND p.pseudonym NOT IN (SELECT customer_id FROM reidentify.customers)"""
    ).fetchall()
    if not new:
        return
    import pyarrow as pa

    sealed = pa.table(
        {
            "customer_id": pa.array([p for _, p in new], pa.string()),
            "sealed_id": pa.array([pseudonymiser.seal(p, c) for c, p in new], pa.binary()),
        }
    )
    con.register("sealed_frame", sealed)
    try:
        con.execute("INSERT INTO batch_lookup SELECT customer_id, sealed_id, $now FROM sealed_frame", {"now": now})
    finally:
        con.unregister("sealed_frame")


def _drop_expired(con: duckdb.DuckDBPyConnection) -> None:
    """After a retention purge (warehouse/expire.py) the batch's rows of files dated before its
    cut-off, or with an event_time before it, leave batch_events (and a file's unreadable lines
    leave batch_rejects by its day): a re-landed or replayed old file brings nothing back. Each
    file counts them in rows_erased with the erased customers' rows (a row both is counted once)."""
    ddl.create(con, "privacy.retention_purges")
    con.execute(
        "INSERT INTO batch_retention SELECT max(cutoff) FROM privacy.retention_purges HAVING max(cutoff) IS NOT NULL"
    )
    if not con.execute("SELECT EXISTS (SELECT 1 FROM batch_retention)").fetchone()[0]:
        return
    values = batch_values(("event_time", "user_id"))
    con.execute(
        f"""UPDATE batch_files AS f SET rows_erased = coalesce(f.rows_erased, 0) + c.expired
            FROM (SELECT i.source_file, i.partition_date, count(*) AS expired
                  FROM (SELECT file_id, event_time, user_id FROM ({values})
                        UNION ALL SELECT file_id, NULL, NULL FROM batch_reject_rows) AS v
                  JOIN batch_file_ids AS i USING (file_id), batch_retention AS w
                  WHERE (i.partition_date < w.cutoff
                         OR make_timestamp(epoch_us(try_cast(v.event_time AS TIMESTAMPTZ))) < w.cutoff)
                    AND (v.user_id IS NULL OR v.user_id NOT IN (SELECT user_id FROM batch_erased))
                  GROUP BY ALL) AS c
            WHERE f.path = c.source_file AND f.partition_date = c.partition_date"""
    )


def check_pseudonym_key(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> None:
    """Refuse a batch whose ids would not match the warehouse's: written with another pseudonym key,
    or pseudonymised where the warehouse holds clear ids (or the other way round). The first batch
    records the connection's key fingerprint (a warehouse with events and no record holds clear ids)."""
    from shop_pipeline.sql import ddl

    ddl.create(con, "privacy.key_fingerprints", "privacy.tombstones")
    current = con.execute("SELECT pseudonym_key()").fetchone()[0]
    recorded = con.execute("SELECT fingerprint FROM privacy.key_fingerprints WHERE purpose = 'pseudonym'").fetchone()
    if recorded is None:
        has_events = con.execute("SELECT EXISTS (SELECT 1 FROM raw.events)").fetchone()[0]
        recorded = (CLEAR if has_events else current,)
        con.execute("INSERT INTO privacy.key_fingerprints VALUES ('pseudonym', ?, ?)", [recorded[0], now])
    if recorded[0] != current:
        held = "clear customer ids" if recorded[0] == CLEAR else f"ids pseudonymised with the key {recorded[0]}"
        given = "no pseudonym key is set" if current == CLEAR else f"the key set is {current}"
        raise PrivacyKeyError(
            f"the warehouse holds {held}, but {given} ({PSEUDONYM_KEY_FILE_ENV} / {PSEUDONYM_KEY_ENV}): "
            'nothing was ingested. Set the key the warehouse was built with (docs/privacy.md, "Changing the key")'
        )


def _promote_orphaned_copies(
    con: duckdb.DuckDBPyConnection,
    recorded: dict[tuple[str, dt.date], tuple],
    replaced: set[tuple[str, dt.date]],
    known_sha: dict[str, str],
    report: BatchReport,
) -> list[dict]:
    """The records that keep the events of a replaced file's old bytes when a copy of them is still recorded.

    A copy recorded earlier as duplicate_file has no rows of its own: it points at the file first ingested
    with those bytes. When that file is rewritten or fails to read, its rows go; if no other file ingested
    the bytes, the copy (the first by path) becomes the ingested one: its rows are the replaced file's old
    rows under the copy's name and day (the same bytes give the same lines), moved by publish_batch in the
    same transaction (batch_promotions). Any other copy then points at it. Nothing is read again, and a copy
    on a day outside the batch keeps the events too (its day is staged when it is next run).
    """
    promotions, records = [], []
    for path, day in sorted(replaced):
        known = recorded.get((path, day))
        if known is None or known[3] != "ingested" or known[2] in known_sha:
            continue  # nothing was ingested from it, or its old bytes are still ingested under another name
        copies = sorted(
            (p, d) for (p, d), other in recorded.items() if other[3] == "duplicate_file" and other[2] == known[2]
        )
        copies = [copy for copy in copies if copy not in replaced]
        if not copies:
            continue
        heir = copies[0]
        known_sha[known[2]] = heir[0]
        promotions.append((path, day, *heir))
        for copy in copies:
            records.append(_re_recorded(con, copy, heir, rows_read=known[5]))
    if promotions:
        con.executemany("INSERT INTO batch_promotions VALUES (?, ?, ?, ?)", promotions)
        rewritten = {(r["path"], r["partition_date"]): r for r in records}
        report.files = [f for f in report.files if (f.path, f.day) not in rewritten]
        report.files += [
            FileOutcome(
                path=r["path"],
                day=r["partition_date"],
                status=r["status"],
                rows_read=r["rows_read"],
                error=None,
                duplicate_of=r["duplicate_of"],
            )
            for r in records
        ]
    return records


def _re_recorded(con, copy: tuple[str, dt.date], heir: tuple[str, dt.date], rows_read: int | None) -> dict:
    """The record of a copy after its original was replaced: the heir ingested, the others its duplicates."""
    columns = list(_RECORD_COLUMNS)
    row = con.execute(
        f"SELECT {', '.join(columns)} FROM raw.ingested_files WHERE path = $p AND partition_date = $d",
        {"p": copy[0], "d": copy[1]},
    ).fetchone()
    record = dict(zip(columns, row))
    if copy == heir:
        record.update(status="ingested", duplicate_of=None, rows_read=rows_read, rows_duplicate=None)
    else:
        record.update(duplicate_of=heir[0])
    return record


def _unchanged(landed: LandedFile, known: tuple) -> FileOutcome:
    _, _, _, status, duplicate_of, rows_read, error, _ = known
    return FileOutcome(
        path=landed.relative,
        day=landed.day,
        status=status,
        rows_read=rows_read,
        error=error,
        duplicate_of=duplicate_of,
        unchanged=True,
    )


def _count_without_reading(con, landed: LandedFile, fp) -> int | None:
    """Rows of a duplicate file, without reading its rows (Parquet: from the footer)."""
    if landed.file_format == "csv":
        return max(fp.line_count - 1, 0)
    if landed.file_format == "jsonl":
        return fp.line_count
    # Same bytes as a file that was read, so the footer is readable; without a count the
    # file's rows would go unaccounted (conservation: rows_read = rows_duplicate).
    return con.execute("SELECT count(*) FROM read_parquet($path)", {"path": glob_escaped(landed.path)}).fetchall()[0][0]


def publish_batch(con: duckdb.DuckDBPyConnection, days: list[dt.date] | None = None) -> None:
    """Replace the batch's files in raw.* (their rows, rejects and records), in one transaction.

    Files that are not in the batch keep their rows: unchanged files, and files that are no
    longer landed. `days` is accepted for callers that name the batch's days; it narrows nothing.
    """
    with transaction(con), unordered_inserts(con):
        # a replaced file's old rows, kept under the name of its copy (_promote_orphaned_copies): taken
        # before the batch's files (the copy among them) lose their rows, added after
        for table, kept in (("raw.events", "promoted_events"), ("raw.rejected_lines", "promoted_rejects")):
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {kept} AS "
                f"SELECT t.* REPLACE (p.path AS source_file, p.partition_date AS partition_date) "
                f"FROM {table} AS t JOIN batch_promotions AS p "
                "ON t.source_file = p.original_path AND t.partition_date = p.original_date"
            )
        for table, key, batch in (
            ("raw.events", "source_file", "batch_events"),
            ("raw.rejected_lines", "source_file", "batch_rejects"),
            ("raw.ingested_files", "path", "batch_files"),
        ):
            con.execute(
                f"DELETE FROM {table} AS t USING batch_files AS b "
                f"WHERE t.partition_date = b.partition_date AND t.{key} = b.path"
            )
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {batch}")
        for table, kept in (("raw.events", "promoted_events"), ("raw.rejected_lines", "promoted_rejects")):
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {kept}")
            con.execute(f"DROP TABLE {kept}")
        if con.execute("SELECT EXISTS (SELECT 1 FROM batch_lookup)").fetchone()[0]:
            ddl.create(con, "reidentify.customers")
            con.execute("INSERT INTO reidentify.customers SELECT * FROM batch_lookup ON CONFLICT DO NOTHING")
