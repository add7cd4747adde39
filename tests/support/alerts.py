"""What the alert tests share: an HTTP receiver that records requests and can
fail on cue, a sample alert, an Alerter that records its
waits instead of sleeping, and a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.smtp import Envelope, Session

from tillflow.monitor import (
    Alert,
    Alerter,
    Channel,
    Severity,
)

SLACK_PATH = "/services/T0001/B0001/slackSECRETtoken42"
MESSAGE = "orders loaded 12 rows; about 480 were expected"
CREATED = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc)


def make_alert(severity: str = "warning", key: str = "shop:anomaly:volume:orders") -> Alert:
    return Alert(
        key=key,
        title="Orders volume dropped",
        message="orders loaded 12 rows; about 480 were expected",
        severity=Severity(severity),
        pipeline="shop",
        run_id="run-42",
        details={"table": "orders", "rows": 12, "expected": 480.0},
        created_at=CREATED,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fast(channels: list[Channel], **kwargs: Any) -> tuple[Alerter, list[float]]:
    """An Alerter that records its waits instead of sleeping."""
    waits: list[float] = []
    kwargs.setdefault("backoff", 0.01)
    return Alerter(channels, sleep=waits.append, **kwargs), waits


class Mailbox:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def expected_body(severity: str) -> str:
    return (
        "orders loaded 12 rows; about 480 were expected\n"
        "\n"
        f"Severity: {severity}\n"
        "Pipeline: shop\n"
        "Run: run-42\n"
        "Alert key: shop:anomaly:volume:orders\n"
        "Time: 2024-05-01T12:30:00+00:00\n"
        "\n"
        "Details:\n"
        "  table: orders\n"
        "  rows: 12\n"
        "  expected: 480.0\n"
    )


SMTP_PASSWORD = "smtpPASSWORDsecret99"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every POST and answers
    with the queued replies in turn, then with ``default``."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.replies: list[Reply] = []
        self.default = Reply()
        self.stopping = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(Request(self.path, dict(self.headers.items()), body))
                reply = receiver.replies.pop(0) if receiver.replies else receiver.default
                if reply.delay and receiver.stopping.wait(reply.delay):
                    return
                payload = reply.body.encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    @property
    def origin(self) -> str:
        return self.url("")


class SlackReceiver:
    """An incoming-webhook endpoint that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0/hook-token-7f3a"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def titles(self) -> list[str]:
        return [m["attachments"][0]["title"] for m in self.received]

    def colours(self) -> list[str]:
        return [m["attachments"][0]["color"] for m in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
