"""What an alert is, whichever channel carries it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from enum import Enum
from typing import Any

from tillflow._core.errors import config_error

__all__ = ["Alert", "Severity"]


class Severity(str, Enum):
    """How bad it is, in rising order; channels take alerts at or above their own.

    ``INFO``, ``WARNING`` and ``CRITICAL``; ``rank`` orders them (0, 1, 2).
    """

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        """The severity ``value`` names.

        Parameters
        ----------
        value
            A severity, or its name in any case (``"Warning"``).

        Returns
        -------
        Severity
            The severity.

        Raises
        ------
        ConfigError
            If ``value`` names none.
        """
        try:
            return cls(value.value if isinstance(value, Severity) else str(value).lower())
        except ValueError:
            raise config_error(
                f"severity must be one of {', '.join(s.value for s in cls)}, got {value!r}"
            ) from None


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclasses.dataclass(frozen=True)
class Alert:
    """One alert. ``key`` identifies what it is about (``"shop:anomaly:volume:orders"``):
    an alert whose key was sent within the de-duplication window is not sent again.

    Parameters
    ----------
    key
        What the alert is about, the same each time it recurs.
    title
        A one-line title.
    message
        The alert in words.
    severity
        ``info``, ``warning`` (the default) or ``critical``, as a
        [Severity][tillflow.monitor.alerts.Severity] or its name.
    pipeline
        The pipeline it concerns.
    run_id
        The run it concerns.
    details
        Extra facts, shown as fields (Slack) or lines (email).
    created_at
        When it was raised; by default now.

    Raises
    ------
    ConfigError
        If ``severity`` is not a severity.
    """

    key: str
    title: str
    message: str
    severity: Severity = Severity.WARNING
    pipeline: str | None = None
    run_id: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    created_at: dt.datetime = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity.parse(self.severity))
