"""Alert channels: Slack, generic webhooks, email and PagerDuty.

A channel's ``send`` delivers one alert once and raises [TillflowError][tillflow.exceptions.TillflowError]
naming the channel and the HTTP status or SMTP reply, never a credential:
URLs, keys and passwords are held as [Secret][tillflow.Secret] and registered with the
log redactor. Whether a failure is worth retrying travels on the error
(``retryable``, ``retry_after``) for the [Alerter][tillflow.monitor.alerts.Alerter].
"""

from __future__ import annotations

import abc
import datetime as dt
import email.utils
import hashlib
import json
import os
import socket
import urllib.parse
from collections.abc import Mapping
from typing import Any

import httpx

from tillflow._core.errors import config_error
from tillflow._core.logs import logger
from tillflow._core.secrets import MASK, Secret, redact, register_secret
from tillflow._native import __version__
from tillflow.exceptions import ConfigError, TillflowError
from tillflow.monitor.alerts._alert import Alert, Severity

__all__ = [
    "Channel",
    "PagerDutyChannel",
    "SlackChannel",
    "WebhookChannel",
]

# Channels log under the Alerter's name: one logger for everything about alert delivery.
log = logger("tillflow.alerts")

SLACK_ENV = "TILLFLOW_SLACK_WEBHOOK_URL"
WEBHOOK_ENV = "TILLFLOW_WEBHOOK_URL"
PAGERDUTY_ENV = "TILLFLOW_PAGERDUTY_ROUTING_KEY"
SMTP_ENV = {
    "host": "TILLFLOW_SMTP_HOST",
    "port": "TILLFLOW_SMTP_PORT",
    "username": "TILLFLOW_SMTP_USER",
    "password": "TILLFLOW_SMTP_PASSWORD",
    "sender": "TILLFLOW_SMTP_FROM",
    "to": "TILLFLOW_SMTP_TO",
}
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"

# Colours of the seed's Slack alerts.
SLACK_COLORS = {Severity.INFO: "#36a64f", Severity.WARNING: "#ff9500", Severity.CRITICAL: "#ff0000"}
_USER_AGENT = f"tillflow/{__version__}"
_EXCERPT = 200  # characters of a refusing server's answer kept in the error
_PD_SUMMARY_MAX, _PD_DEDUP_MAX = 1024, 255  # PagerDuty's documented limits
# Header names whose values are credentials.
_SECRET_HEADER = ("auth", "token", "key", "secret", "signature", "password", "cookie")


def env_setting(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _missing(cls: str, argument: str, env: str) -> ConfigError:
    return config_error(f"{cls} needs {argument} (or the {env} environment variable)")


def _failure(
    channel: str, text: str, *, retryable: bool, status: int | None = None, retry_after: float | None = None
) -> TillflowError:
    """The error a channel raises; the Alerter reads ``retryable`` and ``retry_after`` from it."""
    error = TillflowError(f"{channel} channel: {redact(text)}")
    vars(error).update(status=status, retryable=retryable, retry_after=retry_after)
    return error


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def _check_http_url(cls: str, argument: str, url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        # The URL may be a credential: name the argument, not the value.
        raise config_error(f"{cls} {argument} must be an http(s) URL with a host")
    return parsed


def _origin(url: httpx.URL) -> str:
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}"


class Channel(abc.ABC):
    """Somewhere alerts go. Subclasses set ``name`` and ``min_severity`` and
    implement `send`, which delivers one alert once and raises
    [TillflowError][tillflow.exceptions.TillflowError] if it could not.

    Parameters
    ----------
    name
        The channel's name: what deliveries and de-duplication know it by.
    min_severity
        The lowest severity it takes.

    Raises
    ------
    ConfigError
        If ``name`` is empty or ``min_severity`` is not a severity.
    """

    name: str
    min_severity: Severity

    def __init__(self, name: str, min_severity: Severity | str) -> None:
        if not isinstance(name, str) or not name.strip():
            raise config_error(f"a channel name must be a non-empty string, got {name!r}")
        try:
            severity = Severity.parse(min_severity)
        except ConfigError:
            choices = ", ".join(s.value for s in Severity)
            raise config_error(
                f"{type(self).__name__} min_severity must be one of {choices}, got {min_severity!r}"
            ) from None
        self.name, self.min_severity = name, severity

    def accepts(self, alert: Alert) -> bool:
        """Whether ``alert`` is at or above this channel's minimum severity.

        Parameters
        ----------
        alert
            The alert.

        Returns
        -------
        bool
            Whether the channel takes it.
        """
        return alert.severity.rank >= self.min_severity.rank

    @abc.abstractmethod
    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` once (the [Alerter][tillflow.monitor.alerts.Alerter] retries).

        Parameters
        ----------
        alert
            The alert.

        Raises
        ------
        TillflowError
            If it could not be delivered; ``retryable`` says whether trying
            again may help, ``retry_after`` how long the server asked to wait.
        """
        ...

    def _describe(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self._describe()
        return (
            f"{type(self).__name__}({extra}{', ' if extra else ''}name={self.name!r}, "
            f"min_severity={self.min_severity.value!r})"
        )


class _HttpChannel(Channel):
    """A channel that POSTs one JSON document per alert."""

    def __init__(
        self,
        name: str,
        min_severity: Severity | str,
        url: Secret,
        shown: str,
        headers: Mapping[str, str] | None,
        timeout: float,
    ) -> None:
        super().__init__(name, min_severity)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise config_error(f"{type(self).__name__} timeout must be positive seconds")
        self._url, self.url, self.timeout = url, shown, float(timeout)
        self._headers: dict[str, Secret | str] = {}
        for key, value in (headers or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise config_error(f"{type(self).__name__} headers must map str to str")
            if any(word in key.lower() for word in _SECRET_HEADER):
                self._headers[key] = Secret(value)
                # "Bearer abc": the token alone must be masked too.
                register_secret(value.partition(" ")[2].strip())
            else:
                self._headers[key] = value

    @abc.abstractmethod
    def payload(self, alert: Alert) -> dict[str, Any]:
        """The JSON document sent for ``alert``."""

    def send(self, alert: Alert) -> None:
        body = json.dumps(self.payload(alert), default=_json_default, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": _USER_AGENT}
        headers.update({k: v.reveal() if isinstance(v, Secret) else v for k, v in self._headers.items()})
        try:
            response = httpx.post(self._url.reveal(), content=body, headers=headers, timeout=self.timeout)
        except httpx.TimeoutException:
            raise _failure(
                self.name, f"no answer from {self.url} within {self.timeout:g} s", retryable=True
            ) from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise _failure(self.name, f"could not reach {self.url}: {reason}", retryable=True) from None
        if response.is_success:
            return
        status = response.status_code
        answer = _excerpt(response.text)
        raise _failure(
            self.name,
            f"HTTP {status} {response.reason_phrase} from {self.url}" + (f": {answer}" if answer else ""),
            status=status,
            retryable=status == 429 or status >= 500,
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )

    def _describe(self) -> str:
        return f"url={self.url!r}"


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


def _field_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=_json_default, ensure_ascii=False)
    return str(value)


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
