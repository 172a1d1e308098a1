"""Failure alerts: the JSON POST to a webhook, its errors, and its secrets kept out of messages."""

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from shop_pipeline import alerts


def make_alert(run_id: str, message: str = "step failed") -> alerts.Alert:
    return alerts.Alert(
        kind="run_failure",
        message=message,
        run_id=run_id,
        job_name="daily_partition_pipeline",
        raised_at=dt.datetime(2025, 3, 1, 6, 0),
        details={"failed_steps": {"raw_events": "boom"}},
    )


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list] = []
    status = 204

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Receiver.received, Receiver.status = [], 204
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", Receiver
    server.shutdown()
    server.server_close()


def test_the_webhook_receives_the_alert_as_json(webhook):
    url, receiver = webhook
    record = make_alert("r1").to_record()
    assert alerts.post_webhook(url, record, timeout=5) == 204
    [(content_type, body)] = receiver.received
    assert content_type == "application/json"
    assert body["alert_id"] == "run_failure:r1" and body["message"] == "step failed"


def test_a_failing_or_unreachable_webhook_raises_webhook_error(webhook):
    url, receiver = webhook
    receiver.status = 500
    with pytest.raises(alerts.WebhookError, match="500"):
        alerts.post_webhook(url, {"a": 1}, timeout=5)
    with pytest.raises(alerts.WebhookError, match="unreachable"):
        alerts.post_webhook("http://127.0.0.1:9/closed", {"a": 1}, timeout=2)
    with pytest.raises(alerts.WebhookError, match="http"):
        alerts.post_webhook("file:///etc/passwd", {"a": 1})


class Redirector(BaseHTTPRequestHandler):
    target = ""

    def do_POST(self):
        self.send_response(307)
        self.send_header("Location", type(self).target)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_webhook_url_is_redacted_and_a_redirect_to_another_host_is_not_followed(webhook):
    url, receiver = webhook
    # the receiver listens on 127.0.0.1; the redirect points at it under another host name
    Redirector.target = url.replace("127.0.0.1", "localhost") + "?token=leaked"
    server = HTTPServer(("127.0.0.1", 0), Redirector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        secret = f"http://127.0.0.1:{server.server_port}/services/T000/B000/s3cr3t-token"
        with pytest.raises(alerts.WebhookError, match="redirected") as raised:
            alerts.post_webhook(secret, {"a": 1}, timeout=5)
    finally:
        server.shutdown()
        server.server_close()
    assert receiver.received == []
    assert "s3cr3t" not in str(raised.value) and "leaked" not in str(raised.value)
    assert f"http://127.0.0.1:{server.server_port}/…" in str(raised.value)
    receiver.status = 500
    with pytest.raises(alerts.WebhookError) as failed:
        alerts.post_webhook(url + "?token=abc123", {"a": 1}, timeout=5)
    assert "abc123" not in str(failed.value) and "/hook" not in str(failed.value)
