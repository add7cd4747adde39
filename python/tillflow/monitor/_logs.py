"""Structured logs for tillflow, with secrets kept out of them.

``configure_logging()`` puts one handler on the ``"tillflow"`` logger that
writes a JSON object per line (timestamp, level, logger, message and any
``extra=`` fields). Every line goes through :class:`RedactingFilter` first,
which masks each value passed to :func:`register_secret` (webhook URLs,
routing keys, passwords: the alert channels register theirs) and, whether
registered or not, the password in a URL's userinfo and the value of
``token=``/``key=``-style query parameters.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import urllib.parse
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

from tillflow.exceptions import ConfigError

__all__ = ["RedactingFilter", "Secret", "configure_logging", "logger", "redact", "register_secret"]

MASK = "***"
# Shorter values would mask ordinary words all over the logs; Secret's repr still hides them.
_MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_secret_pattern: re.Pattern[str] | None = None

# scheme://user:password@host -> scheme://***@host
_USERINFO = re.compile(r"(?<=://)[^/\s?#@'\"]+@")
# ?token=abc, &api_key=abc, &routing_key=abc, &password=abc, &sig=abc -> ***
_QUERY_SECRET = re.compile(
    r"(?i)([?&;][\w.\-]*(?:token|key|secret|password|passwd|pwd|sig|signature|auth)=)[^&;#\s'\"]+"
)


def register_secret(value: str | Secret | None) -> None:
    """Mask ``value`` wherever it would appear in a log line from now on (in the
    message, its arguments, ``extra=`` fields and tracebacks), percent-encoded
    too. Empty values and values shorter than four characters are ignored."""
    global _secret_pattern
    if isinstance(value, Secret):
        value = value.reveal()
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    variants = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value, safe="")}
    with _lock:
        if variants <= _secrets:
            return
        _secrets.update(variants)
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _secret_pattern = re.compile("|".join(re.escape(s) for s in ordered))


def redact(text: str) -> str:
    """``text`` with every registered secret, URL password and secret-looking
    query value replaced by ``***``."""
    pattern = _secret_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _USERINFO.sub(MASK + "@", text)
    return _QUERY_SECRET.sub(r"\1" + MASK, text)


class Secret:
    """A credential (webhook URL, routing key, password) that shows as ``***``
    in ``repr``/``str`` and is registered with the log redactor (unless
    ``register=False``: a value whose secret parts are registered one by one).
    ``reveal()`` gives the value to the code that must send it."""

    __slots__ = ("_value",)

    def __init__(self, value: str, *, register: bool = True) -> None:
        if not isinstance(value, str):
            raise ConfigError(f"invalid config: a secret must be a string, got {type(value).__name__}")
        self._value = value
        if register:
            register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        # Pickling would write the value out in clear; channels are rebuilt from settings instead.
        raise TypeError("a Secret cannot be pickled")


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
    raise ConfigError(
        f"invalid config: level must be a logging level name (DEBUG, INFO, WARNING, ERROR, CRITICAL) "
        f"or number, got {level!r}"
    )


def configure_logging(
    level: int | str = "INFO", *, json: bool = True, stream: IO[str] | None = None
) -> logging.Handler:
    """Send tillflow's logs to ``stream`` (standard error by default), one JSON
    object per line (``json=False``: plain text), at ``level`` and above, with
    secrets masked. Calling it again replaces the handler it installed before
    rather than adding a second one. Records still propagate to the root
    logger's handlers. Returns the handler."""
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
