"""The contract every warehouse fulfils, as callers see it.

A pipeline, the rules, the monitor, the report and the metrics take a
[Warehouse][tillflow.warehouse.Warehouse]: DuckDB, PostgreSQL and the lake each satisfy it, and
anything else that does (a test double, a new engine) can stand in. The
methods are the whole public surface a caller may rely on; engine-only
extras (``DuckDBWarehouse.connection``, ``DeltaLake.vacuum``) are not part
of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import polars as pl

from tillflow.warehouse.loads import LoadHandle, LoadSummary, SchemaContract, WriteMode

__all__ = ["JournalReader", "Warehouse"]


class Warehouse(Protocol):
    """What tillflow loads into and reads from.

    Loads: [begin_load][tillflow.warehouse.Warehouse.begin_load], then
    [write_batch][tillflow.warehouse.Warehouse.write_batch] per batch (each
    batch, its ``_tf_loads`` counts and its source state commit together),
    then [finish_load][tillflow.warehouse.Warehouse.finish_load]. Reads:
    [query][tillflow.warehouse.Warehouse.query] (the engine's SQL),
    [read][tillflow.warehouse.Warehouse.read] and
    [read_batches][tillflow.warehouse.Warehouse.read_batches] (named columns
    through Arrow) and the bookkeeping tables. The monitor's journal
    (``_tf_runs`` and its companions) goes through
    [write_journal][tillflow.warehouse.Warehouse.write_journal] and the run methods.
    """

    read_only: bool
    #: The zone timestamps are read back in, and dates are cut in.
    timezone: str

    # -- loads

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

    # -- reads

    def query(self, sql: str, params: Sequence[Any] | None = ...) -> pl.DataFrame:
        """Run SQL in the engine's dialect and return the result.

        Parameters
        ----------
        sql
            The statement. Placeholders follow the engine: ``?`` in DuckDB
            and the Delta lake, ``$1, $2 …`` in PostgreSQL.
        params
            The placeholders' values.

        Returns
        -------
        polars.DataFrame
            The rows; empty for a statement without rows.

        Raises
        ------
        WarehouseError
            If the statement fails.
        """
        ...

    def tables(self) -> list[str]:
        """The loaded tables, tillflow's own ``_tf_*`` tables left out.

        Returns
        -------
        list[str]
            Their names.
        """
        ...

    def row_counts(self) -> dict[str, int]:
        """The rows of every loaded table.

        Returns
        -------
        dict[str, int]
            Rows by table name.
        """
        ...

    def has_column(self, table: str, column: str) -> bool:
        """Whether ``table`` exists and has ``column`` (matched case-insensitively).

        Parameters
        ----------
        table
            The table's name.
        column
            The column's name.

        Returns
        -------
        bool
            ``False`` also when the table does not exist.
        """
        ...

    def read(
        self, table: str, columns: Sequence[str], where: str | None = ..., params: Sequence[Any] = ...
    ) -> pl.DataFrame | None:
        """Named columns of a table, read through Arrow.

        Parameters
        ----------
        table
            The table's name.
        columns
            The columns to read; none reads every column.
        where
            An SQL condition on the rows, with ``?`` placeholders.
        params
            The placeholders' values.

        Returns
        -------
        polars.DataFrame | None
            The rows, or ``None`` when the table does not exist.

        Raises
        ------
        WarehouseError
            If the table lacks a column (the message lists those it has), or
            the read fails.
        """
        ...

    def read_batches(
        self,
        table: str,
        columns: Sequence[str],
        where: str | None = ...,
        params: Sequence[Any] = ...,
        *,
        rows: int = ...,
    ) -> Iterator[pl.DataFrame] | None:
        """[read][tillflow.warehouse.Warehouse.read] as a stream of frames.

        The warehouse stays locked until the stream is exhausted or closed.

        Parameters
        ----------
        table
            The table's name.
        columns
            The columns to read.
        where
            An SQL condition on the rows, with ``?`` placeholders.
        params
            The placeholders' values.
        rows
            The most rows a frame holds.

        Returns
        -------
        Iterator[polars.DataFrame] | None
            The frames, or ``None`` when the table does not exist.

        Raises
        ------
        WarehouseError
            If the table lacks a column, or (as the stream is read) the read
            fails.
        """
        ...

    def loads(self) -> pl.DataFrame:
        """``_tf_loads``: every load, oldest first (``row_counts`` as JSON text).

        Returns
        -------
        polars.DataFrame
            One row per load.
        """
        ...

    def schema_changes(self) -> pl.DataFrame:
        """``_tf_schema_changes``: every table created, column added and type widened.

        Returns
        -------
        polars.DataFrame
            One row per change, oldest first.
        """
        ...

    def rule_results(self) -> pl.DataFrame:
        """``_tf_rule_results``: the outcome of every check of every run with rules.

        Returns
        -------
        polars.DataFrame
            One row per check and run, oldest first.
        """
        ...

    # -- the monitor's journal

    def write_journal(self, frames: Mapping[str, pl.DataFrame]) -> None:
        """Append rows to monitor tables, all of them in one transaction.

        Parameters
        ----------
        frames
            ``{table: frame}`` for ``_tf_runs``, ``_tf_run_metrics``,
            ``_tf_anomalies`` or ``_tf_alerts``; missing columns are null.

        Raises
        ------
        WarehouseError
            If a table is not a monitor table, a frame has a column its table
            lacks, or the rows cannot be written.
        """
        ...

    def journal(self, table: str) -> pl.DataFrame:
        """A monitor table, oldest row first.

        Parameters
        ----------
        table
            ``_tf_runs``, ``_tf_run_metrics``, ``_tf_anomalies`` or ``_tf_alerts``.

        Returns
        -------
        polars.DataFrame
            The table, in its columns' types.

        Raises
        ------
        WarehouseError
            If ``table`` is not a monitor table.
        """
        ...

    def begin_run(self, row: pl.DataFrame) -> None:
        """Record a run as ``running``; until it finishes, this process counts it as alive.

        Parameters
        ----------
        row
            The run's one row of ``_tf_runs``.

        Raises
        ------
        WarehouseError
            If the row cannot be written.
        """
        ...

    def finish_run(self, frames: Mapping[str, pl.DataFrame]) -> None:
        """Replace a run's ``running`` row with its final one and add its other rows.

        Parameters
        ----------
        frames
            The run's final row in ``frames["_tf_runs"]``, and its rows of
            the other monitor tables.

        Raises
        ------
        WarehouseError
            If the rows cannot be written.
        """
        ...

    def abandon_run(self, run_id: str) -> None:
        """Stop counting a run as alive without writing it; the next check finds it interrupted.

        Parameters
        ----------
        run_id
            The run's id.
        """
        ...

    def close_interrupted(self, *, now: dt.datetime | None = ...) -> pl.DataFrame:
        """Close the runs still ``running`` whose process is gone as ``interrupted``, with their loads.

        A warehouse opened read-only writes nothing and shows them so in the
        frame.

        Parameters
        ----------
        now
            When they are closed; by default now.

        Returns
        -------
        polars.DataFrame
            ``_tf_runs`` as it stands after closing them.

        Raises
        ------
        WarehouseError
            If they cannot be closed.
        """
        ...

    def close(self) -> None:
        """Close the warehouse's connections; it cannot be used afterwards."""
        ...


class JournalReader(Protocol):
    """What the monitor's readers need: the journal's tables. A warehouse is
    one; so are tables read from it once and kept (a metrics scrape)."""

    def journal(self, table: str) -> pl.DataFrame:
        """A monitor table, oldest row first.

        Parameters
        ----------
        table
            ``_tf_runs``, ``_tf_run_metrics``, ``_tf_anomalies`` or ``_tf_alerts``.

        Returns
        -------
        polars.DataFrame
            The table.
        """
        ...
