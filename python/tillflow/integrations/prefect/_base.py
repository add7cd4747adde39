"""What the tasks share: opening the warehouse at a location (and showing it
with its password masked), Prefect's run logger, a source from a spec, a rule
report as plain data, and which failures are worth a retry."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from pydantic import SecretStr

from tillflow._core.errors import config_error
from tillflow._core.secrets import MASK, Secret
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


_module_log = logging.getLogger("tillflow.integrations.prefect")


def _store_secrets_masked() -> None:
    """Prefect stores a flow run's parameters as FastAPI's ``jsonable_encoder``
    writes them. Taught that a [Secret][tillflow.Secret] is ``***``, it stores a source
    passed to a flow with its credentials masked; otherwise it could not
    encode the source at all and would keep only a placeholder for it."""
    try:
        from fastapi.encoders import ENCODERS_BY_TYPE
    except ImportError:  # pragma: no cover - a Prefect without FastAPI stores the placeholder
        return
    ENCODERS_BY_TYPE.setdefault(Secret, lambda _: MASK)


_store_secrets_masked()


# Failures that come back the same however often a task is retried.
_PERMANENT = (ConfigError, AuthError, SchemaError, RuleError, ValidationError)


Location = str | os.PathLike[str] | SecretStr | Secret
"""Where a task finds the warehouse. A URL holding a password may be passed
as ``pydantic.SecretStr`` (or ``tl.monitor.Secret``): Prefect then stores the
flow-run parameter masked."""


def open_warehouse(location: Location) -> DuckDBWarehouse | PostgresWarehouse | DeltaLake:
    """The warehouse at ``location``: a ``postgresql://`` URL (its ``schema``
    query parameter picks the schema, default ``public``), ``delta:PATH`` for
    a Delta lake, or a DuckDB file path, any of them also as a ``SecretStr``
    or ``Secret`` (see [from_url][tillflow.warehouse.from_url]).

    Parameters
    ----------
    location
        The location, as text, a path, a ``SecretStr`` or a
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
    location = _revealed(location)
    if isinstance(location, os.PathLike):
        location = os.fspath(location)
    if not isinstance(location, str) or not location:
        raise config_error(
            "warehouse: expected a DuckDB file path, delta:PATH or a postgresql:// URL, "
            f"got {type(location).__name__} {location!r}"
        )
    from tillflow import warehouse

    return warehouse.from_url(location)


def _revealed(location: Location) -> str | os.PathLike[str]:
    if isinstance(location, SecretStr):
        return location.get_secret_value()
    if isinstance(location, Secret):
        return location.reveal()
    return location


def _shown(location: Location) -> str:
    """A warehouse location fit for a log line: a URL's password as ``***``."""
    from tillflow._core.secrets import mask_password

    return mask_password(os.fspath(_revealed(location)))


@contextlib.contextmanager
def _warehouse(location: Location) -> Iterator[Any]:
    wh = open_warehouse(location)
    try:
        yield wh
    finally:
        wh.close()


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """Prefect's run logger inside a run; tillflow's own when a task's ``.fn`` is called directly."""
    try:
        return get_run_logger()
    except MissingContextError:
        return _module_log


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


def retryable(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's ``retry_condition_fn`` for tillflow's tasks: retry what may
    pass next time (server errors, rate limits, timeouts, an unreachable
    warehouse), not config errors, refused credentials, other 4xx answers,
    schema or rule errors.

    Parameters
    ----------
    task
        The task (unused).
    task_run
        The task run (unused).
    state
        The failed run's state; its ``data`` is the exception.

    Returns
    -------
    bool
        Whether to retry.
    """
    exc = getattr(state, "data", None)
    if not isinstance(exc, BaseException):
        return True
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, HttpError):
        status = getattr(exc, "status", None)
        return status is None or status >= 500 or status in (408, 429)
    return True
