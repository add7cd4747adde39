"""Alert channels and the Alerter against a real HTTP receiver on loopback
that records requests (Slack, webhooks, PagerDuty) and can fail on cue:
payloads, retries, routing, de-duplication, secrets and settings."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tillflow as tl
from support.alerts import MESSAGE, SLACK_PATH, Receiver, Reply, fast, free_port, make_alert
from tillflow.exceptions import TillflowError
from tillflow.monitor import (
    Alert,
    Alerter,
    Channel,
    Delivery,
    PagerDutyChannel,
    Severity,
    SlackChannel,
    WebhookChannel,
)

# --- payloads -------------------------------------------------------------------------------


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
