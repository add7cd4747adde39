"""Warehouses tillflow loads into. DuckDB is the embedded default:
``tillflow.warehouse.duckdb(path)`` opens one."""

from __future__ import annotations

from typing import Any

from tillflow.warehouse._duckdb import DuckDBWarehouse
from tillflow.warehouse.loads import LoadHandle, LoadSummary, SchemaContract, WriteMode
from tillflow.warehouse.sql import quote_identifier, widen_type

__all__ = [
    "DuckDBWarehouse",
    "LoadHandle",
    "LoadSummary",
    "SchemaContract",
    "WriteMode",
    "duckdb",
    "quote_identifier",
    "widen_type",
]


def duckdb(path: str = "tillflow.duckdb", **kwargs: Any) -> DuckDBWarehouse:
    """Open (or create) a DuckDB warehouse file; ``":memory:"`` for a throwaway one."""
    return DuckDBWarehouse(path, **kwargs)
