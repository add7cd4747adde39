"""The statements of an scd2 load, in SQL that DuckDB and PostgreSQL share.

A root row is *changed* when its key has no current version (``_tf_valid_to``
NULL) whose columns all equal the row's (NULL equals NULL; a table column the
batch lacks counts as NULL in the batch). Columns starting with ``_tf_`` are
tillflow's and never compared. For each changed key, the current version of
the root row and of every child row under it (matched on the child's
``<root>_<key>`` columns) is closed, then the batch's rows are added as the
new current versions. A version the same load wrote in an earlier batch is
deleted instead of closed, so a load leaves one version per key. Children
are not compared on their own: they are versioned with their root row and
join it on ``_tf_parent_id = _tf_id`` and ``_tf_valid_from``.

Timestamps and the load id are written as literals: both are tillflow's own
values, and the engines' placeholders differ.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from tillflow.warehouse.loads import LOAD_ID_COLUMN, VALID_FROM_COLUMN, VALID_TO_COLUMN
from tillflow.warehouse.sql import quote_identifier as q

__all__ = [
    "changed_rows",
    "close_missing",
    "retire",
    "stamp_literal",
    "text_literal",
    "unchanged_ids",
    "version_columns",
]

CURRENT = f"t.{q(VALID_TO_COLUMN)} IS NULL"


def text_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def stamp_literal(stamp: dt.datetime) -> str:
    return f"CAST({text_literal(stamp.isoformat())} AS TIMESTAMPTZ)"


def _same_key(key: Sequence[str]) -> str:
    return " AND ".join(f"t.{q(k)} = i.{q(k)}" for k in key)


def changed_rows(
    target: str, incoming: str, key: Sequence[str], present: Sequence[str], absent: Sequence[str]
) -> str:
    """The SELECT of the ``incoming`` rows (``i``) without an identical current
    version in ``target`` (``t``). ``present``: the compared columns the
    batch has, cast to the table's types; ``absent``: those it lacks."""
    same = [f"t.{q(c)} IS NOT DISTINCT FROM i.{q(c)}" for c in present]
    same += [f"t.{q(c)} IS NULL" for c in absent]
    condition = " AND ".join([CURRENT, _same_key(key), *same])
    return f"SELECT i.* FROM {incoming} AS i WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {condition})"


def unchanged_ids(incoming: str, changed: str, key: Sequence[str]) -> str:
    """The SELECT of the ``_tf_id`` (as ``id``) of the ``incoming`` rows that are not ``changed``."""
    return (
        f'SELECT i."_tf_id" AS id FROM {incoming} AS i '
        f"WHERE NOT EXISTS (SELECT 1 FROM {changed} AS t WHERE {_same_key(key)})"
    )


def _under(changed: str, links: Sequence[tuple[str, str, str]]) -> str:
    """Rows of ``t`` whose ``links`` (table column, key column, the table
    column's type) match a key of ``changed``."""
    match = " AND ".join(
        f"t.{q(column)} = CAST(c.{q(key)} AS {type_name})" for column, key, type_name in links
    )
    return f"EXISTS (SELECT 1 FROM {changed} AS c WHERE {match})"


def retire(
    table: str, links: Sequence[tuple[str, str, str]], changed: str, load_id: str, stamp: dt.datetime
) -> list[str]:
    """Delete the versions this load already wrote for the ``changed`` keys,
    then close the current ones."""
    under = _under(changed, links)
    return [
        f"DELETE FROM {table} AS t WHERE {CURRENT} AND t.{q(LOAD_ID_COLUMN)} = {text_literal(load_id)} "
        f"AND {under}",
        f"UPDATE {table} AS t SET {q(VALID_TO_COLUMN)} = {stamp_literal(stamp)} WHERE {CURRENT} AND {under}",
    ]


def close_missing(table: str, links: Sequence[tuple[str, str, str]], seen: str, stamp: dt.datetime) -> str:
    """Close the current versions whose key is not in ``seen``."""
    return (
        f"UPDATE {table} AS t SET {q(VALID_TO_COLUMN)} = {stamp_literal(stamp)} "
        f"WHERE {CURRENT} AND NOT {_under(seen, links)}"
    )


def version_columns(stamp: dt.datetime) -> list[str]:
    """The SELECT items that make a row a new current version."""
    return [
        f"{stamp_literal(stamp)} AS {q(VALID_FROM_COLUMN)}",
        f"CAST(NULL AS TIMESTAMPTZ) AS {q(VALID_TO_COLUMN)}",
    ]
