"""The monitor end to end: real demo-shop runs, a failing run, a volume drop,
and the alerts a Slack-style receiver on loopback gets from them."""

from __future__ import annotations

from typing import Any

import pytest

import tillflow as tl
from support import FAST_RETRY
from tillflow.monitor import AnomalyConfig, Monitor, SlackChannel


def test_failing_run_degrades_health_and_a_volume_drop_alerts_once(shop, warehouse, slack):
    monitor = Monitor(channels=[SlackChannel(slack.url)], anomalies=AnomalyConfig(min_points=3))

    def run(source: Any, **kwargs: Any) -> Any:
        return tl.pipeline("shop", source, warehouse, monitor=monitor).run(full_refresh=True, **kwargs)

    for _ in range(3):
        assert run(shop.source(resources=["orders"])).monitor.alerts == []
    assert tl.monitor.health(warehouse, "shop").status == "healthy"
    assert slack.received == []

    # One failing run in four: 75% success, below the seed's 95%.
    bad = tl.sources.shopify(shop.url, "wrong-token", resources=["orders"], retry=FAST_RETRY)
    with pytest.raises(tl.AuthError):
        run(bad)
    health = tl.monitor.health(warehouse, "shop")
    assert (health.status, health.success_rate, health.error_count) == ("degraded", 0.75, 1)
    assert slack.titles() == ["shop: run failed", "shop is degraded"]
    assert slack.colours() == ["#ff0000", "#ff9500"]
    assert "401" in slack.received[0]["attachments"][0]["text"]
    slack.received.clear()

    # The shop suddenly serves a tenth of its orders.
    with tl.demo_shop(orders=100) as small:
        dropped = run(small.source(resources=["orders"]), write_mode="replace")
    volume = [a for a in dropped.monitor.anomalies if a.kind == "volume" and a.table == "orders"]
    assert [(a.value, a.expected, a.severity) for a in volume] == [(100.0, 1000.0, "critical")]
    stored = tl.monitor.anomalies(warehouse, "shop")
    assert "orders" in stored.filter(stored["kind"] == "volume")["table"].to_list()
    title = "shop: volume anomaly in orders"
    volume_alerts = [m for m in slack.received if m["attachments"][0]["title"] == title]
    assert len(volume_alerts) == 1
    attachment = volume_alerts[0]["attachments"][0]
    assert attachment["color"] == "#ff0000"
    assert "rows loaded of orders was 100" in attachment["text"]
    # Still degraded (4 of 5), but that alert went out within the hour: not sent again.
    assert "shop is degraded" not in slack.titles()

    # Checking the run again finds the anomaly again; the receiver still has it once.
    again = monitor.check(warehouse, "shop")
    assert any(a.kind == "volume" for a in again.anomalies)
    assert slack.titles().count(title) == 1
    alerts = warehouse.journal("_tf_alerts")
    volume_rows = alerts.filter(alerts["alert_key"] == volume[0].key)
    assert volume_rows["status"].to_list() == ["sent", "suppressed"]
    # The webhook URL is a secret: it is nowhere in what was recorded.
    assert not any("hook-token-7f3a" in str(v) for v in alerts.rows())


def test_a_dead_receiver_never_fails_the_pipeline(shop, warehouse):
    dead = SlackChannel("http://127.0.0.1:9/services/T0/B0/nothing-listens")
    alerter = tl.monitor.Alerter([dead], warehouse=warehouse, retries=1, backoff=0.01)
    monitor = Monitor(alerter=alerter, anomalies=AnomalyConfig(min_points=3))
    bad = tl.sources.shopify(shop.url, "wrong-token", resources=["orders"], retry=FAST_RETRY)
    with pytest.raises(tl.AuthError):  # the run's own error, not the alert's
        tl.pipeline("shop", bad, warehouse, monitor=monitor).run()
    run = tl.pipeline("shop", shop.source(resources=["orders"]), warehouse, monitor=monitor).run()
    assert run.total_rows > 0
    alerts = warehouse.journal("_tf_alerts")
    assert set(alerts["status"]) == {"failed"}
    assert set(alerts["alert_key"]) == {"shop:run_failed", "shop:health:degraded"}
