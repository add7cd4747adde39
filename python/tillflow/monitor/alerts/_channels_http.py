"""The alert channels that POST JSON over HTTP: Slack incoming webhooks,
generic webhooks and PagerDuty's Events API v2. Each is a
[Channel][tillflow.monitor.alerts.Channel] that builds its payload; the
request and its errors are the base's (see `_channels`), retries the
[Alerter][tillflow.monitor.alerts.Alerter]'s. The credentials in their URLs,
headers and keys are held as [Secret][tillflow.Secret] and masked wherever
they would show.
"""

from __future__ import annotations

import hashlib
import socket
import urllib.parse
from collections.abc import Mapping
from typing import Any

from tillflow._core.errors import config_error
from tillflow._core.secrets import MASK, Secret, register_secret
from tillflow.monitor.alerts._alert import Alert, Severity
from tillflow.monitor.alerts._channels import (
    PAGERDUTY_ENV,
    SLACK_ENV,
    WEBHOOK_ENV,
    _check_http_url,
    _field_text,
    _HttpChannel,
    _missing,
    _origin,
    env_setting,
)

__all__ = ["PagerDutyChannel", "SlackChannel", "WebhookChannel"]

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
_PD_SUMMARY_MAX, _PD_DEDUP_MAX = 1024, 255  # PagerDuty's documented limits
# Colours of the seed's Slack alerts.
SLACK_COLORS = {Severity.INFO: "#36a64f", Severity.WARNING: "#ff9500", Severity.CRITICAL: "#ff0000"}


class SlackChannel(_HttpChannel):
    """A Slack incoming webhook: one attachment coloured by severity, with the
    alert's details as fields. The webhook URL is a credential and is never shown.

    Parameters
    ----------
    webhook_url
        The incoming webhook's URL; by default ``TILLFLOW_SLACK_WEBHOOK_URL``.
    min_severity
        The lowest severity it takes.
    name
        The channel's name.
    timeout
        Seconds to wait for the server.

    Raises
    ------
    ConfigError
        If there is no URL, it is not an http(s) URL, or another setting is
        invalid.
    """

    def __init__(
        self,
        webhook_url: str | None = None,
        *,
        min_severity: Severity | str = "info",
        name: str = "slack",
        timeout: float = 10.0,
    ) -> None:
        url = webhook_url or env_setting(SLACK_ENV)
        if not url:
            raise _missing("SlackChannel", "webhook_url", SLACK_ENV)
        secret = Secret(url)
        parsed = _check_http_url("SlackChannel", "webhook_url", url)
        # The path holds the token (…/services/T…/B…/<token>): mask it wherever it turns up alone.
        register_secret(parsed.path)
        register_secret(parsed.path.rstrip("/").rpartition("/")[2])
        super().__init__(name, min_severity, secret, f"{_origin(parsed)}/{MASK}", None, timeout)

    def payload(self, alert: Alert) -> dict[str, Any]:
        """The JSON document posted for ``alert``.

        Parameters
        ----------
        alert
            The alert.

        Returns
        -------
        dict[str, Any]
            Slack's ``attachments`` form.
        """
        footer = " · ".join(
            part
            for part in (
                "tillflow",
                alert.pipeline and f"pipeline {alert.pipeline}",
                alert.run_id and f"run {alert.run_id}",
            )
            if part
        )
        return {
            "attachments": [
                {
                    "fallback": f"[{alert.severity.value.upper()}] {alert.title}: {alert.message}",
                    "color": SLACK_COLORS[alert.severity],
                    "title": alert.title,
                    "text": alert.message,
                    "fields": [
                        {
                            "title": str(key),
                            "value": _field_text(value),
                            "short": len(_field_text(value)) <= 40,
                        }
                        for key, value in alert.details.items()
                    ],
                    "footer": footer,
                    "ts": int(alert.created_at.timestamp()),
                }
            ]
        }


class WebhookChannel(_HttpChannel):
    """Any HTTP endpoint that takes a JSON POST: the alert's fields as one
    object. ``headers`` may carry a credential (``Authorization``, an API key
    header), kept secret like the URL's userinfo and query string.

    Parameters
    ----------
    url
        The endpoint; by default ``TILLFLOW_WEBHOOK_URL``.
    headers
        Extra request headers.
    min_severity
        The lowest severity it takes.
    name
        The channel's name.
    timeout
        Seconds to wait for the server.

    Raises
    ------
    ConfigError
        If there is no URL, it is not an http(s) URL, it has a user and
        password while ``headers`` has an ``Authorization``, or another
        setting is invalid.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        min_severity: Severity | str = "info",
        name: str = "webhook",
        timeout: float = 10.0,
    ) -> None:
        url = url or env_setting(WEBHOOK_ENV)
        if not url:
            raise _missing("WebhookChannel", "url", WEBHOOK_ENV)
        parsed = _check_http_url("WebhookChannel", "url", url)
        # Userinfo and query values are where webhook URLs carry their tokens; the
        # URL is masked whole only when it has them (else it is what errors show).
        secret = Secret(url, register=bool(parsed.userinfo or parsed.query))
        register_secret(urllib.parse.unquote(parsed.userinfo.decode()).partition(":")[2])
        for _, value in urllib.parse.parse_qsl(parsed.query.decode(), keep_blank_values=True):
            register_secret(value)
        if parsed.userinfo and any(k.lower() == "authorization" for k in headers or {}):
            # httpx would send the URL's user:password as Basic auth in place of the header.
            raise config_error(
                "WebhookChannel url has a user:password and headers an Authorization; give one"
            )
        shown = _origin(parsed) + parsed.path + (f"?{MASK}" if parsed.query else "")
        super().__init__(name, min_severity, secret, shown, headers, timeout)

    def payload(self, alert: Alert) -> dict[str, Any]:
        """The JSON document posted for ``alert``.

        Parameters
        ----------
        alert
            The alert.

        Returns
        -------
        dict[str, Any]
            ``key``, ``title``, ``message``, ``severity``, ``pipeline``,
            ``run_id``, ``details`` and ``created_at``.
        """
        return {
            "key": alert.key,
            "title": alert.title,
            "message": alert.message,
            "severity": alert.severity.value,
            "pipeline": alert.pipeline,
            "run_id": alert.run_id,
            "details": alert.details,
            "created_at": alert.created_at.isoformat(),
        }


class PagerDutyChannel(_HttpChannel):
    """A PagerDuty Events API v2 integration: each alert is a ``trigger``
    event whose ``dedup_key`` is the alert's key, so repeats land on the same
    PagerDuty alert. Critical only by default: it pages people.

    Parameters
    ----------
    routing_key
        The integration's routing key; by default
        ``TILLFLOW_PAGERDUTY_ROUTING_KEY``.
    url
        The Events API endpoint.
    min_severity
        The lowest severity it takes.
    name
        The channel's name.
    timeout
        Seconds to wait for the server.

    Raises
    ------
    ConfigError
        If there is no routing key, ``url`` is not an http(s) URL, or another
        setting is invalid.
    """

    def __init__(
        self,
        routing_key: str | None = None,
        *,
        url: str = PAGERDUTY_URL,
        min_severity: Severity | str = "critical",
        name: str = "pagerduty",
        timeout: float = 10.0,
    ) -> None:
        key = routing_key or env_setting(PAGERDUTY_ENV)
        if not key:
            raise _missing("PagerDutyChannel", "routing_key", PAGERDUTY_ENV)
        self._routing_key = Secret(key)
        parsed = _check_http_url("PagerDutyChannel", "url", url)
        shown = _origin(parsed) + parsed.path
        super().__init__(name, min_severity, Secret(url, register=False), shown, None, timeout)

    def payload(self, alert: Alert) -> dict[str, Any]:
        """The Events API v2 ``trigger`` event for ``alert``.

        Parameters
        ----------
        alert
            The alert.

        Returns
        -------
        dict[str, Any]
            The event; a summary over 1,024 characters is cut, a key over
            255 is hashed.
        """
        summary = (
            alert.title if len(alert.title) <= _PD_SUMMARY_MAX else alert.title[: _PD_SUMMARY_MAX - 1] + "…"
        )
        dedup = alert.key
        if len(dedup) > _PD_DEDUP_MAX:
            dedup = "tillflow:" + hashlib.sha256(dedup.encode()).hexdigest()
        details: dict[str, Any] = {"message": alert.message}
        details.update({k: v for k, v in (("pipeline", alert.pipeline), ("run_id", alert.run_id)) if v})
        details.update(alert.details)
        return {
            "routing_key": self._routing_key.reveal(),
            "event_action": "trigger",
            "dedup_key": dedup,
            "client": "tillflow",
            "payload": {
                "summary": summary,
                "source": alert.pipeline or socket.gethostname(),
                # PagerDuty's severities include tillflow's three under the same names.
                "severity": alert.severity.value,
                "timestamp": alert.created_at.isoformat(),
                "custom_details": details,
            },
        }
