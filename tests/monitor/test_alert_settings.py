"""What the alert channels keep secret, and how they are configured: the
settings, their environment variables and the errors bad ones get."""

from __future__ import annotations

import base64
import io
import logging
from typing import Any

import polars as pl
import pytest

from support.alerts import SLACK_PATH, Mailbox, Receiver, Reply, fast, free_port, make_alert
from tillflow.exceptions import ConfigError, TillflowError
from tillflow.monitor import (
    Alerter,
    Channel,
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
    configure_logging,
)

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
