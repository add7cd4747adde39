"""A pipeline moves every resource of a source into a warehouse: fetch and
normalize natively, then load each batch in its own transaction."""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow._core.errors import config_error
from tillflow._core.logs import LOAD_WARNING, logger
from tillflow._core.progress import progress_bar
from tillflow._core.signals import StopGuard, is_stop, stop_error
from tillflow._loading import GroupLoad, hold_back, join_quarantine, write_mode_of
from tillflow.exceptions import TillflowError, WarehouseError
from tillflow.monitor import RunRecorder, write_run
from tillflow.sources import WRITE_MODES, Resource, Source
from tillflow.warehouse.loads import LoadSummary, new_load_id

if TYPE_CHECKING:
    from tillflow.sources import BatchStream
    from tillflow.warehouse import Warehouse

__all__ = ["Pipeline", "RunSummary", "pipeline"]

log = logger("tillflow.pipeline")


@dataclass
class RunSummary:
    """What one run loaded: a [LoadSummary][tillflow.warehouse.LoadSummary] per resource.

    ``row_counts`` sums the rows per table over the loads, ``total_rows``
    all of them, ``warnings`` what the loads' sources warned of (a text
    column that is mostly a null marker); ``to_polars()`` gives the loads
    as ``_tf_loads`` rows.

    Parameters
    ----------
    pipeline
        The pipeline's name.
    loads
        One [LoadSummary][tillflow.warehouse.LoadSummary] per resource loaded.
    seconds
        How long the run took.
    reports
        Validation reports by resource, for resources with rules.
    run_id
        The run's id in ``_tf_runs``.
    record
        What ``_tf_runs`` holds of the run.
    monitor
        What the pipeline's monitor found after the run.
    """

    pipeline: str
    loads: list[Any] = field(default_factory=list)
    seconds: float = 0.0
    #: Validation reports by resource, for resources with rules.
    reports: dict[str, Any] = field(default_factory=dict)
    #: The run's id in ``_tf_runs``.
    run_id: str = ""
    #: What ``_tf_runs`` holds of the run (rows per table, retries, schemas, metrics).
    record: Any = None
    #: What the pipeline's monitor found after the run (anomalies, health, alerts).
    monitor: Any = None

    @property
    def row_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for load in self.loads:
            for table, n in load.row_counts.items():
                out[table] = out.get(table, 0) + n
        return out

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())

    @property
    def warnings(self) -> list[str]:
        return [w for load in self.loads for w in load.warnings]

    def to_polars(self) -> pl.DataFrame:
        """The run's loads as rows of ``_tf_loads``.

        Returns
        -------
        polars.DataFrame
            One row per load; no rows when the run loaded nothing.
        """
        return pl.concat([load.to_polars() for load in self.loads]) if self.loads else pl.DataFrame()

    def __str__(self) -> str:
        parts = ", ".join(f"{t}={n:,}" for t, n in self.row_counts.items())
        head = f"{self.pipeline}: {len(self.loads)} loads, {self.total_rows:,} rows"
        return "\n".join(
            [f"{head} in {self.seconds:.2f}s ({parts})"] + [f"  warning: {w}" for w in self.warnings]
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{t}</td><td style='text-align:right'>{n:,}</td></tr>"
            for t, n in self.row_counts.items()
        )
        warned = "".join(f"<div style='color:#a60'>warning: {html.escape(w)}</div>" for w in self.warnings)
        return (
            f"<b>{self.pipeline}</b>: {self.total_rows:,} rows in {self.seconds:.2f}s"
            f"<table><tr><th>table</th><th>rows</th></tr>{rows}</table>{warned}"
        )


class Pipeline:
    """``source`` → normalize → ``warehouse``, one resource after another.

    Every run is recorded in ``_tf_runs`` as ``running`` when it starts; when
    it ends, completed, failed or interrupted, the row is replaced by its
    final one and its measures (rows, null rates, freshness, duration, rule
    failure rates) go to ``_tf_run_metrics``. Runs a killed process left
    ``running`` are closed as ``interrupted`` when the next run starts. A
    ``monitor`` ([Monitor][tillflow.monitor.Monitor]) then looks for anomalies
    and sends alerts; it never fails the run.

    In the main thread, SIGTERM and Ctrl-C stop a run at a safe point (see
    `tillflow._core.signals`): committed batches stay, the open one is
    finished or rolled back, the run and its load are recorded
    ``interrupted`` and [Interrupted][tillflow.exceptions.Interrupted] (or
    ``KeyboardInterrupt``) is raised.

    Parameters
    ----------
    name
        The pipeline's name: the key of its stored state and its runs.
    source
        The [Source][tillflow.sources.Source] to load.
    warehouse
        The warehouse to load into (see [Warehouse][tillflow.warehouse.Warehouse]).
    monitor
        A [Monitor][tillflow.monitor.Monitor] that checks every run.

    Raises
    ------
    ConfigError
        If ``name`` is empty.
    """

    def __init__(self, name: str, source: Source, warehouse: Warehouse, *, monitor: Any = None) -> None:
        if not name:
            raise config_error("pipeline name must not be empty")
        self.name = name
        self.source = source
        self.warehouse = warehouse
        self.monitor = monitor

    def run(
        self,
        *,
        write_mode: str | None = None,
        resources: Sequence[str] | None = None,
        full_refresh: bool = False,
        progress: bool = False,
    ) -> RunSummary:
        """Loads every resource (or those named). ``write_mode`` overrides each
        resource's own; ``full_refresh`` ignores stored cursors. On a failure
        the batches already loaded stay, the load is marked failed in
        ``_tf_loads`` and the error is raised with ``.load_summary`` set.

        Parameters
        ----------
        write_mode
            ``append``, ``replace``, ``merge`` or ``scd2`` for every resource;
            ``None`` keeps each resource's own (``merge`` with a primary key,
            else ``append``).
        resources
            Names of the resources to load, in that order; ``None`` for all.
        full_refresh
            Ignore the stored cursors and read everything again.
        progress
            Show a progress bar.

        Returns
        -------
        RunSummary
            What the run loaded, its id and what the monitor found.

        Raises
        ------
        ConfigError
            If ``write_mode`` is unknown, a resource name is unknown, or a
            ``merge`` or ``scd2`` resource has no primary key.
        SourceError
            If a source cannot be read (``HttpError`` for a failed request,
            ``AuthError`` for refused credentials).
        SchemaError
            If records do not fit their table, or a ``freeze`` contract
            refuses a change.
        RuleError
            If a resource's rules cannot be applied to its rows.
        WarehouseError
            If a batch cannot be written, or the run cannot be recorded in
            ``_tf_runs``.
        Interrupted
            If SIGTERM stopped the run (``KeyboardInterrupt`` for Ctrl-C).
        """
        if write_mode is not None and write_mode not in WRITE_MODES:
            raise config_error(f"write_mode: must be one of {', '.join(WRITE_MODES)}, got {write_mode!r}")
        source = self.source.with_resources(*resources) if resources else self.source
        started = time.perf_counter()
        summary = RunSummary(self.name, run_id=new_load_id()[0])
        log.info("run %s of %s started", summary.run_id, self.name,
                 extra={"pipeline": self.name, "run_id": summary.run_id})  # fmt: skip
        self.warehouse.close_interrupted()  # runs a killed process left open count as interrupted
        recorder = RunRecorder(self.name, summary.run_id)
        with StopGuard() as guard:
            self.warehouse.begin_run(recorder.start_row())
            try:
                with progress_bar(progress) as bar:
                    for resource in source.resources:
                        if getattr(resource, "grouped", False):
                            group = GroupLoad(self, resource, write_mode, summary, recorder)
                            group.run(full_refresh, bar, guard)
                            continue
                        load = self._load(resource, write_mode, full_refresh, bar, summary, recorder, guard)
                        summary.loads.append(load)
            except BaseException as exc:
                if is_stop(exc):
                    recorder.stopped(str(exc) or type(exc).__name__)
                else:
                    recorder.failed(exc)
                summary.seconds = time.perf_counter() - started
                self._finish_run(summary, recorder, exc)
                raise
            summary.seconds = time.perf_counter() - started
            self._finish_run(summary, recorder, None)
            if guard.requested is not None:
                # The signal came as the last load finished: the run is
                # complete, and the process still stops as it was asked to.
                stop = stop_error(guard.requested)
                stop.run_summary = summary  # type: ignore[attr-defined]
                raise stop
        return summary

    def _finish_run(self, summary: RunSummary, recorder: RunRecorder, failure: BaseException | None) -> None:
        """Write the run to ``_tf_runs``, then let the monitor look at it. A
        failed run's error stays the error raised: a failure to record it is
        logged and noted on it."""
        record = recorder.finish(summary.row_counts)
        summary.record = record
        fields = {
            "pipeline": self.name, "run_id": record.run_id, "status": record.status,
            "rows": record.total_rows, "row_counts": record.row_counts, "retries": record.retries,
            "duration_s": round(record.duration_s, 3),
        }  # fmt: skip
        if failure is None:
            log.info(
                "run %s of %s completed: %d rows", record.run_id, self.name, record.total_rows, extra=fields
            )
        elif record.status == "interrupted":
            log.warning("run %s of %s %s", record.run_id, self.name, record.error, extra=fields)
        else:
            log.error("run %s of %s failed: %s", record.run_id, self.name, record.error, extra=fields)
        if failure is not None:
            failure.run_summary = summary  # type: ignore[attr-defined]
        try:
            write_run(self.warehouse, record)
        except Exception as exc:
            self.warehouse.abandon_run(record.run_id)
            message = f"pipeline {self.name!r}: run {record.run_id} could not be recorded in _tf_runs: {exc}"
            if failure is None:
                raise WarehouseError(f"{message} (its batches are loaded)") from exc
            log.error(message)
            if hasattr(failure, "add_note"):  # Python 3.11+
                failure.add_note(message)
            return
        if self.monitor is not None:
            summary.monitor = self.monitor.after_run(record, self.warehouse)

    def _load(
        self,
        resource: Resource,
        write_mode: str | None,
        full_refresh: bool,
        bar: Any,
        summary: RunSummary,
        recorder: RunRecorder,
        guard: StopGuard,
    ) -> Any:
        wh = self.warehouse
        recorder.resource(resource.name)
        mode = write_mode_of(resource, write_mode)
        stored = None
        if not full_refresh and mode != "replace":
            stored = wh.get_state(self.name, resource.name)
        stream = resource.open(stored)
        load = wh.begin_load(
            self.name,
            resource.name,
            mode,
            resource.primary_key or None,
            schema_contract=resource.schema_contract or "evolve",
            run_id=summary.run_id,
        )
        task = bar.add_task(resource.name, total=None) if bar else None
        checking = resource.rules.validation(missing_columns="null") if resource.rules is not None else None
        root = None
        try:
            for batch in guard.batches(stream):
                state = batch.get("state")
                # A source may hold rows back itself (bad rows) and ask for
                # rows it loaded before to be deleted (a changed file); scd2
                # keeps them as history and versions the rows by key instead.
                tables, quarantine = batch["tables"], batch.get("quarantine") or None
                replaces = batch.get("delete") if mode != "scd2" else None
                delete = {"delete_where": replaces} if replaces else {}
                if not tables and state is None and not quarantine and not delete:
                    continue
                if checking is not None and tables:
                    root = root or next(iter(tables))
                    tables, held = hold_back(checking, tables)
                    quarantine = join_quarantine(quarantine, held)
                wh.write_batch(load, tables, state=state, quarantine=quarantine, **delete)
                recorder.batch(resource.name, tables, state)
                if task is not None:
                    bar.update(task, advance=batch["records"])
                guard.check()  # a signal during the batch stops the run now that it is committed
            if checking is not None:
                report = checking.finish()
                summary.reports[resource.name] = report
                results = report.to_polars()
                wh.record_rule_results(
                    results, run_id=load.load_id, pipeline=self.name, resource=resource.name,
                    table=root or resource.name,
                )  # fmt: skip
                recorder.rule_rates(root or resource.name, results)
        except TillflowError as e:
            stream.close()
            recorder.retries += getattr(stream, "retries", 0)
            e.load_summary = self._warned(wh.finish_load(load, "failed", str(e)), stream, recorder)  # type: ignore[attr-defined]
            summary.loads.append(e.load_summary)  # type: ignore[attr-defined]
            raise
        except BaseException as e:
            stream.close()
            recorder.retries += getattr(stream, "retries", 0)
            if is_stop(e):
                why = f"interrupted: {str(e) or type(e).__name__}"
                ended = wh.finish_load(load, "interrupted", why)
            else:
                ended = wh.finish_load(load, "failed", f"{type(e).__name__}: {e}")
            summary.loads.append(self._warned(ended, stream, recorder))
            raise
        recorder.retries += getattr(stream, "retries", 0)
        return self._warned(wh.finish_load(load, "completed"), stream, recorder)

    def _warned(self, load: LoadSummary, stream: BatchStream, recorder: RunRecorder) -> LoadSummary:
        """The load's summary with what its source warned of (a file
        source's text column that is mostly a null marker), each warning
        logged and kept for the run's row in ``_tf_runs``."""
        warnings = tuple(getattr(stream, "warnings", ()))
        if not warnings:
            return load
        fields = {
            "pipeline": self.name,
            "run_id": load.run_id,
            "resource": load.resource,
            "kind": LOAD_WARNING,
        }
        for warning in warnings:
            log.warning("%s", warning, extra=fields)
        recorder.warnings.extend(warnings)
        return replace(load, warnings=warnings)

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, source={self.source!r}, warehouse={self.warehouse!r})"


def pipeline(name: str, source: Source, warehouse: Warehouse, *, monitor: Any = None) -> Pipeline:
    """A pipeline named ``name`` (the key of its stored state); ``monitor``
    (a [Monitor][tillflow.monitor.Monitor]) checks every run for anomalies and alerts.

    Parameters
    ----------
    name
        The pipeline's name.
    source
        The [Source][tillflow.sources.Source] to load.
    warehouse
        The warehouse to load into.
    monitor
        A [Monitor][tillflow.monitor.Monitor] that checks every run.

    Returns
    -------
    Pipeline
        The pipeline; ``run()`` loads.

    Raises
    ------
    ConfigError
        If ``name`` is empty.
    """
    return Pipeline(name, source, warehouse, monitor=monitor)
