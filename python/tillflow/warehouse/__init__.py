"""Warehouses tillflow loads into. DuckDB is the embedded default.

``tillflow.warehouse.duckdb(path)`` opens one. The factory shares its name
with the ``tillflow.warehouse.duckdb`` module: import classes with
``from tillflow.warehouse.duckdb import DuckDBWarehouse`` (or from this
package), since ``import tillflow.warehouse.duckdb as m`` yields the factory.
"""

from __future__ import annotations

from typing import Any

from tillflow.warehouse.duckdb import DuckDBWarehouse, LoadHandle, LoadSummary, WriteMode

__all__ = ["DuckDBWarehouse", "LoadHandle", "LoadSummary", "WriteMode", "duckdb"]


# Defined after the import above on purpose: importing the submodule binds the
# package attribute ``duckdb`` to the module, and this rebinds it to the factory.
def duckdb(path: str = "tillflow.duckdb", **kwargs: Any) -> DuckDBWarehouse:
    """Open (or create) a DuckDB warehouse file; ``":memory:"`` for a throwaway one."""
    return DuckDBWarehouse(path, **kwargs)
