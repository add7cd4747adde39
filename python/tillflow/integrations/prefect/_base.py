"""What the Prefect tasks add to the steps: Prefect's run logger, the
retry condition, and a Prefect that stores tillflow's secrets masked."""

from __future__ import annotations

import logging
import os
from typing import Any

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from pydantic import SecretStr

from tillflow._core.secrets import MASK, Secret
from tillflow.integrations.steps import worth_retrying

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


Location = str | os.PathLike[str] | SecretStr | Secret
"""Where a task finds the warehouse. A URL holding a password may be passed
as ``pydantic.SecretStr`` (or ``tl.Secret``): Prefect then stores the
flow-run parameter masked."""


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """Prefect's run logger inside a run; tillflow's own when a task's ``.fn`` is called directly."""
    try:
        return get_run_logger()
    except MissingContextError:
        return _module_log


def retryable(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's ``retry_condition_fn`` for tillflow's tasks: retry what may
    pass next time ([worth_retrying][tillflow.integrations.steps.worth_retrying]).

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
    return worth_retrying(exc) if isinstance(exc, BaseException) else True
