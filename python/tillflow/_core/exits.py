"""The ``tillflow`` command's exit codes, one table for every command.

Scripts and schedulers tell outcomes apart by these alone: a check that
found something (degraded health, failing error rules) is not an error, and
errors say which side failed, so a cron job can retry a source outage but
page someone for a broken config.
"""

from __future__ import annotations

import signal

from tillflow.exceptions import (
    ConfigError,
    Interrupted,
    RuleError,
    SchemaError,
    SourceError,
    ValidationError,
    WarehouseError,
    WarehouseLocked,
)

__all__ = ["EXIT_CODES", "for_error", "for_health"]

OK = 0
NEGATIVE = 1  # a check's negative result: degraded health, failing error rules
USAGE = 2  # bad arguments, as argparse exits
CRITICAL = 3  # critical health
CONFIG = 2  # bad configuration, as bad arguments: a project, spec, rules or alerts file, option or path
SOURCE = 5  # a source could not be read (HTTP, auth, files, databases)
WAREHOUSE = 6  # the warehouse could not be opened, read or written
DATA = 7  # records do not fit their tables, or data broke error rules on purpose
LOCKED = 75  # another run or process held the warehouse past the wait (sysexits' EX_TEMPFAIL)
INTERNAL = 70  # a bug in tillflow (sysexits' EX_SOFTWARE)
SIGINT = 128 + signal.SIGINT  # 130: Ctrl-C stopped it
SIGTERM = 128 + signal.SIGTERM  # 143: SIGTERM stopped it

#: code -> meaning, as docs/reference/errors.md documents it.
EXIT_CODES = {
    OK: "success; health: healthy, or no runs yet",
    NEGATIVE: "a check's negative result: health degraded, validate found failing error rules",
    USAGE: "bad configuration or usage: an unknown command or option, an invalid or missing "
    "project file, spec, rules or alerts file, option or warehouse path",
    CRITICAL: "health critical",
    SOURCE: "a source failed: HTTP, authentication, files, databases",
    WAREHOUSE: "the warehouse could not be opened, read or written",
    DATA: "records do not fit their tables (schema contract), or data broke error rules",
    LOCKED: "locked: another tillflow run (or process) held the warehouse past the wait; the message "
    "names it by pid and start time. Try again later",
    INTERNAL: "internal error: a bug in tillflow",
    SIGINT: "stopped by Ctrl-C (SIGINT) at a safe point",
    SIGTERM: "stopped by SIGTERM at a safe point",
}

_HEALTH = {"healthy": OK, "unknown": OK, "degraded": NEGATIVE, "critical": CRITICAL}


def for_health(status: str) -> int:
    return _HEALTH[status]


def for_error(exc: BaseException) -> int:
    """The exit code of a command that ended with ``exc``."""
    if isinstance(exc, Interrupted):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return SIGINT
    for kind, code in (
        (ConfigError, CONFIG), (RuleError, CONFIG), (SourceError, SOURCE), (WarehouseLocked, LOCKED),
        (WarehouseError, WAREHOUSE),
        (SchemaError, DATA), (ValidationError, DATA),
    ):  # fmt: skip
        if isinstance(exc, kind):
            return code
    return INTERNAL  # TillflowError itself (an internal error) or an exception tillflow did not expect
