"""tillflow as Prefect 3 tasks, and a ready flow for a shop.

>>> from tillflow.integrations.prefect import shop_flow
>>> shop_flow()  # the demo shop into tillflow.duckdb: load, metrics, health  # doctest: +SKIP

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

from tillflow.integrations.prefect._base import Location, open_warehouse, retryable
from tillflow.integrations.prefect._flow import shop_flow
from tillflow.integrations.prefect._tasks import (
    build_report,
    check_health,
    compute_metrics,
    extract_load,
    validate,
)

__all__ = [
    "Location",
    "build_report",
    "check_health",
    "compute_metrics",
    "extract_load",
    "open_warehouse",
    "retryable",
    "shop_flow",
    "validate",
]
