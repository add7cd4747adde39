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
