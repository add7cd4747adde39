"""The DuckDB warehouse: tillflow's embedded default, one file (or memory)."""

from tillflow.warehouse._duckdb._warehouse import DuckDBWarehouse, connect

__all__ = ["DuckDBWarehouse", "connect"]
