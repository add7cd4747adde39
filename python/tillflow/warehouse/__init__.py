"""Warehouses tillflow loads into. DuckDB is the embedded default:
``tillflow.warehouse.duckdb(path)`` opens one; ``tillflow.warehouse.delta(url)``
opens a lake of Delta Lake tables on a local disk or S3; ``tillflow.warehouse.postgres(url)``
loads into a PostgreSQL database.

Every one of them fulfils :class:`Warehouse`, the contract callers take. Each
engine lives in its own subpackage (``warehouse.duckdb``, ``warehouse.postgres``,
``warehouse.delta``);
the parts they share (a batch's checks, schema planning, scd2, the journal)
sit beside them. The factories below keep the engines' names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tillflow.warehouse._contract import JournalReader, Warehouse
from tillflow.warehouse.delta import DeltaLake, PartitionSpec
from tillflow.warehouse.duckdb import DuckDBWarehouse
from tillflow.warehouse.loads import LoadHandle, LoadSummary, SchemaContract, WriteMode
from tillflow.warehouse.postgres import PostgresWarehouse, postgres_name
from tillflow.warehouse.sql import quote_identifier, widen_type

__all__ = [
    "DeltaLake",
    "DuckDBWarehouse",
    "JournalReader",
    "LoadHandle",
    "LoadSummary",
    "PartitionSpec",
    "PostgresWarehouse",
    "SchemaContract",
    "Warehouse",
    "WriteMode",
    "delta",
    "duckdb",
    "postgres",
    "postgres_name",
    "quote_identifier",
    "widen_type",
]


def duckdb(path: str = "tillflow.duckdb", **kwargs: Any) -> DuckDBWarehouse:
    """Open (or create) a DuckDB warehouse file; ``":memory:"`` for a throwaway one.
    ``create=False`` opens only an existing file, ``read_only=True`` opens one
    for reading (see :class:`DuckDBWarehouse`)."""
    return DuckDBWarehouse(path, **kwargs)


def delta(
    path_or_url: str,
    *,
    partition_by: Mapping[str, str | Sequence[str]] | None = None,
    **kwargs: Any,
) -> DeltaLake:
    """Open (or create) a lake of Delta Lake tables: a local folder or ``s3://bucket/prefix``.

    ``partition_by`` maps tables to partition columns, e.g. ``{"orders": "day(created_at)"}``;
    other options (``endpoint_url``, ``region``, keys, ``timezone``, ``create``,
    ``read_only``) are :class:`DeltaLake`'s.
    """
    return DeltaLake(path_or_url, partition_by=partition_by, **kwargs)


def postgres(
    url: str, *, schema: str = "public", timezone: str = "UTC", create: bool = True
) -> PostgresWarehouse:
    """Load into ``schema`` (created when missing, unless ``create=False``) of
    the PostgreSQL database at ``url`` (``postgresql://user:password@host:port/database``),
    through the ADBC PostgreSQL driver (``pip install tillflow[postgres]``)."""
    return PostgresWarehouse(url, schema=schema, timezone=timezone, create=create)


if TYPE_CHECKING:
    # mypy holds every engine to the contract.
    def _fulfil(duck: DuckDBWarehouse, pg: PostgresWarehouse, lake: DeltaLake) -> list[Warehouse]:
        return [duck, pg, lake]
