"""The one form of a configuration error: ``invalid config: <where>: <what>``,
where ``<where>`` names the setting (and, for a file, the file and line)."""

from __future__ import annotations

from tillflow.exceptions import ConfigError

PREFIX = "invalid config: "


def config_error(message: str) -> ConfigError:
    """A [ConfigError][tillflow.exceptions.ConfigError] for ``message`` (``"write_mode: must be one of …"``),
    prefixed as every configuration error is."""
    return ConfigError(PREFIX + message)
