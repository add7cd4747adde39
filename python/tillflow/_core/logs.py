"""Structured logs for tillflow, with secrets kept out of them.

``configure_logging()`` puts one handler on the ``"tillflow"`` logger that
writes a JSON object per line (timestamp, level, logger, message and any
``extra=`` fields). Every line goes through `RedactingFilter` first,
which masks what [redact][tillflow.redact] masks.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import IO, Any

from tillflow._core.errors import config_error
from tillflow._core.secrets import redact

__all__ = ["LOAD_WARNING", "RedactingFilter", "configure_logging", "logger"]

#: The ``kind`` of a log record repeating a load's warning, which the run's summary shows too.
LOAD_WARNING = "load_warning"

_lock = threading.Lock()


# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def _redact_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redact_value(v) for v in value]
    text = str(value)
    masked = redact(text)
    # Objects whose text shows no secret keep their type for the formatter.
    return value if masked == text else masked


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message, arguments, ``extra=`` fields,
    traceback and stack text, in place, so every handler downstream sees the
    masked record. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it, it is not ours to hide
            message = None
        if message is not None:
            masked = redact(message)
            if masked != message:
                record.msg, record.args = masked, None
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_ATTRS:
                record.__dict__[name] = _redact_value(value)
        if record.exc_info and record.exc_info[0] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            masked = redact(text)
            if masked != text:
                # Formatters print exc_text when exc_info is gone, so the clear traceback is never rendered.
                record.exc_text, record.exc_info = masked, None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def logger(name: str) -> logging.Logger:
    """The named logger with the redacting filter attached, so even records
    that reach other handlers (pytest's ``caplog``, an application's own
    setup) never carry a registered secret."""
    log = logging.getLogger(name)
    if _FILTER not in log.filters:
        log.addFilter(_FILTER)
    return log


class _TillflowHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler ``configure_logging`` installed, so a second call replaces it."""


def _json_formatter() -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,  # ISO 8601 in UTC, from the record's creation time
    )


def _parse_level(level: int | str) -> int:
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str):
        named = logging.getLevelName(level.strip().upper())
        if isinstance(named, int):
            return named
    raise config_error(
        f"level must be a logging level name (DEBUG, INFO, WARNING, ERROR, CRITICAL) or number, got {level!r}"
    )


def configure_logging(
    level: int | str = "INFO", *, json: bool = True, stream: IO[str] | None = None
) -> logging.Handler:
    """Send tillflow's logs to ``stream`` (standard error by default), one JSON
    object per line (``json=False``: plain text), at ``level`` and above, with
    secrets masked. Calling it again replaces the handler it installed before
    rather than adding a second one. Records still propagate to the root
    logger's handlers. Returns the handler.

    Parameters
    ----------
    level
        The lowest level logged: a name (``"DEBUG"``, ``"info"``) or a number.
    json
        One JSON object per line (``level``, ``logger``, ``message``, a UTC
        timestamp and any ``extra=`` fields); ``False`` for plain text.
    stream
        Where the lines go; standard error by default.

    Returns
    -------
    logging.Handler
        The handler installed on the ``tillflow`` logger.

    Raises
    ------
    ConfigError
        If ``level`` is not a level name or number.
    """
    numeric = _parse_level(level)
    log = logger("tillflow")
    handler = _TillflowHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(
        _json_formatter() if json else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(_FILTER)
    with _lock:
        for old in [h for h in log.handlers if isinstance(h, _TillflowHandler)]:
            log.removeHandler(old)
            old.close()
        log.addHandler(handler)
        log.setLevel(numeric)
    return handler
