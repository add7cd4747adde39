"""What every alert channel shares: [Channel][tillflow.monitor.alerts.Channel],
the plumbing of channels that POST JSON over HTTP, and the settings read
from the environment. Slack, generic webhooks and PagerDuty are in
`_channels_http`; email is in `_email`.

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
import json
import os
from collections.abc import Mapping
from typing import Any

import httpx

from tillflow._core.errors import config_error
from tillflow._core.logs import logger
from tillflow._core.secrets import Secret, redact, register_secret
from tillflow._native import __version__
from tillflow.exceptions import ConfigError, TillflowError
from tillflow.monitor.alerts._alert import Alert, Severity

__all__ = ["Channel"]

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

_USER_AGENT = f"tillflow/{__version__}"
_EXCERPT = 200  # characters of a refusing server's answer kept in the error
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


def _field_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=_json_default, ensure_ascii=False)
    return str(value)
