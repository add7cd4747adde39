"""The load lifecycle every warehouse shares: `WarehouseBase` owns the
steps of a load, a batch and a load's end, in the order every engine takes
them; an engine brings the statements of each step.

A batch: check it; stage each table (root first, then quarantine tables);
start the transaction; empty the root's family (the first batch of a
replace load); delete what ``delete_where`` names; write each table
(creating and evolving it under the load's schema contract, deleting what a
merge or an scd2 change replaces); then count the rows, record them and the
source state and commit. Anything failing rolls the whole batch back and,
unless it already says so, raises a ``WarehouseError`` naming the table and
the column at fault.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow.exceptions import SchemaError, WarehouseError
from tillflow.warehouse import journal
from tillflow.warehouse._batch import (
    Step,
    add_counts,
    batch_written,
    check_batch,
    check_finish,
    empties_at_finish,
    finished,
    rule_results_frame,
    start_load,
    state_text,
)
from tillflow.warehouse._reads import check_replaceable
from tillflow.warehouse.loads import LoadHandle, LoadSummary, SchemaContract, WriteMode

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Batch", "WarehouseBase"]


@dataclasses.dataclass
class Batch:
    """A batch (or a load's end) in flight, from one step to the next."""

    load: LoadHandle
    root: str
    step: Step
    staged: list[Any] = dataclasses.field(default_factory=list)
    #: The engine's own (a transaction's handles, a commit stamp).
    engine: Any = None

    @property
    def first_of_replace(self) -> bool:
        return self.load.write_mode is WriteMode.REPLACE and self.load.batches == 0

    @property
    def drops_rows(self) -> bool:
        """Whether rows may be left out together with their child rows: those
        a ``discard_row`` contract refuses, and scd2 rows that did not change."""
        load = self.load
        return load.schema_contract is SchemaContract.DISCARD_ROW or load.write_mode is WriteMode.SCD2


class WarehouseBase(journal.Journal):
    """The load lifecycle every warehouse shares; subclasses bring the engine.

    One warehouse object is one connection; its methods are serialized with a lock.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def close(self) -> None:  # pragma: no cover - every warehouse overrides it
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- a load's start

    def begin_load(
        self,
        pipeline: str,
        resource: str,
        write_mode: str | WriteMode = WriteMode.APPEND,
        primary_key: Sequence[str] | None = None,
        *,
        root_table: str | None = None,
        schema_contract: str | SchemaContract = SchemaContract.EVOLVE,
        scd2_close_missing: bool = False,
        run_id: str | None = None,
    ) -> LoadHandle:
        """Start a load and record it in ``_tf_loads`` as ``running``.

        ``root_table`` defaults to the first table of the first batch; replace
        mode uses ``root_table or resource`` when the load ends without a batch.
        ``schema_contract`` (see [SchemaContract][tillflow.warehouse.SchemaContract]) says whether batches
        may add columns and widen types. ``scd2_close_missing`` (scd2 only)
        closes, when the load completes, the current versions of keys none of
        its batches brought: for resources that extract every row every run.
        ``run_id`` ties the load to its pipeline run, so a run found
        interrupted closes its loads too.
        """
        if self.read_only:
            raise WarehouseError(f"warehouse {self!r} is opened read-only; it cannot load {resource!r}")
        load = start_load(
            pipeline, resource, write_mode, primary_key, root_table=root_table,
            schema_contract=schema_contract, scd2_close_missing=scd2_close_missing, run_id=run_id,
        )  # fmt: skip
        with self._lock:
            self._record_begin(load)
        return load

    # -- a batch

    def write_batch(
        self,
        load: LoadHandle,
        tables: Mapping[str, pl.DataFrame],
        state: Mapping[str, Any] | None = None,
        *,
        quarantine: Mapping[str, pl.DataFrame] | None = None,
        delete_where: Mapping[str, Sequence[Any]] | None = None,
    ) -> dict[str, int]:
        """Write one batch (root table first) as one transaction; returns rows written per table.

        The batch's rows, its schema changes, the load's running counts in
        ``_tf_loads`` and ``state`` (the source's, in ``_tf_state``) commit
        together or not at all. ``quarantine`` holds rows held back by
        validation, as ``{"<table>__quarantine": frame}``; they are appended
        whatever the write mode. ``delete_where`` (``{column: values}``)
        first deletes the rows of the root table, its child tables and its
        quarantine table whose column holds one of the values (a changed
        file's earlier rows). On failure the whole batch is rolled back,
        earlier batches stay, and a ``WarehouseError`` names the table (and
        the column, when one is to blame).
        """
        root = check_batch(load, tables, state, quarantine)
        if state is not None:
            state_text(load, state)  # refused before anything is written
        written: dict[str, int] = {}
        with self._lock:
            batch = Batch(load, root, Step(root))
            step = batch.step
            try:
                try:
                    for position, (table, frame) in enumerate(tables.items()):
                        step.table = table
                        batch.staged.append(self._stage(load, table, frame, is_root=position == 0))
                    for table, frame in (quarantine or {}).items():
                        step.table = table
                        if frame.height:
                            batch.staged.append(self._stage(load, table, frame, is_root=False, plain=True))
                    step.table = root
                    self._start_batch(batch)
                    if batch.first_of_replace and tables:
                        self._empty_family(batch)
                    if delete_where:
                        self._delete_where(batch, delete_where)
                    for item in batch.staged:
                        step.table, step.column = item.table, None
                        written[item.table] = self._write_table(batch, item)
                    step.column = None
                    counts = add_counts(load.row_counts, written)
                    self._commit_batch(batch, counts, state)
                except BaseException:
                    # Cleaning up after a failed statement may fail in turn (an aborted
                    # transaction refuses everything): the first failure is the one to report.
                    with contextlib.suppress(Exception):
                        self._end_batch(batch)
                    raise
                self._end_batch(batch)
            except BaseException as exc:
                self._abort(batch, exc)
                if isinstance(exc, (WarehouseError, SchemaError)) or not isinstance(exc, Exception):
                    raise
                step.column = self._column_at_fault(batch, exc) or step.column
                where = f"table {step.table!r}" + (f", column {step.column!r}" if step.column else "")
                raise WarehouseError(f"load {load.load_id}: batch failed at {where}: {exc}") from exc
        load.row_counts = counts
        batch_written(load, tables, root)
        return written

    # -- a load's end

    def finish_load(
        self, load: LoadHandle, status: str = "completed", error: str | None = None
    ) -> LoadSummary:
        """Close a load: record its end, status, error and row counts.

        A completed replace load that wrote no batch empties its root table
        and child tables here, with its end; a failed one leaves them. A
        completed scd2 load with ``scd2_close_missing`` closes the current
        versions of the keys it did not bring, with its end.
        """
        check_finish(load, status)
        finished_at = dt.datetime.now(dt.timezone.utc)
        with self._lock:
            batch = Batch(load, load.root_table or load.resource, Step(load.root_table or load.resource))
            try:
                try:
                    emptying = empties_at_finish(load, status)
                    closing = load.scd2_close_missing and status == "completed"
                    self._start_finish(batch, emptying or closing)
                    if emptying:
                        self._empty_family(batch)
                    if closing:
                        self._close_missing(batch)
                    self._commit_finish(batch, status, finished_at, error)
                finally:
                    self._end_finish(batch)
            except BaseException as exc:
                self._abort(batch, exc)
                if not isinstance(exc, Exception):
                    raise
                raise WarehouseError(f"cannot finish load {load.load_id}: {exc}") from exc
        return finished(load, status, finished_at, error)

    # -- tables written whole

    def record_rule_results(
        self,
        results: pl.DataFrame,
        *,
        run_id: str,
        pipeline: str,
        resource: str,
        table: str,
        checked_at: dt.datetime | None = None,
    ) -> int:
        """Append a validation report's rows (``Report.to_polars()``) to
        ``_tf_rule_results``, so rule outcomes have a history. Returns rows written."""
        if results.height == 0:
            return 0
        frame = rule_results_frame(results, run_id, pipeline, resource, table, checked_at)
        with self._lock:
            try:
                self._append_rule_results(frame)
            except Exception as exc:
                raise WarehouseError(f"cannot record rule results of {pipeline}/{resource}: {exc}") from exc
        return frame.height

    def replace_tables(self, frames: Mapping[str, pl.DataFrame]) -> None:
        """Creates or replaces each table with its frame, all in one transaction
        where the engine has them (DuckDB, PostgreSQL: readers see every
        table's old contents or every table's new ones; the Delta lake: one
        commit per table). A name starting with ``_tf_`` is refused: those
        are tillflow's own."""
        check_replaceable(frames)
        with self._lock:
            try:
                self._replace(frames)
            except Exception as exc:
                raise WarehouseError(f"cannot write tables {', '.join(map(repr, frames))}: {exc}") from exc

    # -- what an engine brings

    if TYPE_CHECKING:  # an engine may bring these from a mixin after this class

        def _append_rule_results(self, frame: pl.DataFrame) -> None:
            """Append rows to ``_tf_rule_results`` and commit (rolling back on failure)."""

        def _replace(self, frames: Mapping[str, pl.DataFrame]) -> None:
            """Create or replace the tables and commit (rolling back on failure)."""

    def _record_begin(self, load: LoadHandle) -> None:  # pragma: no cover - every warehouse overrides it
        """Record the load as ``running``."""
        raise NotImplementedError

    def _stage(self, load: LoadHandle, table: str, frame: pl.DataFrame, *, is_root: bool,
               plain: bool = False) -> Any:  # pragma: no cover  # fmt: skip
        """Check one frame and ready it for writing (``plain``: quarantine rows)."""
        raise NotImplementedError

    def _start_batch(self, batch: Batch) -> None:  # pragma: no cover
        """Begin the batch's transaction, once every table is staged."""
        raise NotImplementedError

    def _empty_family(self, batch: Batch) -> None:  # pragma: no cover
        """Delete every row of the root table and its child tables."""
        raise NotImplementedError

    def _delete_where(self, batch: Batch, where: Mapping[str, Sequence[Any]]) -> None:  # pragma: no cover
        """Delete the rows of the root's family and quarantine table whose column holds a value."""
        raise NotImplementedError

    def _write_table(self, batch: Batch, item: Any) -> int:  # pragma: no cover
        """Write one staged table (schema changes, what it replaces, its rows); returns rows written."""
        raise NotImplementedError

    def _commit_batch(self, batch: Batch, counts: dict[str, int], state: Mapping[str, Any] | None) -> None:
        """Record the load's counts and the state, and commit."""  # pragma: no cover
        raise NotImplementedError

    def _end_batch(self, batch: Batch) -> None:
        """Release what the batch held (views, temporary tables), committed or not."""

    def _abort(self, batch: Batch, exc: BaseException) -> None:  # pragma: no cover
        """Roll back whatever the batch (or the load's end) wrote."""
        raise NotImplementedError

    def _column_at_fault(self, batch: Batch, exc: BaseException) -> str | None:
        """After a failure the step did not pin on a column, the column to blame, if one is."""
        return None

    def _start_finish(self, batch: Batch, changes_tables: bool) -> None:
        """Begin the transaction of a load's end (``changes_tables``: it
        empties tables or closes versions, not only records the end)."""

    def _close_missing(self, batch: Batch) -> None:  # pragma: no cover
        """Close the current versions of the keys the scd2 load did not bring."""
        raise NotImplementedError

    def _commit_finish(
        self, batch: Batch, status: str, finished_at: dt.datetime, error: str | None
    ) -> None:  # pragma: no cover
        """Record the load's end in ``_tf_loads`` and commit."""
        raise NotImplementedError

    def _end_finish(self, batch: Batch) -> None:
        """Release what the load held to its end (the keys an scd2 load brought)."""
