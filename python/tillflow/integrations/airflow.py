"""tillflow in Airflow: an operator for each step, and the same steps as
TaskFlow tasks.

    from airflow.sdk import dag
    from tillflow.integrations import airflow as tfa

    @dag(schedule="0 2 * * *")
    def shop():
        load = tfa.ExtractLoadOperator(task_id="load", source="specs/shop.toml",
                                       warehouse="/srv/shop/shop.duckdb", pipeline_name="shop")
        checked = tfa.ValidateOperator(task_id="validate", warehouse="/srv/shop/shop.duckdb",
                                       table="orders", rules="/srv/shop/rules/orders.yaml")
        load >> checked >> tfa.MetricsOperator(task_id="metrics", warehouse="/srv/shop/shop.duckdb")

    # or a whole project folder, one task per source, then the models, then the metrics:
    tfa.project_tasks("/srv/my_shop")

Each operator runs the step of the same name in `tillflow.integrations.steps`
(the Prefect tasks run them too), with the task's logger; its arguments are
the step's, and the text ones are templated (``"{{ ds }}"`` works). A step
returns plain data, which Airflow keeps as the task's XCom. A failure raises
tillflow's own exception, and a failure not worth a retry (bad config,
refused credentials, broken rules) is marked so Airflow does not retry it.

Needs Airflow 2.9 or later (tested with 3.3): ``pip install 'tillflow[airflow]'``.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from tillflow._core.extras import require
from tillflow.integrations import steps

require("airflow", "airflow", "tillflow.integrations.airflow")

try:  # Airflow 3
    from airflow.sdk import BaseOperator, task
except ImportError:  # Airflow 2
    from airflow.decorators import task  # type: ignore[no-redef,unused-ignore]
    from airflow.models import BaseOperator  # type: ignore[no-redef,unused-ignore]
try:
    from airflow.exceptions import AirflowFailException
except ImportError:  # pragma: no cover - every supported Airflow has it
    AirflowFailException = RuntimeError  # type: ignore[misc,assignment,unused-ignore]

__all__ = [
    "ExtractLoadOperator",
    "HealthOperator",
    "MetricsOperator",
    "ModelsOperator",
    "ProjectOperator",
    "ReportOperator",
    "ValidateOperator",
    "build_report",
    "check_health",
    "compute_metrics",
    "extract_load",
    "project_tasks",
    "run_models",
    "run_project",
    "validate",
]


def _run_step(step: Callable[..., Any], log: Any, arguments: dict[str, Any]) -> Any:
    """Run ``step``; a failure that running it again cannot fix fails the task without retries."""
    try:
        return step(**arguments, log=log)
    except Exception as exc:
        if steps.worth_retrying(exc):
            raise
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


class _StepOperator(BaseOperator):  # type: ignore[misc]
    """Runs one step of `tillflow.integrations.steps`; subclasses name it."""

    step: Callable[..., Any]
    ui_color = "#d8f0ec"

    def __init__(self, **kwargs: Any) -> None:
        names = [p for p in inspect.signature(type(self).step).parameters if p != "log"]
        self.arguments = {name: kwargs.pop(name) for name in names if name in kwargs}
        super().__init__(**kwargs)

    def execute(self, context: Any) -> Any:
        return _run_step(type(self).step, self.log, dict(self.arguments))


def _operator(step: Callable[..., Any], name: str) -> type[_StepOperator]:
    """An operator class for ``step``; Airflow renders the templates in its arguments."""
    doc = (
        f"Runs [{step.__name__}][tillflow.integrations.steps.{step.__name__}] as an Airflow task; "
        "its keyword arguments are the step's."
    )
    namespace = {
        "step": staticmethod(step), "template_fields": ("arguments",), "__doc__": doc, "__module__": __name__
    }  # fmt: skip
    return type(name, (_StepOperator,), namespace)


ExtractLoadOperator = _operator(steps.extract_load, "ExtractLoadOperator")
ValidateOperator = _operator(steps.validate, "ValidateOperator")
ModelsOperator = _operator(steps.run_models, "ModelsOperator")
MetricsOperator = _operator(steps.compute_metrics, "MetricsOperator")
HealthOperator = _operator(steps.check_health, "HealthOperator")
ReportOperator = _operator(steps.build_report, "ReportOperator")
ProjectOperator = _operator(steps.run_project, "ProjectOperator")


def _taskflow(step: Callable[..., Any], task_id: str) -> Any:
    """``step`` as a TaskFlow task (``@task``), logging to the task's logger."""

    def run(**kwargs: Any) -> Any:
        import logging

        return _run_step(step, logging.getLogger("airflow.task"), kwargs)

    run.__name__ = step.__name__
    run.__doc__ = step.__doc__
    params = [
        p.replace(kind=p.KEYWORD_ONLY) for p in inspect.signature(step).parameters.values() if p.name != "log"
    ]
    run.__signature__ = inspect.signature(step).replace(parameters=params)  # type: ignore[attr-defined]
    return task(task_id=task_id)(run)


extract_load = _taskflow(steps.extract_load, "tillflow_extract_load")
validate = _taskflow(steps.validate, "tillflow_validate")
run_models = _taskflow(steps.run_models, "tillflow_models")
compute_metrics = _taskflow(steps.compute_metrics, "tillflow_metrics")
check_health = _taskflow(steps.check_health, "tillflow_health")
build_report = _taskflow(steps.build_report, "tillflow_report")
run_project = _taskflow(steps.run_project, "tillflow_project")


def project_tasks(
    project: str,
    *,
    select: Sequence[str] | None = None,
    full_refresh: bool = False,
    wait: float | None = None,
) -> list[Any]:
    """A project's run as tasks of the DAG being defined: one per source
    (``load_<source>``), then ``models`` (with their rules), then
    ``metrics``, chained in that order. Call it inside a ``with DAG(...)`` block
    or a ``@dag`` function.

    Parameters
    ----------
    project
        The project's folder, or its ``tillflow.toml`` (read when the DAG is parsed, to know its sources).
    select
        Sources, models or ``metrics`` to run, with what they need; ``None`` for all.
    full_refresh
        Reload sources from scratch and rebuild incremental models.
    wait
        Seconds each task waits for a running run of the same warehouse.

    Returns
    -------
    list
        The operators, in the order they run.

    Raises
    ------
    ConfigError
        If the project is invalid.
    """
    from tillflow import project as projects

    config, models = projects.check(project)
    planned = projects.plan(config, models, select)
    common: dict[str, Any] = {"project": str(project), "full_refresh": full_refresh, "wait": wait}
    chain: list[Any] = [
        ProjectOperator(task_id=f"load_{name}", select=[name], kinds=["source"], **common)
        for name in planned.sources
    ]
    if planned.models:
        chain.append(ProjectOperator(task_id="models", select=planned.models, kinds=["model"], **common))
    if planned.metrics:
        chain.append(ProjectOperator(task_id="metrics", kinds=["metrics"], **common))
    if config.publish is not None or config.backup is not None:
        chain.append(ProjectOperator(task_id="upkeep", kinds=["publish", "backup"], **common))
    for before, after in itertools.pairwise(chain):
        before >> after
    return chain
