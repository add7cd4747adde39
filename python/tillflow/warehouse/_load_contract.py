"""The loading side of the contract every warehouse fulfils: a load from
its start to its end, batch by batch, the source state stored with each
batch, and the tables written whole (rule results, the metrics' tables).

`LoadTarget` is what a pipeline loads through;
[Warehouse][tillflow.warehouse.Warehouse] builds on it with the reads and
the monitor's journal.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import polars as pl

from tillflow.warehouse.loads import LoadHandle, LoadSummary, SchemaContract, WriteMode

__all__ = ["LoadTarget"]


class LoadTarget(Protocol):
    """What tillflow loads into: loads, their batches and the source state,
    and tables written whole."""

    def begin_load(
        self,
        pipeline: str,
        resource: str,
        write_mode: str | WriteMode = ...,
        primary_key: Sequence[str] | None = ...,
        *,
        root_table: str | None = ...,
        schema_contract: str | SchemaContract = ...,
        scd2_close_missing: bool = ...,
        run_id: str | None = ...,
    ) -> LoadHandle:
        """Start a load and record it in ``_tf_loads`` as ``running``.

        Parameters
        ----------
        pipeline
            The pipeline's name.
        resource
            The resource's name; with ``pipeline``, the key of the stored state.
        write_mode
            ``append`` (the default), ``replace``, ``merge`` or ``scd2`` (see
            [WriteMode][tillflow.warehouse.WriteMode]).
        primary_key
            The root table's key columns; ``merge`` and ``scd2`` need one.
        root_table
            The root table; by default the first table of the first batch
            (``resource`` when a replace load ends without a batch).
        schema_contract
            What batches may change in the tables (see
            [SchemaContract][tillflow.warehouse.SchemaContract]); ``evolve`` by default.
        scd2_close_missing
            For ``scd2`` only: when the load completes, close the current
            versions of keys none of its batches brought.
        run_id
            The pipeline run the load belongs to, so a run found interrupted
            closes its loads too.

        Returns
        -------
        LoadHandle
            The load, to pass to ``write_batch`` and ``finish_load``.

        Raises
        ------
        WarehouseError
            If the write mode or contract is unknown, a keyed mode has no
            primary key, ``scd2_close_missing`` is set without ``scd2``, the
            warehouse is read-only, or the load cannot be recorded.
        """
        ...

    def write_batch(
        self,
        load: LoadHandle,
        tables: Mapping[str, pl.DataFrame],
        state: Mapping[str, Any] | None = ...,
        *,
        quarantine: Mapping[str, pl.DataFrame] | None = ...,
        delete_where: Mapping[str, Sequence[Any]] | None = ...,
    ) -> dict[str, int]:
        """Write one batch (root table first) as one transaction.

        The batch's rows, its schema changes, the load's running counts in
        ``_tf_loads`` and ``state`` commit together or not at all; on failure
        the batch is rolled back and earlier batches stay.

        Parameters
        ----------
        load
            The load from ``begin_load``, not yet finished.
        tables
            ``{table: frame}``, the root table first, then its child tables.
        state
            The source's state to store with the batch (JSON-able), or
            ``None`` to leave the stored state as it is.
        quarantine
            ``{"<table>__quarantine": frame}``: rows held back, appended
            whatever the write mode.
        delete_where
            ``{column: values}``: rows of the root table, its child tables
            and its quarantine table to delete first.

        Returns
        -------
        dict[str, int]
            The rows written per table.

        Raises
        ------
        WarehouseError
            If the batch is refused (a finished load, no table and no state,
            a ``_tf_`` table name, a missing or null key, a state JSON cannot
            hold) or fails to write; the message names the table, and the
            column when one is to blame.
        SchemaError
            If the ``freeze`` contract refuses a change to a table.
        """
        ...

    def finish_load(self, load: LoadHandle, status: str = ..., error: str | None = ...) -> LoadSummary:
        """Close a load: record its end, status, error and row counts.

        A completed replace load that wrote no batch empties its tables; a
        completed scd2 load with ``scd2_close_missing`` closes the versions
        of the keys it did not bring.

        Parameters
        ----------
        load
            The load to close.
        status
            ``"completed"`` (the default), ``"failed"`` or ``"interrupted"``.
        error
            What went wrong, for a load that did not complete.

        Returns
        -------
        LoadSummary
            What the load wrote, as its row of ``_tf_loads``.

        Raises
        ------
        WarehouseError
            If ``status`` is unknown, the load is already finished, or its
            end cannot be recorded.
        """
        ...

    def get_state(self, pipeline: str, resource: str) -> dict[str, Any] | None:
        """The source state committed with the last successful batch.

        Parameters
        ----------
        pipeline
            The pipeline's name.
        resource
            The resource's name.

        Returns
        -------
        dict[str, Any] | None
            The state, or ``None`` when none was stored.
        """
        ...

    def record_rule_results(
        self,
        results: pl.DataFrame,
        *,
        run_id: str,
        pipeline: str,
        resource: str,
        table: str,
        checked_at: dt.datetime | None = ...,
    ) -> int:
        """Append a validation report's rows to ``_tf_rule_results``.

        Parameters
        ----------
        results
            ``Report.to_polars()`` of the report.
        run_id
            The run (or load) the report belongs to.
        pipeline
            The pipeline's name.
        resource
            The resource's name.
        table
            The table the rules checked.
        checked_at
            When; by default now.

        Returns
        -------
        int
            The rows written.

        Raises
        ------
        WarehouseError
            If the rows cannot be written.
        """
        ...

    def replace_tables(self, frames: Mapping[str, pl.DataFrame]) -> None:
        """Create or replace each table with its frame, together where the engine can.

        Parameters
        ----------
        frames
            ``{table: frame}``; names starting with ``_tf_`` are tillflow's
            own and refused.

        Raises
        ------
        WarehouseError
            If a name is empty or starts with ``_tf_``, or the tables cannot
            be written.
        """
        ...
