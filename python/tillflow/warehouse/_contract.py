"""The contract every warehouse fulfils, as callers see it.

A pipeline, the rules, the monitor, the report and the metrics take a
[Warehouse][tillflow.warehouse.Warehouse]: DuckDB, PostgreSQL and the lake each satisfy it, and
anything else that does (a test double, a new engine) can stand in. The
methods are the whole public surface a caller may rely on; engine-only
extras (``DuckDBWarehouse.connection``, ``DeltaLake.vacuum``) are not part
of it. The loading side (a load, its batches, the state and the tables
written whole) is `LoadTarget`, in `_load_contract`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import polars as pl

from tillflow.warehouse._load_contract import LoadTarget

__all__ = ["JournalReader", "Warehouse"]


class Warehouse(LoadTarget, Protocol):
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
