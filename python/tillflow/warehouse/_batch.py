"""What every warehouse checks and prepares the same way, whatever its engine:
starting a load, the shape of a batch, merge keys within a batch, the rows
of ``_tf_rule_results`` and the text of a stored state."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from tillflow.exceptions import WarehouseError
from tillflow.warehouse._reads import BOOKKEEPING_PREFIX
from tillflow.warehouse.loads import LoadHandle, SchemaContract, WriteMode, new_load_id

QUARANTINE_SUFFIX = "__quarantine"


def start_load(
    pipeline: str,
    resource: str,
    write_mode: str | WriteMode,
    primary_key: Sequence[str] | str | None,
    *,
    root_table: str | None,
    schema_contract: str | SchemaContract,
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
    if mode is WriteMode.MERGE and not key:
        raise WarehouseError(f"merge load of {pipeline}/{resource} needs a primary_key")
    load_id, started_at = new_load_id()
    return LoadHandle(
        load_id, pipeline, resource, mode, key, started_at, root_table=root_table, schema_contract=contract
    )


def check_batch(
    load: LoadHandle,
    tables: Mapping[str, pl.DataFrame],
    state: Mapping[str, Any] | None,
    quarantine: Mapping[str, pl.DataFrame] | None,
) -> None:
    """Refuse a batch of a finished load, an empty one, and table names that are not the user's to write."""
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


def family(tables: Iterable[str], root: str) -> list[str]:
    """The root table and its child tables among ``tables``, quarantine tables excluded."""
    prefix = root.lower() + "__"
    return [
        t for t in tables
        if t.lower() == root.lower()
        or (t.lower().startswith(prefix) and not t.lower().endswith(QUARANTINE_SUFFIX))
    ]  # fmt: skip


def last_per_key(frame: pl.DataFrame, key: Sequence[str]) -> pl.DataFrame:
    """The batch's last row for each key, so a merge writes every key once."""
    # Most batches hold each key once; counting is cheaper than an
    # order-keeping dedupe, which then runs only when needed.
    key = list(key)
    distinct = frame.select(pl.struct(key).n_unique()).item() if len(key) > 1 else frame[key[0]].n_unique()
    if distinct == frame.height:
        return frame
    return frame.unique(subset=key, keep="last", maintain_order=True)


def rule_results_frame(
    results: pl.DataFrame,
    *,
    run_id: str,
    pipeline: str,
    resource: str,
    table: str,
    checked_at: dt.datetime | None = None,
) -> pl.DataFrame:
    """A validation report (``Report.to_polars()``) as ``_tf_rule_results`` rows."""
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


def state_text(load: LoadHandle, state: Mapping[str, Any]) -> str:
    """A source state as the JSON text ``_tf_state`` keeps."""
    try:
        return json.dumps(dict(state), default=str)
    except (TypeError, ValueError) as exc:
        raise WarehouseError(f"load {load.load_id}: state is not JSON-serializable: {exc}") from exc
