"""Failure alerts as a JSON POST to a webhook (no Dagster, no warehouse).

Dagster records every failed run; the run-failure sensor (defs/automation.py) turns one into
an `Alert` and posts it to the configured webhook. Alerts never touch DuckDB, so a run holding
the single-writer lock cannot delay or lose one. A webhook that fails raises WebhookError for
the sensor to log; its URL (which carries a token) is only ever shown as scheme://host/….
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

WEBHOOK_ENV = "SHOP_PIPELINE_ALERT_WEBHOOK"
WEBHOOK_TIMEOUT_SECONDS = 10.0


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
        return {
            "alert_id": self.alert_id,
            **asdict(self),
            "raised_at": self.raised_at.isoformat(),
            "details": json.dumps(self.details, sort_keys=True, default=str),
        }


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
