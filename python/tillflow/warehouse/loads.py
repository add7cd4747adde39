"""Loads as every warehouse sees them: write modes, the handle of a load in
progress, the summary of a finished one, and load ids."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import threading
import uuid
from enum import Enum

import polars as pl

__all__ = [
    "LOAD_ID_COLUMN",
    "VALID_FROM_COLUMN",
    "VALID_TO_COLUMN",
    "LoadHandle",
    "LoadSummary",
    "WriteMode",
    "new_load_id",
]

LOAD_ID_COLUMN = "_tf_load_id"
# The versions an scd2 load keeps: valid from the load that wrote them until
# the load that replaced them (NULL while a version is current).
VALID_FROM_COLUMN = "_tf_valid_from"
VALID_TO_COLUMN = "_tf_valid_to"


class SchemaContract(str, Enum):
    """What a load may change in the tables it writes to.

    ``evolve`` adds columns and widens types (every change is recorded in
    ``_tf_schema_changes``); ``freeze`` refuses any change to an existing
    table, naming the column and both types; ``discard_row`` keeps the
    tables as they are and leaves out every row that does not fit them (a
    value in a new column, or one the column's type cannot hold exactly),
    with the child rows under it; ``discard_value`` keeps those rows but
    nulls the values that do not fit. A table that does not exist yet is
    created under every contract: the first load defines the schema.
    """

    EVOLVE = "evolve"
    FREEZE = "freeze"
    DISCARD_ROW = "discard_row"
    DISCARD_VALUE = "discard_value"


class WriteMode(str, Enum):
    """How a load writes into existing tables.

    ``append`` adds the rows; ``replace`` swaps the root table and its child
    tables for the load's rows; ``merge`` replaces the rows whose primary key
    the load brings (with their child rows) and adds the others; ``scd2``
    keeps every version of a row: a row whose columns differ from its current
    version closes that version (``_tf_valid_to``) and is added as the new
    current one (``_tf_valid_from``, ``_tf_valid_to`` NULL), an unchanged row
    writes nothing. See [LoadHandle][tillflow.warehouse.LoadHandle] for closing rows a full extract
    no longer holds.
    """

    APPEND = "append"
    REPLACE = "replace"
    MERGE = "merge"
    SCD2 = "scd2"

    @property
    def keyed(self) -> bool:
        """Whether the mode matches rows on the primary key."""
        return self in (WriteMode.MERGE, WriteMode.SCD2)


_id_lock = threading.Lock()
_last_id_micros = 0
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def new_load_id() -> tuple[str, dt.datetime]:
    """A load id that sorts by start time, even for loads begun in the same microsecond."""
    global _last_id_micros
    now = dt.datetime.now(dt.timezone.utc)
    with _id_lock:
        micros = max((now - _EPOCH) // dt.timedelta(microseconds=1), _last_id_micros + 1)
        _last_id_micros = micros
    stamp = _EPOCH + dt.timedelta(microseconds=micros)
    # The random suffix keeps ids unique across processes writing one file.
    return f"{stamp:%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex[:8]}", stamp


@dataclasses.dataclass
class LoadHandle:
    """A load in progress; pass it to ``write_batch`` and ``finish_load``.

    ``scd2_close_missing``: when a completed scd2 load ends, the current
    versions of keys that none of its batches brought are closed (for
    resources that extract every row on every run).

    Made by [Warehouse.begin_load][tillflow.warehouse.Warehouse.begin_load],
    not by hand.

    Parameters
    ----------
    load_id
        The load's id, sorting by start time.
    pipeline
        The pipeline's name.
    resource
        The resource's name.
    write_mode
        How the load writes.
    primary_key
        The root table's key columns, or ``None``.
    started_at
        When the load began (UTC).
    root_table
        The root table, once known.
    schema_contract
        What the load may change in its tables.
    scd2_close_missing
        Whether a completed scd2 load closes the keys it did not bring.
    run_id
        The pipeline run the load belongs to.
    row_counts
        Rows written so far, by table.
    batches
        Batches committed so far.
    finished
        Whether the load has ended.
    """

    load_id: str
    pipeline: str
    resource: str
    write_mode: WriteMode
    primary_key: tuple[str, ...] | None
    started_at: dt.datetime
    root_table: str | None = None
    schema_contract: SchemaContract = SchemaContract.EVOLVE
    scd2_close_missing: bool = False
    #: The pipeline run the load belongs to (None for a load begun on its own).
    run_id: str | None = None
    row_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    batches: int = 0
    finished: bool = False

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())


@dataclasses.dataclass(frozen=True)
class LoadSummary:
    """What a finished load wrote; mirrors its row in ``_tf_loads``.

    Parameters
    ----------
    load_id
        The load's id.
    pipeline
        The pipeline's name.
    resource
        The resource's name.
    write_mode
        ``append``, ``replace``, ``merge`` or ``scd2``.
    status
        ``completed``, ``failed`` or ``interrupted``.
    started_at
        When the load began (UTC).
    finished_at
        When it ended (UTC).
    row_counts
        Rows written, by table.
    total_rows
        Rows written in all.
    error
        What went wrong, for a load that did not complete.
    run_id
        The pipeline run the load belongs to.
    warnings
        What the source found worth saying of the data it read, such as a
        text column that is mostly one null marker (``'None'``). Not a
        column of ``_tf_loads``: the run's row in ``_tf_runs`` keeps them.
    """

    load_id: str
    pipeline: str
    resource: str
    write_mode: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime
    row_counts: dict[str, int]
    total_rows: int
    error: str | None = None
    run_id: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def duration(self) -> dt.timedelta:
        return self.finished_at - self.started_at

    def to_polars(self) -> pl.DataFrame:
        """One row with the ``_tf_loads`` columns (``row_counts`` as JSON text).

        Returns
        -------
        polars.DataFrame
            The summary as one row.
        """
        row = dataclasses.asdict(self)
        del row["warnings"]
        row["row_counts"] = json.dumps(self.row_counts)
        stamp = pl.Datetime("us", "UTC")
        schema: dict[str, pl.DataType] = {
            "started_at": stamp, "finished_at": stamp, "total_rows": pl.Int64(), "error": pl.String(),
            "run_id": pl.String(),
        }  # fmt: skip
        return pl.DataFrame([row], schema_overrides=schema)

    def __str__(self) -> str:
        head = (
            f"load {self.load_id} ({self.pipeline}/{self.resource}, {self.write_mode}): "
            f"{self.status}, {self.total_rows} rows in {self.duration.total_seconds():.2f}s"
        )
        lines = [head] + [f"  {table}: {rows}" for table, rows in self.row_counts.items()]
        if self.error:
            lines.append(f"  error: {self.error}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        rows = "".join(
            f"<tr><td>{esc(table)}</td><td style='text-align:right'>{count}</td></tr>"
            for table, count in self.row_counts.items()
        )
        error = f"<div style='color:#b00'>{esc(self.error)}</div>" if self.error else ""
        error += "".join(f"<div style='color:#a60'>warning: {esc(w)}</div>" for w in self.warnings)
        return (
            f"<div><b>{esc(self.pipeline)}/{esc(self.resource)}</b> "
            f"<code>{esc(self.load_id)}</code> {esc(self.write_mode)}: <b>{esc(self.status)}</b>, "
            f"{self.total_rows} rows in {self.duration.total_seconds():.2f}s{error}"
            f"<table><tr><th>table</th><th>rows</th></tr>{rows}</table></div>"
        )
