"""Alert channels and the Alerter against real receivers on loopback: an HTTP
server that records requests (Slack, webhooks, PagerDuty) and can fail on
cue, and an aiosmtpd SMTP server (plain, and STARTTLS with AUTH)."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import io
import json
import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

import tillflow as tl
from tillflow.exceptions import ConfigError, TillflowError
from tillflow.monitor import (
    Alert,
    Alerter,
    Channel,
    Delivery,
    EmailChannel,
    PagerDutyChannel,
    Severity,
    SlackChannel,
    WebhookChannel,
    configure_logging,
)

MESSAGE = "orders loaded 12 rows; about 480 were expected"
CREATED = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc)
ENV_VARS = [
    "TILLFLOW_SLACK_WEBHOOK_URL",
    "TILLFLOW_WEBHOOK_URL",
    "TILLFLOW_PAGERDUTY_ROUTING_KEY",
    "TILLFLOW_SMTP_HOST",
    "TILLFLOW_SMTP_PORT",
    "TILLFLOW_SMTP_USER",
    "TILLFLOW_SMTP_PASSWORD",
    "TILLFLOW_SMTP_FROM",
    "TILLFLOW_SMTP_TO",
]


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


@pytest.fixture(autouse=True)
def no_alert_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


# --- an HTTP receiver -------------------------------------------------------------------------


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


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.stopping.set()
        r.server.shutdown()
        r.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fast(channels: list[Channel], **kwargs: Any) -> tuple[Alerter, list[float]]:
    """An Alerter that records its waits instead of sleeping."""
    waits: list[float] = []
    kwargs.setdefault("backoff", 0.01)
    return Alerter(channels, sleep=waits.append, **kwargs), waits


# --- payloads -------------------------------------------------------------------------------


SLACK_PATH = "/services/T0001/B0001/slackSECRETtoken42"


def test_slack_posts_one_attachment_coloured_by_severity(receiver: Receiver) -> None:
    SlackChannel(receiver.url(SLACK_PATH)).send(make_alert("critical"))

    [request] = receiver.requests
    assert request.path == SLACK_PATH
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == f"tillflow/{tl.__version__}"
    assert request.json() == {
        "attachments": [
            {
                "fallback": "[CRITICAL] Orders volume dropped: " + MESSAGE,
                "color": "#ff0000",
                "title": "Orders volume dropped",
                "text": "orders loaded 12 rows; about 480 were expected",
                "fields": [
                    {"title": "table", "value": "orders", "short": True},
                    {"title": "rows", "value": "12", "short": True},
                    {"title": "expected", "value": "480.0", "short": True},
                ],
                "footer": "tillflow · pipeline shop · run run-42",
                "ts": 1714566600,
            }
        ]
    }


@pytest.mark.parametrize(("severity", "color"), [("info", "#36a64f"), ("warning", "#ff9500")])
def test_slack_colours(receiver: Receiver, severity: str, color: str) -> None:
    SlackChannel(receiver.url(SLACK_PATH)).send(make_alert(severity))
    assert receiver.requests[0].json()["attachments"][0]["color"] == color


def test_webhook_posts_the_alert_fields_with_its_headers(receiver: Receiver) -> None:
    channel = WebhookChannel(
        receiver.url("/hooks/alerts"),
        headers={"Authorization": "Bearer hookBEARERtoken77", "X-Team": "data"},
    )
    channel.send(make_alert())

    [request] = receiver.requests
    assert request.path == "/hooks/alerts"
    assert request.headers["Authorization"] == "Bearer hookBEARERtoken77"
    assert request.headers["X-Team"] == "data"
    assert request.json() == {
        "key": "shop:anomaly:volume:orders",
        "title": "Orders volume dropped",
        "message": "orders loaded 12 rows; about 480 were expected",
        "severity": "warning",
        "pipeline": "shop",
        "run_id": "run-42",
        "details": {"table": "orders", "rows": 12, "expected": 480.0},
        "created_at": "2024-05-01T12:30:00+00:00",
    }


def test_pagerduty_sends_an_events_v2_trigger(receiver: Receiver) -> None:
    receiver.default = Reply(202, '{"status":"success","message":"Event processed","dedup_key":"x"}')
    channel = PagerDutyChannel("pdROUTINGkey0123456789abcdef0123", url=receiver.url("/v2/enqueue"))
    channel.send(make_alert("critical"))

    [request] = receiver.requests
    assert request.path == "/v2/enqueue"
    event = request.json()
    assert event["routing_key"] == "pdROUTINGkey0123456789abcdef0123"
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "shop:anomaly:volume:orders"
    assert event["client"] == "tillflow"
    assert event["payload"] == {
        "summary": "Orders volume dropped",
        "source": "shop",
        "severity": "critical",
        "timestamp": "2024-05-01T12:30:00+00:00",
        "custom_details": {
            "message": "orders loaded 12 rows; about 480 were expected",
            "pipeline": "shop",
            "run_id": "run-42",
            "table": "orders",
            "rows": 12,
            "expected": 480.0,
        },
    }
    assert set(event) == {"routing_key", "event_action", "dedup_key", "client", "payload"}


def test_pagerduty_keeps_within_its_documented_limits(receiver: Receiver) -> None:
    long = Alert(key="k" * 300, title="t" * 2000, message="m", severity=Severity.CRITICAL)
    PagerDutyChannel("pdROUTINGkey0123456789abcdef0123", url=receiver.url("/v2/enqueue")).send(long)
    event = receiver.requests[0].json()
    assert len(event["payload"]["summary"]) == 1024
    assert event["payload"]["summary"].endswith("…")
    assert event["dedup_key"].startswith("tillflow:")
    assert len(event["dedup_key"]) == len("tillflow:") + 64


# --- email over a real SMTP server -----------------------------------------------------------


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


@pytest.fixture
def smtp_plain() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


SMTP_PASSWORD = "smtpPASSWORDsecret99"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def smtp_tls(ca: trustme.CA) -> Iterator[tuple[Mailbox, int]]:
    """STARTTLS required, then AUTH (PLAIN or LOGIN) as ops@example.com."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)

    def authenticate(
        server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data == LoginPassword(
            b"ops@example.com", SMTP_PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)

    mailbox, port = Mailbox(), free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
        auth_required=True,
    )
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def test_email_arrives_with_exact_subject_and_body(smtp_plain: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp_plain
    channel = EmailChannel(
        "127.0.0.1", port, sender="tillflow@shop.example", to=["ops@shop.example", "cto@shop.example"]
    )
    channel.send(make_alert("critical"))

    [envelope] = mailbox.envelopes
    assert envelope.mail_from == "tillflow@shop.example"
    assert envelope.rcpt_tos == ["ops@shop.example", "cto@shop.example"]
    message = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
    assert message["Subject"] == "[tillflow] CRITICAL Orders volume dropped"
    assert message["From"] == "tillflow@shop.example"
    assert message["To"] == "ops@shop.example, cto@shop.example"
    assert message["Date"] == "Wed, 01 May 2024 12:30:00 +0000"
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == expected_body("critical").replace("\n", "\r\n")  # SMTP lines end in CRLF


def test_email_with_starttls_and_login(smtp_tls: tuple[Mailbox, int], ca: trustme.CA) -> None:
    mailbox, port = smtp_tls
    channel = EmailChannel(
        "127.0.0.1",
        port,
        sender="tillflow@shop.example",
        to=["ops@shop.example"],
        username="ops@example.com",
        password=SMTP_PASSWORD,
        starttls=True,
        ssl_context=client_context(ca),
    )
    channel.send(make_alert())

    [envelope] = mailbox.envelopes
    message = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
    assert message["Subject"] == "[tillflow] WARNING Orders volume dropped"
    assert message.get_content() == expected_body("warning").replace("\n", "\r\n")  # SMTP lines end in CRLF
    assert SMTP_PASSWORD not in repr(channel)


def test_email_wrong_password_fails_with_the_smtp_reply(
    smtp_tls: tuple[Mailbox, int], ca: trustme.CA, caplog: pytest.LogCaptureFixture
) -> None:
    mailbox, port = smtp_tls
    wrong = "wrongPASSWORDsecret11"
    channel = EmailChannel(
        "127.0.0.1",
        port,
        sender="tillflow@shop.example",
        to="ops@shop.example",
        username="ops@example.com",
        password=wrong,
        starttls=True,
        ssl_context=client_context(ca),
    )
    with pytest.raises(TillflowError) as raised:
        channel.send(make_alert())
    assert str(raised.value) == (
        f"email channel: SMTP server 127.0.0.1:{port} refused the login: "
        "535 5.7.8 Authentication credentials invalid"
    )

    caplog.set_level(logging.DEBUG, logger="tillflow")
    alerter, waits = fast([channel])
    [delivery] = alerter.send(make_alert())
    assert (delivery.status, delivery.attempts) == ("failed", 1)  # a 5xx reply is final
    assert waits == []
    assert mailbox.envelopes == []
    assert (
        wrong not in caplog.text and wrong not in str(delivery) and wrong not in str(alerter.history().rows())
    )


def test_email_without_starttls_where_required_is_refused(smtp_tls: tuple[Mailbox, int]) -> None:
    _, port = smtp_tls
    channel = EmailChannel("127.0.0.1", port, sender="a@shop.example", to=["b@shop.example"])
    with pytest.raises(TillflowError, match=r"^email channel: SMTP server 127\.0\.0\.1:\d+ answered: 530 "):
        channel.send(make_alert())


def test_email_untrusted_certificate_fails_without_retry(smtp_tls: tuple[Mailbox, int]) -> None:
    _, port = smtp_tls
    channel = EmailChannel("127.0.0.1", port, sender="a@shop.example", to=["b@shop.example"], starttls=True)
    alerter, _ = fast([channel])
    [delivery] = alerter.send(make_alert())
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.error is not None
    assert delivery.error.startswith(f"email channel: TLS with 127.0.0.1:{port} failed: ")
    assert "CERTIFICATE_VERIFY_FAILED" in delivery.error


# --- faults and retries ----------------------------------------------------------------------


def test_500_twice_then_200_is_one_delivery_after_three_attempts(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tillflow.alerts")
    receiver.replies = [Reply(500, "boom"), Reply(500, "boom")]
    alerter, waits = fast([WebhookChannel(receiver.url("/hook"))])

    assert alerter.send(make_alert()) == [Delivery("webhook", "sent", 3)]
    assert len(receiver.requests) == 3
    assert [r.body for r in receiver.requests] == [receiver.requests[0].body] * 3
    assert waits == [0.01, 0.02]  # exponential backoff
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        f"alert shop:anomaly:volume:orders to webhook failed (attempt {n} of 4), retrying in {w:.2f} s: "
        f"webhook channel: HTTP 500 Internal Server Error from {receiver.url('/hook')}: boom"
        for n, w in ((1, 0.01), (2, 0.02))
    ]
    assert caplog.records[-1].getMessage() == "alert shop:anomaly:volume:orders sent to webhook"


def test_retries_stop_after_the_last_attempt(receiver: Receiver) -> None:
    receiver.default = Reply(503, "down")
    alerter, waits = fast([WebhookChannel(receiver.url("/hook"))], retries=2, max_wait=0.015)
    [delivery] = alerter.send(make_alert())
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert (
        delivery.error == f"webhook channel: HTTP 503 Service Unavailable from {receiver.url('/hook')}: down"
    )
    assert waits == [0.01, 0.015]  # doubled, then capped by max_wait
    assert len(receiver.requests) == 3


@pytest.mark.parametrize(("retry_after", "max_wait", "waited"), [("2", 30.0, 2.0), ("120", 30.0, 30.0)])
def test_429_honours_retry_after_within_the_cap(
    receiver: Receiver, retry_after: str, max_wait: float, waited: float
) -> None:
    receiver.replies = [Reply(429, "slow down", {"Retry-After": retry_after})]
    alerter, waits = fast([SlackChannel(receiver.url(SLACK_PATH))], max_wait=max_wait)
    assert alerter.send(make_alert()) == [Delivery("slack", "sent", 2)]
    assert waits == [waited]


def test_retry_after_as_an_http_date(receiver: Receiver) -> None:
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=20)
    receiver.replies = [Reply(503, "", {"Retry-After": soon.strftime("%a, %d %b %Y %H:%M:%S GMT")})]
    alerter, waits = fast([WebhookChannel(receiver.url("/hook"))])
    assert alerter.send(make_alert()) == [Delivery("webhook", "sent", 2)]
    assert 17.0 < waits[0] <= 20.0


def test_400_fails_at_once(receiver: Receiver) -> None:
    receiver.default = Reply(400, "invalid_payload")
    alerter, waits = fast([SlackChannel(receiver.url(SLACK_PATH))])
    [delivery] = alerter.send(make_alert())
    assert delivery == Delivery(
        "slack",
        "failed",
        1,
        f"slack channel: HTTP 400 Bad Request from {receiver.origin}/***: invalid_payload",
    )
    assert waits == []
    assert len(receiver.requests) == 1


def test_channel_send_raises_tillflow_error_naming_channel_and_status(receiver: Receiver) -> None:
    receiver.default = Reply(500, "")
    with pytest.raises(TillflowError) as raised:
        SlackChannel(receiver.url(SLACK_PATH), name="ops-slack").send(make_alert())
    assert (
        str(raised.value) == f"ops-slack channel: HTTP 500 Internal Server Error from {receiver.origin}/***"
    )
    assert raised.value.__cause__ is None and raised.value.__context__ is None


def test_connection_refused_fails_logs_and_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tillflow.alerts")
    url = f"http://127.0.0.1:{free_port()}/hook"
    alerter, waits = fast([WebhookChannel(url)], retries=2)

    [delivery] = alerter.send(make_alert())

    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.error is not None
    assert delivery.error.startswith(f"webhook channel: could not reach {url}: ")
    assert "refused" in delivery.error.lower()
    assert waits == [0.01, 0.02]
    [final] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert (
        final.getMessage()
        == f"alert shop:anomaly:volume:orders to webhook failed after 3 attempt(s): {delivery.error}"
    )
    assert (final.alert_key, final.channel, final.status, final.attempt) == (  # type: ignore[attr-defined]
        "shop:anomaly:volume:orders",
        "webhook",
        "failed",
        3,
    )


def test_slow_receiver_times_out(receiver: Receiver) -> None:
    receiver.default = Reply(200, "ok", delay=5.0)
    alerter, _ = fast([WebhookChannel(receiver.url("/hook"), timeout=0.2)], retries=0)
    [delivery] = alerter.send(make_alert())
    assert delivery == Delivery(
        "webhook", "failed", 1, f"webhook channel: no answer from {receiver.url('/hook')} within 0.2 s"
    )


def test_a_broken_custom_channel_fails_alone(receiver: Receiver) -> None:
    class Broken(Channel):
        def __init__(self) -> None:
            super().__init__("broken", "info")

        def send(self, alert: Alert) -> None:
            raise RuntimeError("printer on fire")

    alerter, _ = fast([Broken(), WebhookChannel(receiver.url("/hook"))], retries=1)
    assert alerter.send(make_alert()) == [
        Delivery("broken", "failed", 2, "printer on fire"),
        Delivery("webhook", "sent", 1),
    ]


# --- routing and de-duplication --------------------------------------------------------------


def routed(receiver: Receiver) -> list[Channel]:
    return [
        WebhookChannel(receiver.url("/all"), name="all", min_severity="info"),
        WebhookChannel(receiver.url("/warn"), name="warn", min_severity="warning"),
        PagerDutyChannel("pdROUTINGkey0123456789abcdef0123", url=receiver.url("/page")),
    ]


@pytest.mark.parametrize(
    ("severity", "statuses", "paths"),
    [
        ("info", ["sent", "skipped", "skipped"], ["/all"]),
        ("warning", ["sent", "sent", "skipped"], ["/all", "/warn"]),
        ("critical", ["sent", "sent", "sent"], ["/all", "/warn", "/page"]),
    ],
)
def test_channels_get_alerts_at_or_above_their_severity(
    receiver: Receiver, severity: str, statuses: list[str], paths: list[str]
) -> None:
    alerter, _ = fast(routed(receiver))
    deliveries = alerter.send(make_alert(severity))
    assert [d.channel for d in deliveries] == ["all", "warn", "pagerduty"]
    assert [d.status for d in deliveries] == statuses
    assert sorted(r.path for r in receiver.requests) == sorted(paths)
    # Skipped deliveries are not recorded; the others are.
    assert alerter.history().get_column("channel").to_list() == [
        d.channel for d in deliveries if d.status != "skipped"
    ]


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2024, 5, 1, 13, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now


def test_same_key_is_sent_once_within_the_window_and_again_after(receiver: Receiver) -> None:
    clock = Clock()
    alerter, _ = fast(
        [WebhookChannel(receiver.url("/hook"))], clock=clock, dedup_window=dt.timedelta(hours=1)
    )

    assert alerter.send(make_alert()) == [Delivery("webhook", "sent", 1)]
    clock.now += dt.timedelta(minutes=59)
    assert alerter.send(make_alert()) == [Delivery("webhook", "suppressed", 0)]
    assert alerter.send(make_alert(key="shop:anomaly:volume:customers")) == [Delivery("webhook", "sent", 1)]
    clock.now += dt.timedelta(minutes=1)  # an hour after the first send
    assert alerter.send(make_alert()) == [Delivery("webhook", "sent", 1)]
    assert [r.json()["key"] for r in receiver.requests] == [
        "shop:anomaly:volume:orders",
        "shop:anomaly:volume:customers",
        "shop:anomaly:volume:orders",
    ]
    assert alerter.history().select("alert_key", "status").rows() == [
        ("shop:anomaly:volume:orders", "sent"),
        ("shop:anomaly:volume:orders", "suppressed"),
        ("shop:anomaly:volume:customers", "sent"),
        ("shop:anomaly:volume:orders", "sent"),
    ]


def test_a_failed_send_does_not_suppress_the_next(receiver: Receiver) -> None:
    receiver.replies = [Reply(400, "no")]
    alerter, _ = fast([WebhookChannel(receiver.url("/hook"))])
    assert alerter.send(make_alert())[0].status == "failed"
    assert alerter.send(make_alert()) == [Delivery("webhook", "sent", 1)]


def test_dedup_is_per_channel(receiver: Receiver) -> None:
    clock = Clock()
    first, _ = fast([WebhookChannel(receiver.url("/a"), name="a")], clock=clock)
    first.send(make_alert())
    both, _ = fast(
        [WebhookChannel(receiver.url("/a"), name="a"), WebhookChannel(receiver.url("/b"), name="b")]
    )
    # In-memory memory is per Alerter: without a warehouse nothing is shared.
    assert [d.status for d in both.send(make_alert())] == ["sent", "sent"]
    assert [d.status for d in both.send(make_alert())] == ["suppressed", "suppressed"]
    assert [d.status for d in first.send(make_alert())] == ["suppressed"]


def test_dedup_holds_across_alerters_sharing_a_duckdb_warehouse(receiver: Receiver, tmp_path: Path) -> None:
    clock = Clock()
    path = str(tmp_path / "wh.duckdb")
    with tl.warehouse.duckdb(path) as wh:
        one, _ = fast([WebhookChannel(receiver.url("/hook"))], warehouse=wh, clock=clock)
        two, _ = fast([WebhookChannel(receiver.url("/hook"))], warehouse=wh, clock=clock)
        assert one.send(make_alert()) == [Delivery("webhook", "sent", 1)]
        clock.now += dt.timedelta(minutes=30)
        assert two.send(make_alert()) == [Delivery("webhook", "suppressed", 0)]
    # A new process would open the file again: the memory is in the file.
    clock.now += dt.timedelta(minutes=29)
    with tl.warehouse.duckdb(path) as wh:
        three, _ = fast([WebhookChannel(receiver.url("/hook"))], warehouse=wh, clock=clock)
        assert three.send(make_alert()) == [Delivery("webhook", "suppressed", 0)]
        clock.now += dt.timedelta(minutes=1)
        assert three.send(make_alert()) == [Delivery("webhook", "sent", 1)]
        rows = wh.journal("_tf_alerts")
    assert len(receiver.requests) == 2
    assert rows.columns == [
        "alert_key", "pipeline", "channel", "severity", "title", "status", "attempts", "error", "sent_at",
    ]  # fmt: skip
    start = dt.datetime(2024, 5, 1, 13, 0, tzinfo=dt.timezone.utc)
    assert rows.select("status", "attempts", "sent_at").rows() == [
        ("sent", 1, start),
        ("suppressed", 0, start + dt.timedelta(minutes=30)),
        ("suppressed", 0, start + dt.timedelta(minutes=59)),
        ("sent", 1, start + dt.timedelta(minutes=60)),
    ]
    assert rows.row(0) == (
        "shop:anomaly:volume:orders", "shop", "webhook", "warning", "Orders volume dropped", "sent", 1, None,
        start,
    )  # fmt: skip


def test_dedup_holds_across_processes(receiver: Receiver, tmp_path: Path) -> None:
    path = str(tmp_path / "wh.duckdb")
    script = f"""
import tillflow as tl
from tillflow.monitor import Alert, Alerter, WebhookChannel
with tl.warehouse.duckdb({path!r}) as wh:
    alert = Alert(key="shop:run:failed", title="Run failed", message="boom", pipeline="shop")
    [d] = Alerter([WebhookChannel({receiver.url("/hook")!r})], warehouse=wh).send(alert)
    print(d.status)
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "sent"

    with tl.warehouse.duckdb(path) as wh:
        alerter = Alerter([WebhookChannel(receiver.url("/hook"))], warehouse=wh)
        alert = Alert(key="shop:run:failed", title="Run failed", message="boom", pipeline="shop")
        assert alerter.send(alert) == [Delivery("webhook", "suppressed", 0)]
    assert len(receiver.requests) == 1


def test_failed_deliveries_are_recorded_in_the_warehouse(receiver: Receiver, warehouse: Any) -> None:
    receiver.default = Reply(500, "boom")
    alerter, _ = fast([WebhookChannel(receiver.url("/hook"))], warehouse=warehouse, retries=1)
    alerter.send(make_alert("critical"))
    frame = warehouse.journal("_tf_alerts")
    assert frame.select("channel", "severity", "status", "attempts", "error").rows() == [
        (
            "webhook",
            "critical",
            "failed",
            2,
            f"webhook channel: HTTP 500 Internal Server Error from {receiver.url('/hook')}: boom",
        )
    ]
    assert alerter.history().equals(frame)


# --- secrets ---------------------------------------------------------------------------------


def test_secrets_never_reach_logs_errors_reprs_or_the_warehouse(
    receiver: Receiver, warehouse: Any, caplog: pytest.LogCaptureFixture, smtp_plain: tuple[Mailbox, int]
) -> None:
    caplog.set_level(logging.DEBUG, logger="tillflow")
    stream = io.StringIO()
    handler = configure_logging("DEBUG", stream=stream)
    secrets = {
        "slack": "slackWEBHOOKpath31",
        "query": "queryTOKENvalue55",
        "userinfo": "userinfoPASSWORD8",
        "bearer": "bearerTOKENvalue21",
        "pagerduty": "pdROUTINGkey5f8e2c1a9b7d6e3f4a2b",
        "smtp": "mailPASSWORDvalue66",
    }
    dead = f"127.0.0.1:{free_port()}"
    receiver.default = Reply(500, "upstream error")
    channels: list[Channel] = [
        SlackChannel(f"http://{dead}/services/T1/B1/{secrets['slack']}"),
        WebhookChannel(
            receiver.url(f"/hook?token={secrets['query']}&team=data").replace(
                "http://", f"http://alerts:{secrets['userinfo']}@"
            )
        ),
        WebhookChannel(
            receiver.url("/bearer"), headers={"Authorization": f"Bearer {secrets['bearer']}"}, name="bearer"
        ),
        PagerDutyChannel(secrets["pagerduty"], url=receiver.url("/v2/enqueue"), min_severity="info"),
        EmailChannel(
            "127.0.0.1",
            free_port(),
            sender="a@shop.example",
            to=["b@shop.example"],
            username="ops",
            password=secrets["smtp"],
        ),
    ]
    errors = []
    try:
        alerter, _ = fast(channels, warehouse=warehouse, retries=1)
        deliveries = alerter.send(make_alert())
        for channel in channels:
            with pytest.raises(TillflowError) as raised:
                channel.send(make_alert())
            errors.append(str(raised.value))
        # Logged by hand, as a careless caller might.
        logging.getLogger("tillflow.alerts").warning(
            "posting to %s",
            channels[1]._url.reveal(),  # type: ignore[attr-defined]
            extra={"url": f"http://x/{secrets['slack']}"},
        )
    finally:
        logging.getLogger("tillflow").removeHandler(handler)

    assert [d.status for d in deliveries] == ["failed"] * 5
    assert errors[0] == f"slack channel: could not reach http://{dead}/***: [Errno 111] Connection refused"
    assert (
        errors[1]
        == f"webhook channel: HTTP 500 Internal Server Error from {receiver.url('/hook')}?***: upstream error"
    )
    assert (
        errors[2]
        == f"bearer channel: HTTP 500 Internal Server Error from {receiver.url('/bearer')}: upstream error"
    )
    sent = {r.path.partition("?")[0]: r.headers.get("Authorization") for r in receiver.requests}
    assert sent == {
        "/hook": "Basic " + base64.b64encode(f"alerts:{secrets['userinfo']}".encode()).decode(),
        "/bearer": f"Bearer {secrets['bearer']}",
        "/v2/enqueue": None,
    }
    texts = {
        "caplog": caplog.text,
        "json log": stream.getvalue(),
        "errors": "\n".join(errors),
        "deliveries": repr(deliveries),
        "reprs": repr(alerter) + repr(channels),
        "_tf_alerts": str(warehouse.journal("_tf_alerts").rows()),
    }
    assert "***" in texts["json log"]
    for where, text in texts.items():
        for what, secret in secrets.items():
            assert secret not in text, f"the {what} secret shows in {where}"


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: SlackChannel(),
            "SlackChannel needs webhook_url (or the TILLFLOW_SLACK_WEBHOOK_URL environment variable)",
        ),
        (
            lambda: WebhookChannel(),
            "WebhookChannel needs url (or the TILLFLOW_WEBHOOK_URL environment variable)",
        ),
        (
            lambda: PagerDutyChannel(),
            "PagerDutyChannel needs routing_key (or the TILLFLOW_PAGERDUTY_ROUTING_KEY environment variable)",
        ),
        (
            lambda: EmailChannel(sender="a@b.c", to=["d@e.f"]),
            "EmailChannel needs host (or the TILLFLOW_SMTP_HOST environment variable)",
        ),
        (
            lambda: EmailChannel("mail", to=["d@e.f"]),
            "EmailChannel needs sender (or the TILLFLOW_SMTP_FROM environment variable)",
        ),
        (
            lambda: EmailChannel("mail", sender="a@b.c"),
            "EmailChannel needs to (or the TILLFLOW_SMTP_TO environment variable)",
        ),
        (
            lambda: EmailChannel("mail", sender="a@b.c", to="d@e.f", username="u"),
            "EmailChannel username is set but password is not "
            "(argument or TILLFLOW_SMTP_PASSWORD environment variable)",
        ),
        (
            lambda: EmailChannel("mail", sender="a@b.c", to="d@e.f", ssl=True, starttls=True),
            "EmailChannel takes starttls or ssl, not both",
        ),
        (lambda: SlackChannel("not a url"), "SlackChannel webhook_url must be an http(s) URL with a host"),
        (
            lambda: WebhookChannel("http://x/h", min_severity="urgent"),
            "WebhookChannel min_severity must be one of info, warning, critical, got 'urgent'",
        ),
        (lambda: WebhookChannel("http://x/h", timeout=0), "WebhookChannel timeout must be positive seconds"),
        (
            lambda: WebhookChannel("http://u:p@x/h", headers={"authorization": "Bearer t"}),
            "WebhookChannel url has a user:password and headers an Authorization; give one",
        ),
        (
            lambda: Alerter([WebhookChannel("http://x/a"), WebhookChannel("http://x/b")]),
            "Alerter channel names must be unique (they key de-duplication), 'webhook' is used twice; "
            "pass name= to tell them apart",
        ),
        (lambda: Alerter([], retries=-1), "Alerter retries must be an integer >= 0, got -1"),
        (
            lambda: Alerter([], dedup_window=3600),  # type: ignore[arg-type]
            "Alerter dedup_window must be a timedelta >= 0, got 3600",
        ),
        (lambda: Alerter([], backoff=-1), "Alerter backoff must be seconds >= 0, got -1"),
        (
            lambda: Alerter(["slack"]),  # type: ignore[list-item]
            "Alerter channels must be Channel objects, got 'slack'",
        ),
    ],
)
def test_bad_settings_are_config_errors(build: Any, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build()
    assert str(raised.value) == f"invalid config: {message}"


def test_a_bad_slack_url_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as raised:
        SlackChannel("hooks.slack.com/services/T1/B1/notEchoedSECRET")
    assert "notEchoedSECRET" not in str(raised.value)


def test_channels_read_their_settings_from_the_environment(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, smtp_plain: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_plain
    monkeypatch.setenv("TILLFLOW_SLACK_WEBHOOK_URL", receiver.url(SLACK_PATH))
    monkeypatch.setenv("TILLFLOW_WEBHOOK_URL", receiver.url("/hook"))
    monkeypatch.setenv("TILLFLOW_PAGERDUTY_ROUTING_KEY", "pdROUTINGkey0123456789abcdef0123")
    monkeypatch.setenv("TILLFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TILLFLOW_SMTP_PORT", str(port))
    monkeypatch.setenv("TILLFLOW_SMTP_FROM", "tillflow@shop.example")
    monkeypatch.setenv("TILLFLOW_SMTP_TO", "ops@shop.example, cto@shop.example")

    alerter = Alerter.from_env(backoff=0.0)
    assert [type(c).__name__ for c in alerter.channels] == [
        "SlackChannel",
        "WebhookChannel",
        "EmailChannel",
        "PagerDutyChannel",
    ]
    assert [c.min_severity for c in alerter.channels] == ["info", "info", "warning", "critical"]
    email_channel = alerter.channels[2]
    assert isinstance(email_channel, EmailChannel)
    assert (email_channel.port, email_channel.to) == (port, ["ops@shop.example", "cto@shop.example"])
    assert (
        repr(alerter.channels[0])
        == f"SlackChannel(url='{receiver.origin}/***', name='slack', min_severity='info')"
    )

    deliveries = alerter.send(make_alert("warning"))
    assert [(d.channel, d.status) for d in deliveries] == [
        ("slack", "sent"),
        ("webhook", "sent"),
        ("email", "sent"),
        ("pagerduty", "skipped"),
    ]
    assert sorted(r.path for r in receiver.requests) == ["/hook", SLACK_PATH]
    assert mailbox.envelopes[0].rcpt_tos == ["ops@shop.example", "cto@shop.example"]


def test_from_env_with_nothing_set_names_the_variables() -> None:
    with pytest.raises(ConfigError) as raised:
        Alerter.from_env()
    assert str(raised.value) == (
        "invalid config: no alert channel is configured; set at least one of TILLFLOW_SLACK_WEBHOOK_URL, "
        "TILLFLOW_WEBHOOK_URL, TILLFLOW_SMTP_HOST or TILLFLOW_PAGERDUTY_ROUTING_KEY"
    )


def test_history_without_a_warehouse_is_typed_like_tf_alerts() -> None:
    history = Alerter([]).history()
    assert history.height == 0
    assert history.schema == pl.Schema(
        {
            "alert_key": pl.String(),
            "pipeline": pl.String(),
            "channel": pl.String(),
            "severity": pl.String(),
            "title": pl.String(),
            "status": pl.String(),
            "attempts": pl.Int64(),
            "error": pl.String(),
            "sent_at": pl.Datetime("us", "UTC"),
        }
    )
