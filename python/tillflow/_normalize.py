"""Normalizing records that are already in memory (files, tests, notebooks)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from tillflow import _native


def normalize(
    records: Iterable[Mapping[str, Any]] | str | bytes,
    table: str,
    *,
    primary_key: str | Sequence[str] | None = None,
    numeric_strings: str = "decimal",
    parse_timestamps: bool = True,
    max_depth: int = 10,
) -> dict[str, pl.DataFrame]:
    """Splits nested records into a root table and child tables.

    ``records`` is a list of dicts or the JSON text of one. Returns
    ``{table: frame}`` with the root first, e.g. ``{"orders": ...,
    "orders__line_items": ...}``, exactly as a pipeline would load them.

    Parameters
    ----------
    records
        The records: an iterable of mappings (values JSON cannot hold are
        written as text), or the JSON text (``str`` or ``bytes``) of an array
        of objects.
    table
        The root table's name; child tables are named ``<table>__<field>``.
    primary_key
        The root key's field (or fields).
    numeric_strings
        What strings that look like amounts become: ``"decimal"`` (exact
        decimals, the default), ``"float"`` or ``"string"`` (left as text).
    parse_timestamps
        Whether ISO-8601 strings become timestamps (UTC) and dates.
    max_depth
        Nesting deeper than this (at least 1) is kept as JSON text in one
        column.

    Returns
    -------
    dict[str, polars.DataFrame]
        The tables by name, the root first.

    Raises
    ------
    ConfigError
        If an option is invalid, or ``records`` is not a JSON array.
    SchemaError
        If a record is not an object, or a value does not fit its column
        (a key out of range).
    """
    if isinstance(records, (str, bytes)):
        payload = records.encode() if isinstance(records, str) else records
    else:
        payload = json.dumps(list(records), default=str).encode()
    keys = [primary_key] if isinstance(primary_key, str) else list(primary_key or [])
    options = json.dumps(
        {"numeric_strings": numeric_strings, "parse_timestamps": parse_timestamps, "max_depth": max_depth}
    )
    return _native.normalize_records(table, payload, keys, options)
