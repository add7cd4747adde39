"""tillflow's steps (`tillflow.integrations.steps`) as Prefect tasks: each
runs its step with the task run's logger, is never cached (the steps load
and write data), and is retried only for failures worth a retry."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from tillflow.integrations import steps
from tillflow.integrations.prefect._base import _logger, retryable

__all__ = [
    "build_report",
    "check_health",
    "compute_metrics",
    "extract_load",
    "run_models",
    "run_project",
    "validate",
]


def _task(step: Callable[..., Any], name: str, run_name: str | None = None) -> Any:
    """``step`` as a Prefect task logging to the run's logger; its docstring and signature are the step's."""

    @functools.wraps(step)
    def run(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("log") is None:  # Prefect passes every parameter, defaults included
            kwargs["log"] = _logger()
        return step(*args, **kwargs)

    options: dict[str, Any] = {"name": name, "cache_policy": NO_CACHE, "retry_condition_fn": retryable}
    if run_name is not None:
        options["task_run_name"] = run_name
    return task(**options)(run)


extract_load = _task(steps.extract_load, "tillflow-extract-load", "extract-load-{pipeline_name}")
validate = _task(steps.validate, "tillflow-validate", "validate-{table}")
compute_metrics = _task(steps.compute_metrics, "tillflow-metrics")
build_report = _task(steps.build_report, "tillflow-report")
check_health = _task(steps.check_health, "tillflow-health", "health-{pipeline}")
run_models = _task(steps.run_models, "tillflow-models")
run_project = _task(steps.run_project, "tillflow-project")
