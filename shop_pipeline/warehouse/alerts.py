"""Alerts about failed runs: the ml.alerts table, a JSONL fallback, an optional webhook (no Dagster).

Where an alert goes (`record_alert`):
1. ml.alerts in the warehouse, in one transaction, when the DuckDB file can be opened;
2. otherwise (another process holds DuckDB's single-writer lock: a run is writing) a line in
   $SHOP_PIPELINE_HOME/alerts/pending.jsonl, so that the alert is never lost and the sensor
   never waits or retries on the lock (STYLE.md trap 1).
The next alert that reaches the table moves every pending line into ml.alerts in the same
transaction and then deletes the file; alert_id is the primary key and inserts skip known
ids, so a crash between commit and delete cannot duplicate an alert.

The webhook (`post_webhook`, configured with $SHOP_PIPELINE_ALERT_WEBHOOK, off when unset)
receives the alert as a JSON POST with a timeout; a failure raises WebhookError for the
caller to log: an unreachable webhook must not stop the alert from being recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from shop_pipeline.warehouse.connection import connect, transaction

WEBHOOK_ENV = "SHOP_PIPELINE_ALERT_WEBHOOK"
PENDING_FILE = "pending.jsonl"
WEBHOOK_TIMEOUT_SECONDS = 10.0

ALERTS_DDL = """
CREATE SCHEMA IF NOT EXISTS ml;
CREATE TABLE IF NOT EXISTS ml.alerts (
    alert_id   VARCHAR   NOT NULL PRIMARY KEY,  -- <kind>:<run id>: one alert per run and kind
    raised_at  TIMESTAMP NOT NULL,              -- UTC
    kind       VARCHAR   NOT NULL,              -- run_failure
    run_id     VARCHAR,
    job_name   VARCHAR,
    message    VARCHAR   NOT NULL,
    details    JSON      NOT NULL               -- failed steps, partition, tags
);
"""
_COLUMNS = ("alert_id", "raised_at", "kind", "run_id", "job_name", "message", "details")
_INSERT = (
    f"INSERT OR IGNORE INTO ml.alerts ({', '.join(_COLUMNS)}) "
    "VALUES ($alert_id, $raised_at, $kind, $run_id, $job_name, $message, $details)"
)


class WebhookError(RuntimeError):
    """The webhook did not accept the alert (unreachable, timeout, or a non-2xx status)."""


@dataclass(frozen=True)
class Alert:
    kind: str
    message: str
    run_id: str | None = None
    job_name: str | None = None
    raised_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def alert_id(self) -> str:
        return f"{self.kind}:{self.run_id or self.raised_at.isoformat()}"

    def to_record(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, **asdict(self), "raised_at": self.raised_at.isoformat(),
                "details": json.dumps(self.details, sort_keys=True, default=str)}


def is_lock_error(error: BaseException) -> bool:
    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


def _pending_path(alerts_dir: Path) -> Path:
    return Path(alerts_dir) / PENDING_FILE


def read_pending(alerts_dir: Path) -> list[dict[str, Any]]:
    path = _pending_path(alerts_dir)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _append_pending(alerts_dir: Path, record: dict[str, Any]) -> Path:
    path = _pending_path(alerts_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return path


def record_alert(warehouse_path: Path, alerts_dir: Path, alert: Alert) -> str:
    """Store `alert`; returns "table" or "pending" (the JSONL fallback). See the module docstring."""
    record = alert.to_record()
    try:
        with connect(warehouse_path) as con:
            pending = read_pending(alerts_dir)
            with transaction(con):
                con.execute(ALERTS_DDL)
                for row in [*pending, record]:
                    con.execute(_INSERT, {**row, "raised_at": dt.datetime.fromisoformat(row["raised_at"])})
            _pending_path(alerts_dir).unlink(missing_ok=True)
        return "table"
    except duckdb.IOException as error:
        if not is_lock_error(error):
            raise
        _append_pending(alerts_dir, record)
        return "pending"


def alerts(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every alert in ml.alerts, oldest first (empty when the table does not exist yet)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ml' AND table_name = 'alerts'"
    ).fetchone()[0]
    if not exists:
        return []
    rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM ml.alerts ORDER BY raised_at, alert_id").fetchall()
    return [dict(zip(_COLUMNS, row, strict=True)) for row in rows]


def webhook_url() -> str | None:
    return os.environ.get(WEBHOOK_ENV, "").strip() or None


def redacted(url: str) -> str:
    """scheme://host[:port]/… : webhook URLs carry their token in the path or query, never log those."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…" if parts.scheme else "(not a URL)"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is answered with an error: the alert (and any token) stays put."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise WebhookError(f"webhook {redacted(req.full_url)} redirected ({code}) to {redacted(newurl)}: not followed")


_OPENER = urllib.request.build_opener(_NoRedirects)


def post_webhook(url: str, payload: dict[str, Any], timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> int:
    """POST `payload` as JSON; returns the HTTP status. Only http(s) URLs; redirects are not followed.

    Errors name the webhook by scheme and host only (`redacted`).
    """
    if not url.lower().startswith(("http://", "https://")):
        raise WebhookError(f"{WEBHOOK_ENV} must be an http(s) URL, got {redacted(url)}")
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, sort_keys=True, default=str).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "shop-pipeline-alerts"},
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        raise WebhookError(f"webhook {redacted(url)} answered {error.code} {error.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = str(getattr(error, "reason", error)).replace(url, redacted(url))
        raise WebhookError(f"webhook {redacted(url)} unreachable: {reason}") from None
