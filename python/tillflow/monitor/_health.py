"""A pipeline's health from its run history: the share of runs that
succeeded, the errors they hit and how long ago one last succeeded."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
from typing import TYPE_CHECKING, Any, cast

import polars as pl

from tillflow._core.errors import config_error
from tillflow.monitor._runs import runs
from tillflow.warehouse.journal import RUNNING

if TYPE_CHECKING:
    from tillflow.warehouse import JournalReader

__all__ = ["Health", "HealthThresholds", "health"]

HEALTHY, DEGRADED, CRITICAL, UNKNOWN = "healthy", "degraded", "critical", "unknown"
_ORDER = {UNKNOWN: -1, HEALTHY: 0, DEGRADED: 1, CRITICAL: 2}


@dataclasses.dataclass(frozen=True)
class HealthThresholds:
    """When a pipeline stops being healthy. The defaults are the seed's: a
    success rate below 95% is degraded, more than 10 errors is critical.
    ``max_staleness`` (off by default) makes a pipeline whose last successful
    run is older than that degraded, and ``critical_staleness`` critical.

    Parameters
    ----------
    min_success_rate
        The share of runs (0 to 1) that must succeed.
    max_errors
        The most errors the runs may hit.
    max_staleness
        How old the last successful run may be before the pipeline is
        degraded; ``None`` for no limit.
    critical_staleness
        How old it may be before the pipeline is critical; ``None`` for no
        limit.

    Raises
    ------
    ConfigError
        If ``min_success_rate`` is not between 0 and 1 or ``max_errors`` is
        negative.
    """

    min_success_rate: float = 0.95
    max_errors: int = 10
    max_staleness: dt.timedelta | None = None
    critical_staleness: dt.timedelta | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_success_rate <= 1.0:
            raise config_error(f"min_success_rate must be between 0 and 1, got {self.min_success_rate!r}")
        if self.max_errors < 0:
            raise config_error(f"max_errors must be 0 or more, got {self.max_errors!r}")


@dataclasses.dataclass(frozen=True)
class Health:
    """A pipeline's health over a window of runs.

    Parameters
    ----------
    pipeline
        The pipeline's name.
    status
        ``healthy``, ``degraded``, ``critical`` or ``unknown`` (never ran).
    success_rate
        The share of finished runs in the window that succeeded; ``None``
        without any.
    runs
        The finished runs in the window.
    failed_runs
        How many of them did not complete.
    error_count
        The errors they hit.
    last_run
        When the latest run started.
    last_status
        The latest run's status.
    last_success
        When the last successful run finished.
    freshness
        Time since the last successful run ended (None when none succeeded).
    reasons
        Why the status is not ``healthy``.
    window
        The window, in words (``"7 days"``, ``"the last 10 runs"``).
    thresholds
        The thresholds applied.
    """

    pipeline: str
    status: str
    success_rate: float | None
    runs: int
    failed_runs: int
    error_count: int
    last_run: dt.datetime | None
    last_status: str | None
    last_success: dt.datetime | None
    #: Time since the last successful run ended (None when none succeeded).
    freshness: dt.timedelta | None
    reasons: tuple[str, ...]
    window: str
    thresholds: HealthThresholds

    @property
    def ok(self) -> bool:
        return self.status == HEALTHY

    def to_dict(self) -> dict[str, Any]:
        """The health as plain values (for JSON).

        Returns
        -------
        dict[str, Any]
            The fields, with ``freshness`` as ``freshness_s`` (seconds) and
            without the thresholds.
        """
        out = dataclasses.asdict(self)
        out["freshness_s"] = None if self.freshness is None else self.freshness.total_seconds()
        del out["freshness"], out["thresholds"]
        out["reasons"] = list(self.reasons)
        return out

    def __str__(self) -> str:
        rate = "n/a" if self.success_rate is None else f"{self.success_rate:.0%}"
        why = f" ({'; '.join(self.reasons)})" if self.reasons else ""
        return (
            f"{self.pipeline}: {self.status}{why} — {self.runs} runs in {self.window}, success {rate}, "
            f"{self.error_count} errors"
        )

    def _repr_html_(self) -> str:
        colour = {HEALTHY: "#36a64f", DEGRADED: "#ff9500", CRITICAL: "#ff0000"}.get(self.status, "#888")
        rate = "n/a" if self.success_rate is None else f"{self.success_rate:.1%}"
        last = "never"
        if self.last_run is not None:
            last = f"{self.last_run:%Y-%m-%d %H:%M:%S %Z} ({self.last_status})"
        rows = [
            ("status", f"<b style='color:{colour}'>{self.status}</b>"),
            ("success rate", rate),
            ("runs / failed", f"{self.runs} / {self.failed_runs}"),
            ("errors", str(self.error_count)),
            ("last run", html.escape(last)),
            ("since last success", "n/a" if self.freshness is None else html.escape(str(self.freshness))),
        ]
        if self.reasons:
            rows.append(("why", html.escape("; ".join(self.reasons))))
        body = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>" for k, v in rows)
        return f"<b>{html.escape(self.pipeline)}</b> over {html.escape(self.window)}<table>{body}</table>"


def health(
    warehouse: JournalReader,
    pipeline: str,
    *,
    window: dt.timedelta | int = dt.timedelta(days=7),
    thresholds: HealthThresholds | None = None,
    now: dt.datetime | None = None,
) -> Health:
    """``pipeline``'s health over its runs in ``window``: a time span back
    from now, or the last N runs (runs still running are left out; those
    whose process died count as failed). ``status`` is ``critical`` when the runs hit
    more than ``max_errors`` errors, ``degraded`` when fewer than
    ``min_success_rate`` of them succeeded (or the last success is staler
    than ``max_staleness``), else ``healthy``; ``unknown`` when the pipeline
    has never run.

    Parameters
    ----------
    warehouse
        The warehouse (or anything that reads its monitor tables).
    pipeline
        The pipeline's name.
    window
        A ``timedelta`` back from ``now``, or a number of runs (at least 1).
    thresholds
        When the pipeline stops being healthy; by default
        [HealthThresholds][tillflow.monitor.HealthThresholds]' defaults.
    now
        The time the window and staleness count back from; by default now.

    Returns
    -------
    Health
        The pipeline's health.

    Raises
    ------
    ConfigError
        If ``window`` is neither a ``timedelta`` nor a number of runs, or is
        below 1 run.
    WarehouseError
        If ``_tf_runs`` cannot be read.
    """
    limits = thresholds or HealthThresholds()
    now = now or dt.datetime.now(dt.timezone.utc)
    history = runs(warehouse, pipeline)
    if isinstance(window, int) and not isinstance(window, bool):
        if window < 1:
            raise config_error(f"window must be at least 1 run, got {window}")
        recent, label = history.tail(window), f"the last {window} runs"
    elif isinstance(window, dt.timedelta):
        recent, label = history.filter(pl.col("started_at") >= now - window), _span(window)
    else:
        raise config_error(f"window must be a timedelta or a number of runs, got {window!r}")
    succeeded = history.filter(pl.col("status") == "completed")
    last_success = cast("dt.datetime | None", succeeded["finished_at"].max() if succeeded.height else None)
    freshness = None if last_success is None else max(now - last_success, dt.timedelta(0))
    # A run still running has neither succeeded nor failed yet (one whose
    # process died was closed as interrupted by runs(), and counts as failed).
    recent = recent.filter(pl.col("status") != RUNNING)
    total = recent.height
    failed = recent.filter(pl.col("status") != "completed").height
    errors = int(recent["errors"].fill_null(0).sum()) if total else 0
    rate = None if total == 0 else (total - failed) / total
    last = history.row(-1, named=True) if history.height else None

    status, reasons = HEALTHY, []
    if history.height == 0:
        status, reasons = UNKNOWN, ["the pipeline has never run"]
    else:
        if rate is not None and rate < limits.min_success_rate:
            status = DEGRADED
            reasons.append(f"success rate {rate:.0%} is below {limits.min_success_rate:.0%}")
        if errors > limits.max_errors:
            status = CRITICAL
            reasons.append(f"{errors} errors is more than {limits.max_errors}")
        first = cast("dt.datetime", history["started_at"].min())
        stale = freshness if freshness is not None else now - first
        if limits.critical_staleness is not None and stale > limits.critical_staleness:
            status = CRITICAL
            allowed = _span(limits.critical_staleness)
            reasons.append(f"no successful run for {_span(stale)} (critical after {allowed})")
        elif limits.max_staleness is not None and stale > limits.max_staleness:
            status = _worse(status, DEGRADED)
            reasons.append(f"no successful run for {_span(stale)} (allowed {_span(limits.max_staleness)})")
        if total == 0:
            reasons.append(f"no runs in {label}")
    return Health(
        pipeline=pipeline,
        status=status,
        success_rate=rate,
        runs=total,
        failed_runs=failed,
        error_count=errors,
        last_run=None if last is None else last["started_at"],
        last_status=None if last is None else last["status"],
        last_success=last_success,
        freshness=freshness,
        reasons=tuple(reasons),
        window=label,
        thresholds=limits,
    )


def _worse(a: str, b: str) -> str:
    return a if _ORDER[a] >= _ORDER[b] else b


def _span(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("days", 86_400), ("hours", 3_600), ("minutes", 60)):
        if (seconds >= size and seconds % size == 0) or seconds >= 2 * size:
            n = round(seconds / size, 1)
            return f"{n:g} {unit}" if n != 1 else f"1 {unit[:-1]}"
    return f"{seconds} seconds"
