"""What every orchestrator's steps share: the warehouse's location (opened,
and shown with its password masked), the logger, a source from a spec, a
rule report as plain data, and which failures are worth a retry."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Union

from tillflow._core.errors import config_error
from tillflow._core.secrets import Secret, mask_password
from tillflow.exceptions import (
    AuthError,
    ConfigError,
    HttpError,
    RuleError,
    SchemaError,
    ValidationError,
)

if TYPE_CHECKING:
    from tillflow.warehouse import DeltaLake, DuckDBWarehouse, PostgresWarehouse

__all__ = ["Location", "Logger", "open_warehouse", "revealed", "shown", "worth_retrying"]

Logger = Union[logging.Logger, "logging.LoggerAdapter[logging.Logger]"]

_module_log = logging.getLogger("tillflow.integrations")

#: Where a step finds the warehouse: text, a path, a [Secret][tillflow.Secret], or any secret
#: string with ``get_secret_value()`` (pydantic's ``SecretStr``), so the orchestrator stores it masked.
Location = Union[str, "os.PathLike[str]", Secret, Any]

# Failures that come back the same however often a step is retried.
_PERMANENT = (ConfigError, AuthError, SchemaError, RuleError, ValidationError)


def worth_retrying(exc: BaseException) -> bool:
    """Whether a step that failed with ``exc`` may pass when run again:
    server errors, rate limits, timeouts, an unreachable warehouse are worth
    a retry; config errors, refused credentials, other 4xx answers, schema
    and rule errors are not.

    Parameters
    ----------
    exc
        The step's exception.

    Returns
    -------
    bool
        Whether to retry.
    """
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, HttpError):
        status = getattr(exc, "status", None)
        return status is None or status >= 500 or status in (408, 429)
    return True


def open_warehouse(location: Location) -> DuckDBWarehouse | PostgresWarehouse | DeltaLake:
    """The warehouse at ``location``: a ``postgresql://`` URL (its ``schema``
    query parameter picks the schema, default ``public``), ``delta:PATH`` for
    a Delta lake, or a DuckDB file path, any of them also as a secret string
    (see [from_url][tillflow.warehouse.from_url]).

    Parameters
    ----------
    location
        The location, as text, a path, a pydantic ``SecretStr`` or a
        [Secret][tillflow.Secret].

    Returns
    -------
    DuckDBWarehouse | PostgresWarehouse | DeltaLake
        The open warehouse; the caller closes it.

    Raises
    ------
    ConfigError
        If the location is not one of those forms.
    WarehouseError
        If the warehouse cannot be opened.
    """
    found = revealed(location)
    if isinstance(found, os.PathLike):
        found = os.fspath(found)
    if not isinstance(found, str) or not found:
        raise config_error(
            "warehouse: expected a DuckDB file path, delta:PATH or a postgresql:// URL, "
            f"got {type(found).__name__} {found!r}"
        )
    from tillflow import warehouse

    return warehouse.from_url(found)


def revealed(location: Location) -> Any:
    """A location's text, out of its secret wrapper."""
    if isinstance(location, Secret):
        return location.reveal()
    reveal = getattr(location, "get_secret_value", None)
    return reveal() if callable(reveal) else location


def shown(location: Location) -> str:
    """A warehouse location fit for a log line: a URL's password as ``***``."""
    return mask_password(os.fspath(revealed(location)))


@contextlib.contextmanager
def _warehouse(location: Location) -> Iterator[Any]:
    wh = open_warehouse(location)
    try:
        yield wh
    finally:
        wh.close()


def _log(log: Logger | None) -> Logger:
    return log if log is not None else _module_log


def _source(source: Any) -> Any:
    from tillflow.sources import Source, rest

    if isinstance(source, Source):
        return source
    if isinstance(source, (str, os.PathLike, Mapping)):
        return rest(source)
    raise config_error(
        "source: expected a tillflow source (tl.sources.*), a spec file path or a spec dict, "
        f"got {type(source).__name__}"
    )


def _report_dict(report: Any) -> dict[str, Any]:
    return {
        "rows": report.rows,
        "passed": report.passed,
        "summary": report.summary(),
        "failed_rules": [r.rule for r in report.failed],
        "checks": report.to_polars().to_dicts(),
    }
