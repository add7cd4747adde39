"""Schema contracts as plain decisions, free of any connection.

`plan_changes` says what a batch would change in a table (create it,
add a column, widen a type) and refuses what the load's contract forbids;
`insert_columns` says how the batch's columns go into the table as it
stands, and which rows fit it. The warehouse executes both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from tillflow.exceptions import SchemaError, WarehouseError
from tillflow.warehouse.loads import LOAD_ID_COLUMN, SchemaContract
from tillflow.warehouse.sql import quote_identifier, widen_type

Columns = dict[str, tuple[str, str]]  # lowercase name -> (name, DuckDB type)

_DISCARD = (SchemaContract.DISCARD_ROW, SchemaContract.DISCARD_VALUE)
_NUMBERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE")


@dataclasses.dataclass(frozen=True)
class Change:
    """One change to a table, as ``_tf_schema_changes`` records it."""

    column: str | None
    change: str  # table_created | column_added | type_widened
    old_type: str | None
    new_type: str | None


def plan_changes(
    table: str,
    existing: Columns | None,
    incoming: list[tuple[str, str]],
    contract: SchemaContract,
    *,
    bookkeeping: Sequence[tuple[str, str]] = ((LOAD_ID_COLUMN, "VARCHAR"),),
    show: Callable[[str], str] = str,
) -> list[Change]:
    """What writing ``incoming`` columns into ``table`` changes, under
    ``contract``. A missing table is created under every contract; discard
    contracts never change an existing one's data columns; ``freeze`` raises
    SchemaError naming the column and both types; types without a widening
    between them raise WarehouseError. ``bookkeeping`` are tillflow's own
    columns the table needs (created with it, added when missing); ``show``
    spells a type as the warehouse names it in messages."""
    if existing is None:
        created = [Change(None, "table_created", None, None)]
        return created + [Change(name, "column_added", None, type_name) for name, type_name in incoming]
    frozen = contract is SchemaContract.FREEZE
    # Under a discard contract the rows adapt to the table, never the table to the rows.
    checked = [] if contract in _DISCARD else incoming
    changes = []
    for name, type_name in [*checked, *bookkeeping]:
        current = existing.get(name.lower())
        if current is None:
            if frozen:
                raise SchemaError(
                    f"schema contract 'freeze': table {table!r} has no column {name!r} "
                    f"(the batch brings it as {show(type_name)})"
                )
            changes.append(Change(name, "column_added", None, type_name))
            continue
        target = widen_type(current[1], type_name)
        if target is None:
            raise WarehouseError(
                f"table {table!r}, column {current[0]!r}: cannot store {show(type_name)} values "
                f"in a {show(current[1])} column (no widening between them)"
            )
        if target != current[1]:
            if frozen:
                raise SchemaError(
                    f"schema contract 'freeze': table {table!r}, column {current[0]!r} is "
                    f"{show(current[1])}; the batch brings {show(type_name)}, which would widen it "
                    f"to {show(target)}"
                )
            changes.append(Change(current[0], "type_widened", current[1], target))
    return changes


def insert_columns(
    incoming: list[tuple[str, str]], columns: Columns, contract: SchemaContract
) -> tuple[list[str], list[str]]:
    """The SELECT list that puts ``incoming`` columns into a table with
    ``columns``, and the conditions a row must meet to fit it (a new column
    the table keeps out must be null; a value wider than its column must be
    held exactly). Under ``discard_value`` a value that does not fit becomes
    null instead of adding a condition."""
    select, fits = [], []
    for name, type_name in incoming:
        ident = quote_identifier(name)
        current = columns.get(name.lower())
        if current is None:  # a new column a discard contract keeps out
            fits.append(f"{ident} IS NULL")
            continue
        target = current[1]
        if target == type_name or widen_type(target, type_name) == target:
            select.append(ident if target == type_name else f"CAST({ident} AS {target}) AS {ident}")
            continue
        # The column stays narrower than the values: only values it holds exactly fit.
        exact = fits_exactly(ident, target, type_name)
        if contract is SchemaContract.DISCARD_VALUE:
            select.append(f"CASE WHEN {exact} THEN TRY_CAST({ident} AS {target}) END AS {ident}")
        else:
            select.append(f"TRY_CAST({ident} AS {target}) AS {ident}")
            fits.append(exact)
    return select, fits


def fits_exactly(ident: str, target: str, incoming: str) -> str:
    """SQL true when the value of ``ident`` (of type ``incoming``) is held
    exactly by a ``target`` column (null fits anywhere). Text fits a number
    when it parses to the same number (``"20.0"`` fits DECIMAL(18, 2),
    ``"50.005"`` does not), anything else when it parses; other values when
    they survive the trip to ``target`` and back unchanged."""
    cast = f"TRY_CAST({ident} AS {target})"
    if incoming == "VARCHAR" and (target in _NUMBERS or target.startswith("DECIMAL")):
        same = f"TRY_CAST({ident} AS DOUBLE) = CAST({cast} AS DOUBLE)"
    elif incoming == "VARCHAR":
        same = f"{cast} IS NOT NULL"
    else:
        same = f"CAST({cast} AS {incoming}) = {ident}"
    return f"coalesce({ident} IS NULL OR {same}, false)"
