"""Warehouses tillflow loads into. DuckDB is the embedded default:
``tillflow.warehouse.duckdb(path)`` opens one; ``tillflow.warehouse.delta(url)``
opens a lake of Delta Lake tables on a local disk or S3; ``tillflow.warehouse.postgres(url)``
loads into a PostgreSQL database.

Every one of them fulfils [Warehouse][tillflow.warehouse.Warehouse], the contract callers take. Each
engine lives in its own subpackage (``warehouse._duckdb``, ``warehouse._postgres``,
``warehouse.lake`` for Delta); the parts they share (a batch's steps,
schema planning, scd2, the journal) sit beside them. The openers below
keep the engines' names, so the engines' subpackages are private: a
subpackage named ``duckdb`` would replace the opener ``duckdb`` on import.
The lake (``deltalake``, ``pyarrow.dataset``) is imported only when one is
opened."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tillflow._core.errors import config_error
from tillflow.warehouse._contract import JournalReader, Warehouse
from tillflow.warehouse._duckdb import DuckDBWarehouse
from tillflow.warehouse._postgres import PostgresWarehouse, postgres_name
from tillflow.warehouse._run_lock import run_lock, schema_param
from tillflow.warehouse.backups import Backup, backup, backups, restore
from tillflow.warehouse.loads import LoadHandle, LoadSummary, SchemaContract, WriteMode
from tillflow.warehouse.publish import Published, publish
from tillflow.warehouse.sql import quote_identifier, widen_type

__all__ = [
    "Backup",
    "DeltaLake",
    "DuckDBWarehouse",
    "JournalReader",
    "LoadHandle",
    "LoadSummary",
    "PartitionSpec",
    "PostgresWarehouse",
    "Published",
    "SchemaContract",
    "Warehouse",
    "WriteMode",
    "backup",
    "backups",
    "delta",
    "duckdb",
    "from_url",
    "postgres",
    "postgres_name",
    "publish",
    "quote_identifier",
    "restore",
    "run_lock",
    "schema_param",
    "widen_type",
]


def duckdb(path: str = "tillflow.duckdb", **kwargs: Any) -> DuckDBWarehouse:
    """Open (or create) a DuckDB warehouse file; ``":memory:"`` for a throwaway one.
    ``create=False`` opens only an existing file, ``read_only=True`` opens one
    for reading (see [DuckDBWarehouse][tillflow.warehouse.DuckDBWarehouse]).

    Parameters
    ----------
    path
        The DuckDB file, created when missing (unless ``create=False`` or
        ``read_only=True``); ``":memory:"`` for a warehouse that lives as long
        as the object.
    **kwargs
        [DuckDBWarehouse][tillflow.warehouse.DuckDBWarehouse]'s options:
        ``timezone``, ``checkpoint_threshold``, ``read_only``, ``create``
        and ``lock_timeout``.

    Returns
    -------
    DuckDBWarehouse
        The open warehouse; close it (or use it in a ``with`` block) to
        release the file.

    Raises
    ------
    WarehouseError
        If the file does not exist and may not be created, or cannot be
        opened or prepared.
    WarehouseLocked
        If another process holds the file past ``lock_timeout``.
    """
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
    ``read_only``) are [DeltaLake][tillflow.warehouse.DeltaLake]'s.

    Parameters
    ----------
    path_or_url
        A local folder, or ``s3://bucket/prefix``.
    partition_by
        Table names mapped to their partition columns: a column, or
        ``year``/``month``/``day``/``hour`` of a date or timestamp column
        (``"day(created_at)"``), or a list of those.
    **kwargs
        [DeltaLake][tillflow.warehouse.DeltaLake]'s other options:
        ``timezone``, ``endpoint_url``, ``region``, ``access_key``,
        ``secret_key``, ``session_token``, ``create``, ``read_only`` and
        ``run_lease``.

    Returns
    -------
    DeltaLake
        The open lake.

    Raises
    ------
    ConfigError
        If ``partition_by`` is not a mapping of tables to partition specs.
    WarehouseError
        If the location cannot be opened (a missing folder or bucket, a path
        that is a file, incomplete S3 credentials), or, with ``create=False``
        or ``read_only=True``, holds no table.
    """
    from tillflow.warehouse.lake import DeltaLake

    return DeltaLake(path_or_url, partition_by=partition_by, **kwargs)


def postgres(
    url: str, *, schema: str = "public", timezone: str = "UTC", create: bool = True, read_only: bool = False
) -> PostgresWarehouse:
    """Load into ``schema`` (created when missing, unless ``create=False``) of
    the PostgreSQL database at ``url`` (``postgresql://user:password@host:port/database``),
    through the ADBC PostgreSQL driver (``pip install tillflow[postgres]``).

    Parameters
    ----------
    url
        The database, ``postgresql://user:password@host:port/database``;
        messages show the password masked.
    schema
        The schema tillflow's tables and the loaded tables go in.
    timezone
        The session time zone timestamps are read back in and dates cut in.
    create
        Whether to create the schema and tillflow's tables when missing;
        ``False`` opens only a schema that already holds a warehouse.
    read_only
        Open an existing warehouse for reading only: its sessions are
        read-only transactions, so PostgreSQL itself refuses any write.

    Returns
    -------
    PostgresWarehouse
        The open warehouse.

    Raises
    ------
    WarehouseError
        If the database cannot be reached, or the schema cannot be prepared,
        or (with ``create=False``) holds no warehouse.
    """
    return PostgresWarehouse(url, schema=schema, timezone=timezone, create=create, read_only=read_only)


def from_url(
    location: str, *, read_only: bool = False, create: bool = True, lock_timeout: float = 0.0
) -> DuckDBWarehouse | PostgresWarehouse | DeltaLake:
    """The warehouse ``location`` names: ``delta:PATH`` or ``delta:s3://bucket/prefix``
    (a Delta lake), a ``postgresql://`` URL (its ``schema`` query parameter picks
    the schema, default ``public``), or a DuckDB file path (``duckdb:PATH`` too).
    ``create=False`` opens only what exists; ``read_only=True`` also refuses
    writes (a DuckDB file is then opened read-only, waiting up to
    ``lock_timeout`` seconds for a writer's lock).

    Parameters
    ----------
    location
        ``delta:PATH``, ``delta:s3://bucket/prefix``, a ``postgresql://`` (or
        ``postgres://``) URL, ``duckdb:PATH`` or a DuckDB file path.
    read_only
        Open for reading only. A Delta lake then refuses writes and a DuckDB
        file is opened read-only; a PostgreSQL warehouse is only not created.
    create
        Whether a missing warehouse may be created.
    lock_timeout
        Seconds a DuckDB file waits for another process's lock.

    Returns
    -------
    DuckDBWarehouse | PostgresWarehouse | DeltaLake
        The open warehouse.

    Raises
    ------
    ConfigError
        If ``location`` is a URL of another scheme.
    WarehouseError
        If the warehouse cannot be opened, or does not exist and may not be
        created.
    WarehouseLocked
        If another process holds a DuckDB file past ``lock_timeout``.
    """
    if location.startswith("delta:"):
        return delta(location.removeprefix("delta:"), read_only=read_only, create=create and not read_only)
    scheme = urlsplit(location).scheme.lower()
    if scheme in ("postgresql", "postgres"):
        url, schema = schema_param(location)
        return postgres(url, schema=schema, create=create and not read_only, read_only=read_only)
    if "://" in location:
        from tillflow._core.secrets import mask_password

        raise config_error(
            f"warehouse: unsupported URL scheme {scheme!r} in {mask_password(location)!r}; "
            "use a DuckDB file path, delta:PATH or a postgresql:// URL"
        )
    return DuckDBWarehouse(
        location.removeprefix("duckdb:"), read_only=read_only, create=create, lock_timeout=lock_timeout
    )


def __getattr__(name: str) -> Any:
    """``DeltaLake`` and ``PartitionSpec``, imported when first asked for."""
    if name in ("DeltaLake", "PartitionSpec"):
        from tillflow.warehouse import lake

        return getattr(lake, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    from tillflow.warehouse.lake import DeltaLake, PartitionSpec

    # mypy holds every engine to the contract.
    def _fulfil(duck: DuckDBWarehouse, pg: PostgresWarehouse, lake: DeltaLake) -> list[Warehouse]:
        return [duck, pg, lake]
