"""tillflow's one exception tree, rooted at [TillflowError][tillflow.exceptions.TillflowError].

The classes live in the native module so Rust and Python raise the same
types. Catch ``TillflowError`` to catch anything tillflow raises on purpose.

- ``ConfigError``: a spec, option or argument is invalid (names the field).
- ``SourceError``: a source could not be read (a malformed page, ...).
  - ``HttpError``: an HTTP request failed; has ``status`` and ``url``.
    - ``AuthError``: 401/403, the credentials were refused.
- ``SchemaError``: records do not fit their table.
- ``RuleError``: a validation rule is invalid.
- ``ValidationError``: data broke error-severity checks (``Report.raise_for_errors``).
- ``StepsFailed``: a project run had steps that failed (``ProjectRun.raise_for_failures``).
- ``WarehouseError``: the warehouse could not be written.
  - ``WarehouseLocked``: another process held the warehouse's write lock
    past the wait; has ``path``, ``pid`` and ``started`` (that process's
    start time, when known).
    - ``RunLocked``: another run of the same warehouse is running
      (``tillflow run`` exits 75).
- ``InternalError``: a bug in tillflow (native code failed where it never
  should); the message says what was being done. Please report it.

Outside the tree, as ``KeyboardInterrupt`` is (so ``except Exception``
never swallows a request to stop): ``Interrupted``, raised when SIGTERM
stops a pipeline run at a safe point; ``exit_code`` is 143 (128 + 15).
"""

from __future__ import annotations

from typing import Any

from tillflow._native import (
    AuthError,
    ConfigError,
    HttpError,
    InternalError,
    RuleError,
    SchemaError,
    SourceError,
    TillflowError,
    ValidationError,
    WarehouseError,
)

__all__ = [
    "AuthError",
    "ConfigError",
    "HttpError",
    "InternalError",
    "Interrupted",
    "RuleError",
    "RunLocked",
    "SchemaError",
    "SourceError",
    "StepsFailed",
    "TillflowError",
    "ValidationError",
    "WarehouseError",
    "WarehouseLocked",
]


class WarehouseLocked(WarehouseError):
    """Another process holds the warehouse's lock (DuckDB lets one process
    write, or many read) and kept it past the wait.

    Parameters
    ----------
    message
        What happened, naming the file and the process.
    path
        The warehouse file.
    pid
        The process holding it, when known.
    started
        When that process started (ISO 8601), when known.
    """

    def __init__(self, message: str, *, path: str, pid: int | None, started: str | None) -> None:
        super().__init__(message)
        self.path = path
        self.pid = pid
        self.started = started


class RunLocked(WarehouseLocked):
    """Another run of the same warehouse is running (``tillflow run`` exits 75,
    sysexits' ``EX_TEMPFAIL``: try again later). See
    [run_lock][tillflow.warehouse.run_lock].

    Parameters
    ----------
    message
        What happened, naming what is locked and the running process.
    path
        What is locked: the lock file, or the PostgreSQL schema.
    pid
        The running run's process id, when known.
    started
        When that process took the lock (ISO 8601), when known.
    """


class StepsFailed(TillflowError):
    """A project run finished with steps that failed or were skipped
    ([ProjectRun.raise_for_failures][tillflow.project.ProjectRun.raise_for_failures]);
    ``run`` is the [ProjectRun][tillflow.project.ProjectRun].

    Parameters
    ----------
    message
        Each step that did not run, and why.
    run
        The project run.
    """

    def __init__(self, message: str, *, run: Any) -> None:
        super().__init__(message)
        self.run = run


class Interrupted(BaseException):
    """A signal (SIGTERM) stopped a run between batches: what was committed
    stays, the run and its load are recorded ``interrupted``.

    Parameters
    ----------
    signum
        The signal's number; ``signal`` keeps it and ``exit_code`` is 128
        plus it.
    """

    def __init__(self, signum: int) -> None:
        import signal

        self.signal = signum
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")
