"""Alert channels from a config file (YAML, TOML or JSON) or a mapping.

    dedup_window: 1h
    retries: 3
    channels:
      - type: slack
        webhook_url_env: SHOP_SLACK_WEBHOOK      # the secret stays in the environment
        min_severity: warning
      - type: email
        host: smtp.example.com
        port: 587
        starttls: true
        sender: etl@shop.example
        to: [owner@shop.example]
        username: etl
        password_env: SHOP_SMTP_PASSWORD
        min_severity: critical

A setting named ``<setting>_env`` reads ``<setting>`` from that environment
variable, so the file itself holds no secret; a channel without its secret
falls back to its ``TILLFLOW_*`` variable, as the channel classes do.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tillflow._core import durations
from tillflow._core.documents import Document, DocumentError, open_document
from tillflow._core.errors import config_error
from tillflow.exceptions import ConfigError
from tillflow.monitor.alerts._alerter import Alerter
from tillflow.monitor.alerts._channels_http import PagerDutyChannel, SlackChannel, WebhookChannel
from tillflow.monitor.alerts._email import EmailChannel

if TYPE_CHECKING:
    from tillflow.warehouse import Warehouse

__all__ = ["alerter_from_config"]

CHANNEL_TYPES: dict[str, type] = {
    "slack": SlackChannel,
    "webhook": WebhookChannel,
    "email": EmailChannel,
    "pagerduty": PagerDutyChannel,
}
_TOP = {"channels", "dedup_window", "retries", "backoff", "max_wait"}


def alerter_from_config(
    config: Mapping[str, Any] | str | os.PathLike[str], *, warehouse: Warehouse | None = None
) -> Alerter:
    """An [Alerter][tillflow.monitor.alerts.Alerter] over the channels a config file (``.yaml``,
    ``.yml``, ``.toml``, ``.json``) or mapping describes; see the module's doc.

    Parameters
    ----------
    config
        The settings, or a file holding them: ``channels`` (each with a
        ``type``: ``slack``, ``webhook``, ``email`` or ``pagerduty``, and the
        channel's settings, ``<setting>_env`` reading one from the
        environment), ``dedup_window`` (a duration such as ``"1h"``),
        ``retries``, ``backoff`` and ``max_wait``.
    warehouse
        A warehouse to de-duplicate through and record deliveries in.

    Returns
    -------
    Alerter
        The alerter over the channels.

    Raises
    ------
    ConfigError
        If the file cannot be read, a setting is unknown or invalid, or an
        ``_env`` variable is not set; for a file the message names the line.
    """
    if isinstance(config, Mapping):
        return _alerter(config, "alerts config", warehouse)
    document = _read(Path(config))
    try:
        return _alerter(document.data, f"alerts file {str(config)!r}", warehouse)
    except ConfigError as exc:
        # The same message, with the file's line where the setting is written;
        # a check made by a channel or the alerter itself gets the file put first.
        keys = getattr(exc, "keys", None)
        where = document.where(keys) if keys else str(config)
        text = str(exc)
        marker = f"alerts file {str(config)!r}"
        if marker in text:
            raise ConfigError(text.replace(marker, f"alerts file {where}", 1)) from None
        raise config_error(f"alerts file {where}: {text.removeprefix('invalid config: ')}") from None


def _alerter(config: Mapping[str, Any], where: str, warehouse: Warehouse | None) -> Alerter:
    unknown = sorted(str(k) for k in set(config) - _TOP)
    if unknown:
        raise _error(
            [unknown[0]],
            f"invalid config: {where}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(_TOP))})",
        )
    entries = config.get("channels")
    if not isinstance(entries, list) or not entries:
        raise _error(
            ["channels"], f"invalid config: {where}: channels: expected a list of at least one channel"
        )
    channels = [_channel(where, i, entry) for i, entry in enumerate(entries)]
    options: dict[str, Any] = {k: config[k] for k in ("retries", "backoff", "max_wait") if k in config}
    if "dedup_window" in config:
        try:
            options["dedup_window"] = _duration(where, config["dedup_window"])
        except ConfigError as exc:
            exc.keys = ["dedup_window"]  # type: ignore[attr-defined]
            raise
    return Alerter(channels, warehouse=warehouse, **options)


def _channel(where: str, index: int, entry: Any) -> Any:
    at = f"{where}: channels[{index}]"
    if not isinstance(entry, Mapping) or not isinstance(entry.get("type"), str):
        raise _error(
            ["channels", index],
            f"invalid config: {at}: expected a mapping with a type ({', '.join(CHANNEL_TYPES)})",
        )
    kind = entry["type"].lower()
    cls = CHANNEL_TYPES.get(kind)
    if cls is None:
        raise _error(
            ["channels", index, "type"],
            f"invalid config: {at}: unknown type {entry['type']!r} (known: {', '.join(CHANNEL_TYPES)})",
        )
    settings: dict[str, Any] = {}
    for raw_key, value in entry.items():
        key = str(raw_key)  # YAML keys may be numbers
        if key == "type":
            continue
        if key.endswith("_env"):
            name = key[: -len("_env")]
            found = os.environ.get(str(value), "").strip()
            if not found:
                raise _error(
                    ["channels", index, key],
                    f"invalid config: {at} ({kind}): {key}: environment variable {value!r} is not set",
                )
            settings[name] = found
        else:
            settings[key] = value
    accepted = set(inspect.signature(cls).parameters)
    unknown = sorted(set(settings) - accepted)
    if unknown:
        known = ", ".join(sorted(accepted))
        raise _error(
            ["channels", index, unknown[0]],
            f"invalid config: {at} ({kind}): unknown setting {unknown[0]!r} (known: {known})",
        )
    if "to" in settings and isinstance(settings["to"], str):
        settings["to"] = [settings["to"]]
    try:
        return cls(**settings)
    except ConfigError as exc:
        exc.keys = ["channels", index]  # type: ignore[attr-defined]
        raise


def _duration(where: str, value: Any) -> dt.timedelta:
    out = durations.seconds(value) if not isinstance(value, dt.timedelta) else None
    try:
        if out is not None:
            return dt.timedelta(seconds=out)
    except OverflowError:  # past timedelta's ~2.7 million years
        pass
    raise config_error(f"{where}: dedup_window: cannot read {value!r}; write e.g. '30m', '1h', '1d'")


def _read(path: Path) -> Document:
    where = f"invalid config: alerts file {str(path)!r}"
    try:
        document = open_document(path)
    except DocumentError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if not isinstance(document.data, Mapping):
        raise ConfigError(f"{where}: expected a mapping at the top")
    return document


def _error(keys: list[Any], message: str) -> ConfigError:
    """A ConfigError that knows which setting it is about (``keys``), so a
    file's error can name its line."""
    exc = ConfigError(message)
    exc.keys = keys  # type: ignore[attr-defined]
    return exc
