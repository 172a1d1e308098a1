"""Writing a table to the lake: write-audit-publish with partition overwrite, and crash recovery.

Every Spark-mode table is plain Parquet under `<lake>/<schema>/<table>/` (see `layout.py`), in
Hive-style `event_month=YYYY-MM/` folders for the tables that grow with the event log, so any
Parquet reader finds it. This module is the one write path to those folders, for Spark
DataFrames, Arrow / pandas frames and DuckDB queries alike:

1. **write aside**: the rows go to `<table>/_wap/<write id>/` (the same Hive layout below it),
   announced first by a journal `<table>/_wap/<write id>.json` in state `staging`;
2. **audit**: the caller's audit reads what was written (`StagedWrite`) and refuses it by
   raising (or returning False): the aside folder and the journal are deleted, nothing is
   published, the previous data stays;
3. **publish**: the journal turns to state `publishing` and lists every unit to swap with its
   new files; each unit (a month folder, or the top-level files of an unpartitioned table) is
   swapped: the current files to `<table>/_trash/<write id>/`, then the new ones into place;
4. **finish**: the trash, the aside folder and the journal are deleted.

A re-run replaces exactly the months it names (`months=`); a named month without rows is
emptied; untouched months keep their files. Writing the same rows twice gives the same content.

**Recovery.** A writer killed at any point leaves a journal. `recover(table)` reads it: a
write still `staging` is rolled back (its aside folder deleted; the published data was never
touched); a write `publishing` was audited, so it is rolled forward: in every unit, files that
are not the write's new files go to the trash, the new files still aside move in, then the
write finishes as usual. Every step is a move that can be repeated, so a crash during recovery
is recovered the same way. `write_partitions` recovers every journal of its table first, so
the next run needs no manual step.

**Readers.** Spark and `pyarrow.dataset` skip `_`-prefixed paths (`_wap`, `_trash`,
`_SUCCESS`). DuckDB's `**` glob does *not*: it would read the aside folder too. DuckDB readers
use `duckdb_source()` / `reader_glob()`: `<table>/event_month=*/*.parquet` or
`<table>/*.parquet`, which never match a file below `_wap/`.

**What a reader sees during a publish: the trade-off.** Plain Parquet folders have no atomic
multi-file commit (that is what Delta Lake and Iceberg add, with a log that every reader must
understand: pyarrow and DuckDB need extensions, and "any Parquet reader finds the table" would
no longer hold). A `_current` pointer to versioned folders has the same cost: a plain reader
globbing the folder sees every version. So the unit of visibility here is the swap of one
unit, and the journal makes the swap recoverable. On a local file system a month is a folder
and each move is one atomic rename: a reader sees a month's old files or its new files,
never half of either; between the two renames of a swap (microseconds) a listing can miss
that month (missing, never doubled: the old files leave before the new ones arrive), and a
write of several months publishes them one after the other. An unpartitioned table's files
are moved one by one (old ones out, then new ones in), so during those renames a listing can
see part of it: keep such tables to a few files (one per DuckDB write; `coalesce` in Spark).
Nobody has to wait for a half-done publish: a dead writer's publish is finished by the next
`recover(table)` (called by every write; readers should call it when they open a table). On object
storage a "rename" is a copy and a delete per object (see below).

**Storage.** Files are listed, moved and deleted through `pyarrow.fs` (local, S3, GCS, HDFS
from the URI), not through Hadoop's FileSystem in the Spark JVM: the DuckDB ingestion writer
runs where no Spark session exists, and `pyarrow.fs` needs none. Spark writes its aside folder
through its own Hadoop file system (`s3://` is given to Spark as `s3a://`). Object storage has
no rename: a move is copy-then-delete of each object, so a publish on S3 takes time
proportional to the bytes, a reader can see a month half-moved, and only recovery (not
atomicity) guarantees the end state. On such a lake set Spark's S3A committer
(`spark.hadoop.fs.s3a.committer.name=magic` or `directory`,
`spark.sql.sources.commitProtocolClass=org.apache.spark.internal.io.cloud.PathOutputCommitProtocol`,
`spark.sql.parquet.output.committer.class=org.apache.spark.internal.io.cloud.BindingParquetOutputCommitter`)
so the aside write itself does not rename, and serialise writers of a table (one writer per
table at a time: the per-table Dagster pools); what remains guaranteed: the previous data of
every month is readable again, or replaced by the audited new data, after `recover(table)`.

**Types.** Timestamps are stored as UTC wall time without a time zone (Parquet
`isAdjustedToUTC=false`, DuckDB `TIMESTAMP`, Spark `TIMESTAMP_NTZ`): Spark 4 reads such a
column as `TIMESTAMP_NTZ` whatever the session time zone, and DuckDB reads it as `TIMESTAMP`,
so a value is identical in both. Spark `TIMESTAMP` (with local time zone) and DuckDB
`TIMESTAMPTZ` columns are converted to UTC wall time on write (Spark needs a UTC session time
zone for that). DOUBLE money columns are stored as Parquet DOUBLE, bit for bit.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import socket
import tempfile
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from shop_pipeline.engine.layout import MONTH_COLUMN, TableLayout, layout, month_key

WAP = "_wap"  # aside folders and journals, under the table folder
TRASH = "_trash"  # what a publish replaced, until the write finishes
STAGING = "staging"  # journal states
PUBLISHING = "publishing"
_ROOT = ""  # the unit name of an unpartitioned table's top-level files
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class AuditFailed(Exception):
    """The audit refused the staged data: nothing was published."""


def _checkpoint(point: str) -> None:
    """A named point of the write protocol; tests replace this to crash there (no-op otherwise)."""


# --- where things are ------------------------------------------------------------------------


@dataclass(frozen=True)
class LakeTable:
    """One table on the lake: its layout and where its folder is."""

    lake: str  # the lake URI, e.g. file:///data/lake or s3://bucket/lake
    layout: TableLayout

    @property
    def location(self) -> str:
        """The table folder's URI."""
        return self.layout.location(self.lake)

    @property
    def partitioned(self) -> bool:
        return self.layout.partition_column is not None

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """The pyarrow file system and the table folder's path in it."""
        return _filesystem(self.location)


def lake_table(lake: str, table: str) -> LakeTable:
    """The lake table `table` ("schema.name") under the lake URI `lake`."""
    return LakeTable(lake, layout(table))


def _filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" not in uri:  # a plain local path
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":  # percent-decoded: file:///data/my%20lake is "/data/my lake"
        return pafs.LocalFileSystem(), urllib.parse.unquote(parsed.path)
    if parsed.scheme == "s3a":
        uri = "s3://" + uri.removeprefix("s3a://")
    return pafs.FileSystem.from_uri(uri)


def spark_uri(uri: str) -> str:
    """The URI Spark's Hadoop file systems take for a lake URI: `s3://` is `s3a://` there, and a
    local path is given decoded (Hadoop quotes it itself)."""
    if uri.startswith("s3://"):
        return "s3a://" + uri.removeprefix("s3://")
    if "://" not in uri or uri.startswith("file:"):
        return "file://" + _filesystem(uri)[1]
    return uri


def _is_local(fs: pafs.FileSystem) -> bool:
    return isinstance(fs, pafs.LocalFileSystem)


def _renames(fs: pafs.FileSystem) -> bool:
    """Whether a folder moves with one atomic rename (local; HDFS through Spark would too, but
    pyarrow's HDFS move is not relied on). Elsewhere every file is moved on its own."""
    return _is_local(fs)


def _duckdb_writes_to(fs: pafs.FileSystem) -> bool:
    """Whether DuckDB's COPY writes straight into the aside folder (else a local temporary
    folder, copied there by pyarrow.fs)."""
    return _is_local(fs)


# --- SQL text for DuckDB ---------------------------------------------------------------------


def sql_string(text: str) -> str:
    """`text` as a SQL string literal: single quotes doubled. For the places DuckDB takes no
    parameter (a COPY target); a NUL character, which no path holds, is refused."""
    if "\x00" in text:
        raise ValueError("a SQL string cannot hold a NUL character")
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """`name` as a quoted SQL identifier: double quotes doubled."""
    if "\x00" in name:
        raise ValueError("a SQL identifier cannot hold a NUL character")
    return '"' + name.replace('"', '""') + '"'


_GLOB = re.compile(r"([\[\]*?])")


def _glob_escaped(path: str) -> str:
    """A path DuckDB's readers take literally: they expand [ ] * ? in any path."""
    return _GLOB.sub(r"[\1]", path)


def reader_glob(location: str, partitioned: bool) -> str:
    """The glob that reads a table folder (local path) and never a file under `_wap`/`_trash`:
    DuckDB's `**` does not skip `_`-prefixed folders."""
    base = _glob_escaped(location.rstrip("/"))
    return f"{base}/{MONTH_COLUMN}=*/*.parquet" if partitioned else f"{base}/*.parquet"


def duckdb_source(table: LakeTable) -> str:
    """SQL reading the table in DuckDB (a local lake): `read_parquet(<glob>, hive_partitioning = true)`.
    Monthly tables get their `event_month` column as VARCHAR ('2026-01')."""
    fs, path = table.filesystem()
    if not _is_local(fs):
        raise ValueError(f"DuckDB reads a local lake here, not {table.location}")
    glob = reader_glob(path, table.partitioned)
    hive = "true" if table.partitioned else "false"
    return f"read_parquet({sql_string(glob)}, hive_partitioning = {hive})"


# --- the journal -----------------------------------------------------------------------------


@dataclass
class _Journal:
    write_id: str
    table: str
    state: str
    months: list[str] | None  # the months the write replaces; None: the whole (unpartitioned) table
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    started: float | None = None  # the writer process's start time (None where unknown)
    units: dict[str, list[str]] = field(default_factory=dict)  # unit -> its new files (relative)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True, indent=1)


def _process_start(pid: int) -> float | None:
    """A process's start time (Linux /proc), to tell a live writer from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return float(stat.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _writer_alive(journal: _Journal) -> bool:
    """Whether the process that wrote `journal` may still be running (always True on another host)."""
    if journal.host != socket.gethostname():
        return True
    if journal.pid == os.getpid():
        return False  # this process is not writing it now: a write of this process that failed
    try:
        os.kill(journal.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return journal.started is None or _process_start(journal.pid) == journal.started


def _paths(table: LakeTable, write_id: str) -> tuple[pafs.FileSystem, str, str, str, str]:
    fs, base = table.filesystem()
    return fs, base, f"{base}/{WAP}/{write_id}", f"{base}/{TRASH}/{write_id}", f"{base}/{WAP}/{write_id}.json"


def _save_journal(fs: pafs.FileSystem, path: str, journal: _Journal) -> None:
    """Write the journal whole or not at all: a temporary file, then a move over the old one."""
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    temporary = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
    with fs.open_output_stream(temporary) as out:
        out.write(journal.to_json().encode())
    fs.move(temporary, path)


def _journals(table: LakeTable) -> list[_Journal]:
    fs, base = table.filesystem()
    selector = pafs.FileSelector(f"{base}/{WAP}", allow_not_found=True)
    journals = []
    for info in sorted(fs.get_file_info(selector), key=lambda i: i.path):
        if info.type == pafs.FileType.File and info.base_name.endswith(".json"):
            with fs.open_input_stream(info.path) as stream:
                journals.append(_Journal(**json.loads(stream.read())))
    return journals


# --- moving files ----------------------------------------------------------------------------


def _exists(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def _files(fs: pafs.FileSystem, folder: str, top_level: bool) -> list[str]:
    """Files under `folder`, relative to it. Top level only: the data files of an unpartitioned
    table or aside folder (not `_wap`, `_trash`, Spark's `_SUCCESS` and its checksum)."""
    selector = pafs.FileSelector(folder, recursive=not top_level, allow_not_found=True)
    found = []
    for info in fs.get_file_info(selector):
        if info.type != pafs.FileType.File:
            continue
        relative = info.path[len(folder) :].lstrip("/")
        if top_level and relative.startswith(("_", "._")):
            continue
        found.append(relative)
    return sorted(found)


def _move(fs: pafs.FileSystem, source: str, target: str) -> None:
    fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
    fs.move(source, target)


def _delete_dir(fs: pafs.FileSystem, path: str) -> None:
    if _exists(fs, path):
        fs.delete_dir(path)


def _delete_if_empty(fs: pafs.FileSystem, path: str) -> None:
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.Directory and not fs.get_file_info(pafs.FileSelector(path)):
        fs.delete_dir(path)


def _swap_unit(table: LakeTable, write_id: str, unit: str, new: list[str]) -> None:
    """Publish one unit (a month folder, or `_ROOT`: the table's top-level files): what is in
    place and not one of the write's `new` files goes to the trash, then the new files come in.
    Safe to repeat after a crash at any point. A whole month folder moves with one rename
    where the file system has renames (local)."""
    fs, base, aside, trash, _ = _paths(table, write_id)
    folder = unit != _ROOT
    place, staged, trashed = (f"{p}/{unit}" if folder else p for p in (base, aside, trash))
    new_files = set(new)
    old = [f for f in _files(fs, place, top_level=not folder) if f not in new_files]
    clean_start = old and len(old) == len(_files(fs, place, top_level=not folder))
    if folder and _renames(fs) and clean_start and not _exists(fs, trashed):
        _move(fs, place, trashed)  # one atomic rename
    else:
        for name in old:
            _move(fs, f"{place}/{name}", f"{trashed}/{name}")
        if folder:
            _delete_if_empty(fs, place)
    _checkpoint("between_swap_renames")
    remaining = _files(fs, staged, top_level=not folder)
    if folder and _renames(fs) and remaining and not _exists(fs, place):
        _move(fs, staged, place)  # one atomic rename
    else:
        for name in remaining:
            _move(fs, f"{staged}/{name}", f"{place}/{name}")


def _finish(table: LakeTable, write_id: str) -> None:
    """Delete what a published (or rolled back) write leaves: its trash, aside folder and journal."""
    fs, base, aside, trash, journal = _paths(table, write_id)
    _delete_dir(fs, trash)
    _checkpoint("trash_deleted")
    _delete_dir(fs, aside)
    if _exists(fs, journal):
        fs.delete_file(journal)
    for folder in (f"{base}/{TRASH}", f"{base}/{WAP}"):
        _delete_if_empty(fs, folder)


def _publish(table: LakeTable, journal: _Journal) -> None:
    for unit, new in sorted(journal.units.items()):
        _swap_unit(table, journal.write_id, unit, new)
        _checkpoint("unit_published")
    _finish(table, journal.write_id)


def recover(table: LakeTable, *, only_dead_writers: bool = True) -> list[str]:
    """Finish or roll back every interrupted write of `table`; returns the write ids handled.

    A write still staging is rolled back (the published data was never touched); a write that
    was publishing is rolled forward (its data passed the audit). By default only writes whose
    process is known to be gone (same host, pid no longer running) are touched, so a reader
    opening the table never disturbs a live writer; `write_partitions` passes
    `only_dead_writers=False`: one writer per table at a time is the rule (the per-table pools),
    so any journal it finds was left by a writer that is gone, wherever it ran."""
    handled = []
    for journal in _journals(table):
        if only_dead_writers and _writer_alive(journal):
            continue
        if journal.state == PUBLISHING:
            _publish(table, journal)
        else:
            _finish(table, journal.write_id)
        handled.append(journal.write_id)
    if not only_dead_writers:  # a journal a killed writer was saving: no write of it went further
        fs, base = table.filesystem()
        for info in fs.get_file_info(pafs.FileSelector(f"{base}/{WAP}", allow_not_found=True)):
            if info.type == pafs.FileType.File and info.base_name.endswith(".tmp"):
                fs.delete_file(info.path)
        _delete_if_empty(fs, f"{base}/{WAP}")
    return handled


# --- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StagedWrite:
    """What a write put aside, for its audit to read back."""

    table: LakeTable
    write_id: str
    location: str  # URI of the aside folder (Hive layout below it)
    months: tuple[str, ...]  # the months that have rows (empty for an unpartitioned table)

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        return _filesystem(self.location)

    def dataset(self) -> pads.Dataset:
        """The staged rows as a pyarrow dataset (read lazily), with `event_month` for monthly tables."""
        fs, path = self.filesystem()
        if self.table.partitioned:
            partitioning = pads.partitioning(pa.schema([(MONTH_COLUMN, pa.string())]), flavor="hive")
            return pads.dataset(path, filesystem=fs, format="parquet", partitioning=partitioning)
        files = [f"{path}/{name}" for name in _files(fs, path, top_level=True) if name.endswith(".parquet")]
        return pads.dataset(files, filesystem=fs, format="parquet")

    def duckdb_source(self) -> str:
        """SQL reading the staged rows in DuckDB (a local lake)."""
        fs, path = self.filesystem()
        if not _is_local(fs):
            raise ValueError("DuckDB reads a local aside folder here; use dataset() on object storage")
        glob = reader_glob(path, self.table.partitioned)
        return f"read_parquet({sql_string(glob)}, hive_partitioning = {'true' if self.table.partitioned else 'false'})"

    def spark_frame(self, spark: Any) -> Any:
        """The staged rows as a Spark DataFrame."""
        return spark.read.parquet(spark_uri(self.location))


@dataclass(frozen=True)
class WriteResult:
    write_id: str
    months: tuple[str, ...]  # the months replaced (with rows or emptied); () for an unpartitioned table
    files: int  # data files published
    recovered: tuple[str, ...]  # interrupted writes finished or rolled back first


Audit = Callable[[StagedWrite], object]


def normalise_months(months: Iterable[str | dt.date] | None) -> list[str] | None:
    """Months as partition values ('2026-01'); Dagster's month keys ('2026-01-01') and dates are taken."""
    if months is None:
        return None
    keys = set()
    for month in months:
        key = month_key(month) if isinstance(month, dt.date) else str(month)[:7]
        if not _MONTH.match(key) or (isinstance(month, str) and len(month) not in (7, 10)):
            raise ValueError(f"not a month: {month!r} (expected 'YYYY-MM' or 'YYYY-MM-DD')")
        keys.add(key)
    return sorted(keys)


def _new_write_id() -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"


def _write(
    table: LakeTable,
    months: Iterable[str | dt.date] | None,
    audit: Audit | None,
    stage: Callable[[str, str], None],
) -> WriteResult:
    """The protocol around `stage(aside_uri, write_id)`, which writes the rows aside."""
    wanted = normalise_months(months)
    if not table.partitioned and wanted is not None:
        raise ValueError(f"{table.layout.table} is not partitioned: write it whole, without months")
    recovered = recover(table, only_dead_writers=False)
    write_id = _new_write_id()
    fs, _, aside, _, journal_path = _paths(table, write_id)
    journal = _Journal(write_id, table.layout.table, STAGING, wanted, started=_process_start(os.getpid()))
    _save_journal(fs, journal_path, journal)
    aside_uri = f"{table.location}/{WAP}/{write_id}"
    try:
        stage(aside_uri, write_id)
        _checkpoint("staged")
        units = _staged_units(fs, aside, table.partitioned)
        written = sorted(u.removeprefix(f"{MONTH_COLUMN}=") for u in units if u != _ROOT)
        if wanted is not None and not set(written) <= set(wanted):
            extra = ", ".join(sorted(set(written) - set(wanted)))
            raise AuditFailed(f"{table.layout.table}: rows of months the write does not replace: {extra}")
        staged = StagedWrite(table, write_id, aside_uri, tuple(written))
        if audit is not None and audit(staged) is False:
            raise AuditFailed(f"{table.layout.table}: the audit refused write {write_id}")
    except Exception:
        _finish(table, write_id)  # nothing was published: drop the aside folder and the journal
        raise
    _checkpoint("audited")
    replaced = sorted(set(written) | set(wanted or ()))
    if table.partitioned:
        journal.units = {f"{MONTH_COLUMN}={m}": units.get(f"{MONTH_COLUMN}={m}", []) for m in replaced}
    else:
        journal.units = {_ROOT: units.get(_ROOT, [])}
    journal.state = PUBLISHING
    _save_journal(fs, journal_path, journal)
    _checkpoint("journal_publishing")
    _publish(table, journal)
    files = sum(1 for new in journal.units.values() for name in new if name.endswith(".parquet"))
    return WriteResult(write_id, tuple(replaced), files, tuple(recovered))


def _staged_units(fs: pafs.FileSystem, aside: str, partitioned: bool) -> dict[str, list[str]]:
    """The aside folder's units and their files: month folders, or the top-level files."""
    if not partitioned:
        return {_ROOT: _files(fs, aside, top_level=True)}
    units: dict[str, list[str]] = {}
    for relative in _files(fs, aside, top_level=False):
        unit, _, name = relative.partition("/")
        if unit.startswith(("_", ".")) and not name:
            continue  # _SUCCESS and its checksum
        if not unit.startswith(f"{MONTH_COLUMN}=") or not name:
            raise AuditFailed(f"unexpected file in the aside folder: {relative}")
        units.setdefault(unit, []).append(name)
    return units


def write_partitions(
    data: Any,
    table: LakeTable,
    *,
    months: Iterable[str | dt.date] | None = None,
    audit: Audit | None = None,
) -> WriteResult:
    """Write `data` (a Spark DataFrame, a pyarrow Table or a pandas DataFrame) to `table` with
    write-audit-publish, replacing the given `months` of a monthly table (default: the months
    the rows hold; a named month without rows is emptied) or the whole unpartitioned table.

    A monthly table's rows carry its `month_of` DATE column; `event_month` is derived from it
    (and must not be in `data`). `audit(staged)` reads the staged rows back and refuses them
    by raising or returning False (`AuditFailed`): then nothing is published."""
    if type(data).__module__.startswith("pyspark"):
        stage = _spark_stager(data, table)
    else:
        stage = _arrow_stager(_as_arrow(data), table)
    return _write(table, months, audit, stage)


def _spark_stager(frame: Any, table: LakeTable) -> Callable[[str, str], None]:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    zone = frame.sparkSession.conf.get("spark.sql.session.timeZone")
    columns = []
    for column in frame.schema.fields:
        if column.name == MONTH_COLUMN:
            raise ValueError(f"{MONTH_COLUMN} is derived from {table.layout.month_of}; drop it from the rows")
        if isinstance(column.dataType, T.TimestampType):
            if zone not in ("UTC", "Etc/UTC", "+00:00", "Z"):
                raise ValueError(f"the Spark session time zone must be UTC to store {column.name} (is {zone})")
            columns.append(F.col(column.name).cast(T.TimestampNTZType()).alias(column.name))
        else:
            columns.append(F.col(column.name))
    if table.partitioned:
        columns.append(F.date_format(F.col(table.layout.month_of), "yyyy-MM").alias(MONTH_COLUMN))
    frame = frame.select(*columns)

    def stage(aside_uri: str, write_id: str) -> None:
        writer = frame.write.mode("errorifexists")
        if table.partitioned:
            writer = writer.partitionBy(MONTH_COLUMN)
        writer.parquet(spark_uri(aside_uri))

    return stage


def _as_arrow(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if type(data).__module__.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    raise TypeError(f"cannot write a {type(data).__name__} to the lake")


def _utc_wall_time(table: pa.Table) -> pa.Table:
    """Timestamps as UTC wall time in microseconds, without a time zone (what DuckDB and Spark
    read identically); a finer value that would lose digits raises."""
    for index, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type) and (column.type.tz is not None or column.type.unit == "ns"):
            wall = table.column(index).cast(pa.timestamp("us"), safe=True)
            table = table.set_column(index, pa.field(column.name, pa.timestamp("us")), wall)
    return table


def _arrow_stager(rows: pa.Table, table: LakeTable) -> Callable[[str, str], None]:
    if MONTH_COLUMN in rows.column_names:
        raise ValueError(f"{MONTH_COLUMN} is derived from {table.layout.month_of}; drop it from the rows")
    rows = _utc_wall_time(rows)
    if table.partitioned:
        day = rows.column(table.layout.month_of)
        month = pc.strftime(day.cast(pa.timestamp("s")) if pa.types.is_date(day.type) else day, format="%Y-%m")
        rows = rows.append_column(MONTH_COLUMN, month)

    def stage(aside_uri: str, write_id: str) -> None:
        fs, path = _filesystem(aside_uri)
        if not table.partitioned:  # one file, written even without rows: the schema stays readable
            fs.create_dir(path, recursive=True)
            pq.write_table(rows, f"{path}/part-{write_id}-0.parquet", filesystem=fs, coerce_timestamps="us")
            return
        pads.write_dataset(
            rows,
            path,
            filesystem=fs,
            format="parquet",
            partitioning=pads.partitioning(pa.schema([(MONTH_COLUMN, pa.string())]), flavor="hive"),
            basename_template=f"part-{write_id}-{{i}}.parquet",
            existing_data_behavior="error",
            file_options=pads.ParquetFileFormat().make_write_options(coerce_timestamps="us"),
        )

    return stage


def write_partitions_from_duckdb(
    con: Any,
    query: Any,
    table: LakeTable,
    *,
    months: Iterable[str | dt.date] | None = None,
    audit: Audit | None = None,
    parameters: Any = None,
) -> WriteResult:
    """Write the rows of a DuckDB `query` (SQL text, with optional `parameters`, or a relation)
    to `table` with the same write-audit-publish as `write_partitions`, by DuckDB's own
    `COPY ... TO ... (FORMAT parquet, PARTITION_BY (event_month))` into the aside folder.
    On object storage DuckDB writes to a local temporary folder, copied aside by pyarrow.fs."""
    view = f"lake_rows_{uuid.uuid4().hex[:12]}"
    if isinstance(query, str):
        source = f"({query})"
    else:  # a DuckDBPyRelation
        query.create_view(view, replace=True)
        source = sql_identifier(view)

    def stage(aside_uri: str, write_id: str) -> None:
        described = con.execute(f"DESCRIBE SELECT * FROM {source} AS q", parameters).fetchall()
        names = [row[0] for row in described]
        if MONTH_COLUMN in names:
            raise ValueError(f"{MONTH_COLUMN} is derived from {table.layout.month_of}; drop it from the rows")
        selected = [
            f"timezone('UTC', {sql_identifier(name)}) AS {sql_identifier(name)}"
            if kind.upper().startswith("TIMESTAMP WITH TIME ZONE")
            else sql_identifier(name)
            for name, kind, *_ in described
        ]
        options = f"FORMAT parquet, FILENAME_PATTERN {sql_string(f'part-{write_id}-{{i}}')}"
        if table.partitioned:
            month = f"strftime({sql_identifier(table.layout.month_of)}, '%Y-%m') AS {MONTH_COLUMN}"
            selected.append(month)
            options += f", PARTITION_BY ({MONTH_COLUMN})"
        fs, path = _filesystem(aside_uri)
        local = _duckdb_writes_to(fs)
        target = path if local else tempfile.mkdtemp(prefix="lake-")
        try:
            if not table.partitioned:
                os.makedirs(target, exist_ok=True)
                target_sql = sql_string(f"{target}/part-{write_id}-0.parquet")
                options = "FORMAT parquet"
            else:
                target_sql = sql_string(target)
            copy = f"COPY (SELECT {', '.join(selected)} FROM {source} AS q) TO {target_sql} ({options})"
            con.execute(copy, parameters)
            if not local:
                fs.create_dir(path, recursive=True)
                pafs.copy_files(target, path, destination_filesystem=fs)
        finally:
            if not local:
                shutil.rmtree(target, ignore_errors=True)

    try:
        return _write(table, months, audit, stage)
    finally:
        if not isinstance(query, str):
            con.execute(f"DROP VIEW IF EXISTS {sql_identifier(view)}")
