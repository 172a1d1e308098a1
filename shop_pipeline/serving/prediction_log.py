"""What the API answered: one JSON line per order-risk and demand request, and its ingestion.

The server appends to <shop home>/serving/logs/predictions-<UTC start>-<pid>.jsonl and starts a
new file when one reaches MAX_FILE_BYTES (so a file is never renamed while a reader may hold
it, and several server processes never share one). Each line is written and flushed whole;
a line cut short by a crash is skipped by the ingestion, which reads every file and adds the
lines whose request_id the table does not hold yet (exactly once, in one transaction).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from shop_pipeline.sql import ddl
from shop_pipeline.warehouse.connection import transaction

MAX_FILE_BYTES = 64 * 1024 * 1024
LOG_GLOB = "predictions-*.jsonl"

ONLINE_PREDICTIONS_TABLE = "monitoring.online_predictions"  # DDL: sql/tables/monitoring.online_predictions.sql

_INGEST = """
INSERT INTO monitoring.online_predictions
SELECT l.request_id, CAST(l.logged_at AS TIMESTAMP), l.endpoint, l.model_version, l.snapshot_id,
       CAST(l.request AS JSON), CAST(l.response AS JSON), parse_filename(l.filename), CAST($now AS TIMESTAMP)
FROM read_json($files, format = 'newline_delimited', ignore_errors = true, filename = true,
               columns = {request_id: 'VARCHAR', logged_at: 'VARCHAR', endpoint: 'VARCHAR', model_version: 'VARCHAR',
                          snapshot_id: 'VARCHAR', request: 'JSON', response: 'JSON'}) AS l
WHERE l.request_id IS NOT NULL AND l.logged_at IS NOT NULL AND l.endpoint IS NOT NULL
  AND l.model_version IS NOT NULL AND l.snapshot_id IS NOT NULL AND l.request IS NOT NULL AND l.response IS NOT NULL
  AND l.request_id NOT IN (SELECT request_id FROM monitoring.online_predictions)
QUALIFY row_number() OVER (PARTITION BY l.request_id ORDER BY l.logged_at) = 1
"""


class PredictionLog:
    """Thread-safe appender of JSON lines, one file per server process and size step."""

    def __init__(self, folder: str | os.PathLike, max_file_bytes: int = MAX_FILE_BYTES):
        self.folder = Path(folder)
        self.max_file_bytes = max_file_bytes
        self._lock = threading.Lock()
        self._handle = None
        self._written = 0

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"predictions-{stamp}-{os.getpid()}.jsonl"
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open across requests, closed by close()
        self._written = 0

    def append(self, endpoint: str, model_version: str, snapshot_id: str, request: dict, response: dict) -> str:
        request_id = uuid.uuid4().hex
        line = (
            json.dumps(
                {
                    "request_id": request_id,
                    "endpoint": endpoint,
                    "model_version": model_version,
                    "snapshot_id": snapshot_id,
                    "logged_at": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(),
                    "request": request,
                    "response": response,
                },
                separators=(",", ":"),
            )
            + "\n"
        )
        with self._lock:
            if self._handle is None or self._written >= self.max_file_bytes:
                if self._handle is not None:
                    self._handle.close()
                self._open()
            self._handle.write(line)
            self._handle.flush()
            self._written += len(line)
        return request_id

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


def ingest_prediction_logs(
    con: duckdb.DuckDBPyConnection, folder: str | os.PathLike, now: dt.datetime | None = None
) -> int:
    """Add the logged answers not in monitoring.online_predictions yet; how many were added."""
    ddl.create(con, ONLINE_PREDICTIONS_TABLE)
    from shop_pipeline.sources.native import glob_escaped

    files = sorted(glob_escaped(p) for p in Path(folder).glob(LOG_GLOB) if p.stat().st_size > 0)
    if not files:
        return 0
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with transaction(con):
        return con.execute(_INGEST, {"files": files, "now": now}).fetchone()[0]  # INSERT's own count


@dataclass(frozen=True)
class LoggedAnswers:
    """What monitoring.online_predictions holds after an ingestion (the asset's metadata)."""

    added: int
    total: int
    first_logged_at: dt.datetime | None
    last_logged_at: dt.datetime | None
    by_endpoint: dict[str, int]


def logged_answers(con: duckdb.DuckDBPyConnection, added: int) -> LoggedAnswers:
    total, first, last = con.execute(
        f"SELECT count(*), min(logged_at), max(logged_at) FROM {ONLINE_PREDICTIONS_TABLE}"
    ).fetchone()
    by_endpoint = con.execute(f"SELECT endpoint, count(*) FROM {ONLINE_PREDICTIONS_TABLE} GROUP BY 1 ORDER BY 1")
    return LoggedAnswers(added, total, first, last, dict(by_endpoint.fetchall()))


def ingest_prediction_logs_to_lake(
    lake_uri: str, folder: str | os.PathLike, now: dt.datetime | None = None
) -> LoggedAnswers:
    """ingest_prediction_logs into the lake's `<lake>/monitoring/online_predictions/` (Spark mode): the
    published rows are read into an in-memory table, the new lines added by the same statement, and the
    table is swapped whole with the lake's write-audit-publish only when a line was added (a killed run
    leaves the previous table; the next run adds the same lines again, exactly once by request id)."""
    from shop_pipeline.engine import lake
    from shop_pipeline.engine.lake_views import attach_lake
    from shop_pipeline.sql.session import prepare_session

    with duckdb.connect() as con:
        prepare_session(con)
        if attach_lake(con, lake_uri, [ONLINE_PREDICTIONS_TABLE]):
            con.execute(f"CREATE TEMP TABLE published AS SELECT * FROM {ONLINE_PREDICTIONS_TABLE}")
            con.execute(f"DROP VIEW {ONLINE_PREDICTIONS_TABLE}")
            ddl.create(con, ONLINE_PREDICTIONS_TABLE)
            con.execute(f"INSERT INTO {ONLINE_PREDICTIONS_TABLE} BY NAME SELECT * FROM published")
        added = ingest_prediction_logs(con, folder, now)
        if added:
            lake.write_partitions_from_duckdb(
                con, f"SELECT * FROM {ONLINE_PREDICTIONS_TABLE}", lake.lake_table(lake_uri, ONLINE_PREDICTIONS_TABLE)
            )
        return logged_answers(con, added)
