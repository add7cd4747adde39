"""What every warehouse checks and prepares the same way, whatever its engine:
starting a load, the shape of a batch, keys within a batch, summing up a
finished load, the rows of ``_tf_rule_results``, the text of a stored state
and a root table's family.

`WarehouseBase` takes these steps for
every engine; the decisions stay here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from tillflow.exceptions import WarehouseError
from tillflow.warehouse._reads import BOOKKEEPING_PREFIX
from tillflow.warehouse.loads import (
    LOAD_ID_COLUMN,
    VALID_FROM_COLUMN,
    VALID_TO_COLUMN,
    LoadHandle,
    LoadSummary,
    SchemaContract,
    WriteMode,
    new_load_id,
)

QUARANTINE_SUFFIX = "__quarantine"
ID_COLUMN = "_tf_id"
PARENT_ID_COLUMN = "_tf_parent_id"
# A load ends completed, failed, or interrupted (a signal stopped its run).
FINISH_STATUSES = ("completed", "failed", "interrupted")
# Columns a warehouse adds and fills itself; never recorded as schema changes.
OWN_COLUMNS = frozenset({LOAD_ID_COLUMN, VALID_FROM_COLUMN, VALID_TO_COLUMN})


def bookkeeping_columns(load: LoadHandle, *, plain: bool = False) -> list[tuple[str, str]]:
    """tillflow's own columns a table written by ``load`` carries (DuckDB type
    names); a ``plain`` table (quarantine) is never versioned."""
    columns = [(LOAD_ID_COLUMN, "VARCHAR")]
    if load.write_mode is WriteMode.SCD2 and not plain:
        stamp = "TIMESTAMP WITH TIME ZONE"
        columns += [(VALID_FROM_COLUMN, stamp), (VALID_TO_COLUMN, stamp)]
    return columns


def start_load(
    pipeline: str,
    resource: str,
    write_mode: str | WriteMode,
    primary_key: Sequence[str] | str | None,
    *,
    root_table: str | None,
    schema_contract: str | SchemaContract,
    scd2_close_missing: bool = False,
    run_id: str | None = None,
) -> LoadHandle:
    """A new load's handle, its write mode, schema contract and key checked."""
    try:
        mode = WriteMode(write_mode)
    except ValueError:
        modes = ", ".join(m.value for m in WriteMode)
        raise WarehouseError(f"unknown write mode {write_mode!r}; expected one of {modes}") from None
    try:
        contract = SchemaContract(schema_contract)
    except ValueError:
        known = ", ".join(c.value for c in SchemaContract)
        raise WarehouseError(
            f"unknown schema contract {schema_contract!r}; expected one of {known}"
        ) from None
    if isinstance(primary_key, str):
        primary_key = [primary_key]
    key = tuple(primary_key) if primary_key else None
    if mode.keyed and not key:
        raise WarehouseError(f"{mode.value} load of {pipeline}/{resource} needs a primary_key")
    if scd2_close_missing and mode is not WriteMode.SCD2:
        raise WarehouseError(f"{pipeline}/{resource}: scd2_close_missing needs write mode 'scd2'")
    load_id, started_at = new_load_id()
    return LoadHandle(
        load_id,
        pipeline,
        resource,
        mode,
        key,
        started_at,
        root_table=root_table,
        schema_contract=contract,
        scd2_close_missing=scd2_close_missing,
        run_id=run_id,
    )


def check_batch(
    load: LoadHandle,
    tables: Mapping[str, pl.DataFrame],
    state: Mapping[str, Any] | None,
    quarantine: Mapping[str, pl.DataFrame] | None,
) -> str:
    """Refuses a batch a load cannot take; returns its root table's name."""
    if load.finished:
        raise WarehouseError(f"load {load.load_id} is already finished")
    if not tables and state is None:
        raise WarehouseError(f"load {load.load_id}: a batch needs a table or a state")
    for name in tables:
        if not isinstance(name, str) or not name or name.startswith(BOOKKEEPING_PREFIX):
            raise WarehouseError(f"load {load.load_id}: invalid table name {name!r}")
    for name in quarantine or {}:
        if not name.endswith(QUARANTINE_SUFFIX) or name.startswith(BOOKKEEPING_PREFIX):
            raise WarehouseError(
                f"load {load.load_id}: quarantine table {name!r} must end with {QUARANTINE_SUFFIX!r}"
            )
    for name, frame in [*tables.items(), *(quarantine or {}).items()]:
        if not isinstance(frame, pl.DataFrame):
            raise WarehouseError(
                f"load {load.load_id}: table {name!r} is a {type(frame).__name__}, not a polars DataFrame"
            )
    return next(iter(tables), load.root_table or load.resource)


def batch_written(load: LoadHandle, tables: Mapping[str, pl.DataFrame], root: str) -> None:
    """Counts a committed batch into its load."""
    if tables:
        load.batches += 1
        load.root_table = load.root_table or root


def add_counts(counts: dict[str, int], written: Mapping[str, int]) -> dict[str, int]:
    out = dict(counts)
    for table, rows in written.items():
        out[table] = out.get(table, 0) + rows
    return out


def check_finish(load: LoadHandle, status: str) -> None:
    if status not in FINISH_STATUSES:
        raise WarehouseError(f"finish status must be one of {', '.join(FINISH_STATUSES)}, not {status!r}")
    if load.finished:
        raise WarehouseError(f"load {load.load_id} is already finished")


def empties_at_finish(load: LoadHandle, status: str) -> bool:
    """A completed replace load that wrote no batch empties its tables when it ends."""
    return load.write_mode is WriteMode.REPLACE and load.batches == 0 and status == "completed"


def finished(load: LoadHandle, status: str, finished_at: dt.datetime, error: str | None) -> LoadSummary:
    """Marks ``load`` finished and sums it up."""
    load.finished = True
    return LoadSummary(
        load.load_id, load.pipeline, load.resource, load.write_mode.value, status,
        load.started_at, finished_at, dict(load.row_counts), load.total_rows, error, load.run_id,
    )  # fmt: skip


def match_key(load: LoadHandle, frame: pl.DataFrame, table: str, *, is_root: bool) -> pl.DataFrame:
    """A keyed (merge, scd2) frame holding each key once, its last row kept.

    Root rows match on the primary key, which must be there; child rows on
    ``_tf_id`` when they have one."""
    key = list(load.primary_key or ()) if is_root else [ID_COLUMN]
    missing = [k for k in key if k not in frame.columns]
    if is_root and missing:
        raise WarehouseError(
            f"load {load.load_id}: {load.write_mode.value} key column {missing[0]!r} "
            f"is missing from table {table!r}"
        )
    if missing:
        return frame
    if is_root:
        nulls = frame.select(pl.col(key).null_count())
        for column in key:
            if nulls[column].item():
                raise WarehouseError(
                    f"load {load.load_id}: table {table!r}, key column {column!r} is null in "
                    f"{nulls[column].item()} rows; {load.write_mode.value} needs a key in every row"
                )
    return last_per_key(frame, key) if frame.height > 1 else frame


def last_per_key(frame: pl.DataFrame, key: Sequence[str]) -> pl.DataFrame:
    """The batch's last row for each key, so a keyed load writes every key once."""
    # Most batches hold each key once; counting is cheaper than an
    # order-keeping dedupe, which then runs only when needed.
    key = list(key)
    distinct = frame.select(pl.struct(key).n_unique()).item() if len(key) > 1 else frame[key[0]].n_unique()
    if distinct == frame.height:
        return frame
    return frame.unique(subset=key, keep="last", maintain_order=True)


def state_text(load: LoadHandle, state: Mapping[str, Any]) -> str:
    """A source state as the JSON text ``_tf_state`` keeps."""
    try:
        return json.dumps(dict(state), default=str)
    except (TypeError, ValueError) as exc:
        raise WarehouseError(f"load {load.load_id}: state is not JSON-serializable: {exc}") from exc


def rule_results_frame(
    results: pl.DataFrame,
    run_id: str,
    pipeline: str,
    resource: str,
    table: str,
    checked_at: dt.datetime | None,
) -> pl.DataFrame:
    """A validation report's rows (``Report.to_polars()``) as ``_tf_rule_results`` rows."""
    stamp = checked_at or dt.datetime.now(dt.timezone.utc)
    return results.select(
        pl.lit(run_id).alias("run_id"),
        pl.lit(pipeline).alias("pipeline"),
        pl.lit(resource).alias("resource"),
        pl.lit(table).alias("table"),
        "rule", "kind", "columns", "severity", "status", "passed", "failing", "rows", "fraction",
        "tolerance", "observed",
        pl.lit(stamp, dtype=pl.Datetime("us", "UTC")).alias("checked_at"),
    )  # fmt: skip


def family(tables: Iterable[str], root: str) -> list[str]:
    """The root table and its child tables among ``tables``, quarantine tables
    excluded; names match case-insensitively."""
    lowered = root.lower()
    prefix = lowered + "__"
    return [
        t for t in tables
        if t.lower() == lowered
        or (t.lower().startswith(prefix) and not t.lower().endswith(QUARANTINE_SUFFIX))
    ]  # fmt: skip


def replaced_by_file(tables: Iterable[str], root: str) -> list[str]:
    """The tables whose rows ``delete_where`` may delete: the root's family and its quarantine table."""
    quarantine = (root + QUARANTINE_SUFFIX).lower()
    return family(tables, root) + [t for t in tables if t.lower() == quarantine]


def root_links(
    load: LoadHandle,
    root: str,
    child: str,
    columns: Mapping[str, tuple[str, str]],
    *,
    rename: Callable[[str], str] = str,
) -> list[str]:
    """The columns of ``child`` holding the root row's key (``<root>_<key>``,
    as ``rename`` stores it), in key order; WarehouseError when one is missing."""
    found = []
    for k in load.primary_key or ():
        link = f"{root}_{k}"
        column = columns.get(rename(link).lower())
        if column is None:
            raise WarehouseError(
                f"load {load.load_id}: child table {child!r} lacks the root key column {link!r}, "
                f"so {load.write_mode.value} cannot replace its rows"
            )
        found.append(column[0])
    return found


def version_links(
    load: LoadHandle,
    root: str,
    tables: Iterable[str],
    columns_of: Callable[[str], Mapping[str, tuple[str, str]]],
) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Each of ``tables`` (the root's family) with the columns matching it to
    a root key, for closing scd2 versions: (its column, the key column, its
    column's type); ``columns_of`` reads a table's columns."""
    out = []
    for table in tables:
        columns = columns_of(table)
        if table.lower() == root.lower():
            links = [columns[k.lower()][0] for k in load.primary_key or ()]
        else:
            links = root_links(load, root, table, columns)
        types = [columns[link.lower()][1] for link in links]
        out.append((table, list(zip(links, load.primary_key or (), types, strict=True))))
    return out


@dataclasses.dataclass
class Staged:
    """One table of a batch, registered as a DuckDB view and ready to write."""

    table: str
    is_root: bool
    view: str | None  # None: nothing to write (a frame without columns)
    columns: list[tuple[str, str]]  # (name, DuckDB type), all-null columns left out
    rows: int
    plain: bool = False  # a quarantine table: appended as it is


@dataclasses.dataclass
class Step:
    """Where a batch is, so an error can name the table and column."""

    table: str
    column: str | None = None
    failed_insert: tuple[str, list[tuple[str, str]], dict[str, tuple[str, str]]] | None = None
