"""The contract every warehouse fulfils, as callers see it.

A pipeline, the rules, the monitor, the report and the metrics take a
:class:`Warehouse`: DuckDB, PostgreSQL and the lake each satisfy it, and
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

    Loads: :meth:`begin_load`, then :meth:`write_batch` per batch (each
    batch, its ``_tf_loads`` counts and its source state commit together),
    then :meth:`finish_load`. Reads: :meth:`query` (the engine's SQL),
    :meth:`read` and :meth:`read_batches` (named columns through Arrow) and
    the bookkeeping tables. The monitor's journal (``_tf_runs`` and its
    companions) goes through :meth:`write_journal` and the run methods.
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
    ) -> LoadHandle: ...

    def write_batch(
        self,
        load: LoadHandle,
        tables: Mapping[str, pl.DataFrame],
        state: Mapping[str, Any] | None = ...,
        *,
        quarantine: Mapping[str, pl.DataFrame] | None = ...,
        delete_where: Mapping[str, Sequence[Any]] | None = ...,
    ) -> dict[str, int]: ...

    def finish_load(self, load: LoadHandle, status: str = ..., error: str | None = ...) -> LoadSummary: ...

    def get_state(self, pipeline: str, resource: str) -> dict[str, Any] | None: ...

    def record_rule_results(
        self,
        results: pl.DataFrame,
        *,
        run_id: str,
        pipeline: str,
        resource: str,
        table: str,
        checked_at: dt.datetime | None = ...,
    ) -> int: ...

    def replace_tables(self, frames: Mapping[str, pl.DataFrame]) -> None: ...

    # -- reads

    def query(self, sql: str, params: Sequence[Any] | None = ...) -> pl.DataFrame: ...

    def tables(self) -> list[str]: ...

    def row_counts(self) -> dict[str, int]: ...

    def has_column(self, table: str, column: str) -> bool: ...

    def read(
        self, table: str, columns: Sequence[str], where: str | None = ..., params: Sequence[Any] = ...
    ) -> pl.DataFrame | None: ...

    def read_batches(
        self,
        table: str,
        columns: Sequence[str],
        where: str | None = ...,
        params: Sequence[Any] = ...,
        *,
        rows: int = ...,
    ) -> Iterator[pl.DataFrame] | None: ...

    def loads(self) -> pl.DataFrame: ...

    def schema_changes(self) -> pl.DataFrame: ...

    def rule_results(self) -> pl.DataFrame: ...

    # -- the monitor's journal

    def write_journal(self, frames: Mapping[str, pl.DataFrame]) -> None: ...

    def journal(self, table: str) -> pl.DataFrame: ...

    def begin_run(self, row: pl.DataFrame) -> None: ...

    def finish_run(self, frames: Mapping[str, pl.DataFrame]) -> None: ...

    def abandon_run(self, run_id: str) -> None: ...

    def close_interrupted(self, *, now: dt.datetime | None = ...) -> pl.DataFrame: ...

    def close(self) -> None: ...


class JournalReader(Protocol):
    """What the monitor's readers need: the journal's tables. A warehouse is
    one; so are tables read from it once and kept (a metrics scrape)."""

    def journal(self, table: str) -> pl.DataFrame: ...
