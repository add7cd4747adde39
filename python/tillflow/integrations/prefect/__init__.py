"""tillflow as Prefect 3 tasks, a ready flow for a shop and one for a project.

>>> from tillflow.integrations.prefect import project_flow, shop_flow
>>> shop_flow()  # the demo shop into tillflow.duckdb: load, metrics, health  # doctest: +SKIP
>>> project_flow("my_shop")  # a project folder: each source, the models, the metrics  # doctest: +SKIP

The tasks run the steps of `tillflow.integrations.steps`, which the Airflow
operators run too.

Each task takes the warehouse as a *location* (a DuckDB file path or a
``postgresql://`` URL), not an open warehouse: connections do not pickle and
a task may run in another thread or process. A task opens the warehouse,
does its work, closes it and returns plain data (dicts of text, numbers and
lists), which any Prefect result serializer stores. A failure raises
tillflow's own exception, unwrapped, so the task run's state message names
its type and text (``AuthError: ... 401 ...``).

Tasks are never cached (they load and write data). Retries are off by
default, since tillflow retries each HTTP request itself; turn them on with
``extract_load.with_options(retries=2, retry_delay_seconds=60)``. A retried
load resumes after its last committed batch, and errors that trying again
cannot fix (bad config, refused credentials, broken rules) are not retried.
"""

from tillflow.integrations.prefect._base import Location, retryable
from tillflow.integrations.prefect._flow import project_flow, shop_flow
from tillflow.integrations.prefect._tasks import (
    build_report,
    check_health,
    compute_metrics,
    extract_load,
    run_models,
    run_project,
    validate,
)
from tillflow.integrations.steps import open_warehouse

__all__ = [
    "Location",
    "build_report",
    "check_health",
    "compute_metrics",
    "extract_load",
    "open_warehouse",
    "project_flow",
    "retryable",
    "run_models",
    "run_project",
    "shop_flow",
    "validate",
]
