"""Database sources: every table of a PostgreSQL schema or MySQL database (or
the ones named) as resources of one source."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tillflow._core.errors import config_error
from tillflow.exceptions import ConfigError, SourceError
from tillflow.sources._databases._table import SqlTable
from tillflow.sources._databases._url import parse_url
from tillflow.sources._source import Source

__all__ = ["mysql", "postgres", "sql_database"]


def sql_database(
    url: str,
    *,
    tables: Sequence[str] | None = None,
    schema: str | None = None,
    cursor: str | Mapping[str, str] | None = None,
    primary_key: str | Sequence[str] | Mapping[str, str | Sequence[str]] | None = None,
    write_mode: str | Mapping[str, str] | None = None,
    initial: Any = None,
    batch_size: int = 50_000,
    partitions: int | None = None,
    partition_on: str | Mapping[str, str] | None = None,
    null_cursor: str = "error",
    lookback: Any = None,
    name: str | None = None,
) -> Source:
    """Tables of a PostgreSQL or MySQL/MariaDB database as a source, one
    resource per table (named after it).

    The catalog is read when the source is made, to check every option
    against the tables' columns.

    Parameters
    ----------
    url
        ``postgresql://user:password@host:5432/db`` or
        ``mysql://user:password@host:3306/db`` (``mariadb://`` too). Messages
        and reprs show the password as ``***``.
    tables
        Table (or view) names; default every base table of the schema.
    schema
        PostgreSQL's schema (default ``public``) or the MySQL database
        (default the URL's).
    cursor
        A column that grows when a row is inserted or updated
        (``updated_at``, an id), for every table or as ``{table: column}``;
        those tables load incrementally in keyset pages and merge on the
        primary key.
    primary_key
        Defaults to the catalog's; needed for merge and as the keyset
        tie-breaker (a list, or ``{table: list}``).
    write_mode
        ``replace`` for tables without a cursor, else ``merge`` (``append``
        without a primary key); or ``{table: mode}``.
    initial
        Where a first run starts (inclusive), a value or ``{table: value}``.
    batch_size
        Rows per batch, each committed in its own transaction.
    partitions
        Parallel range queries for a full load, split on ``partition_on``.
    partition_on
        An integer column (default the integer primary key), or
        ``{table: column}``; given without ``partitions``, one query per CPU.
    null_cursor
        Rows whose cursor is NULL stop the load with an error naming the
        table (``"error"``), or load on a first run only, read before all
        others (``"first_run"``; later NULL rows are not seen).
    lookback
        Each run starts this far before the stored cursor (a
        ``datetime.timedelta`` for date and timestamp cursors, a number for
        numeric ones), re-reading and merging rows whose transactions
        committed after the last run had read past their cursor values. Given
        once, it applies to the tables with a cursor; or ``{table: value}``.
    name
        The source's name (default the database's).

    Returns
    -------
    Source
        One [SqlTable][tillflow.sources.SqlTable] resource per table.

    Raises
    ------
    ConfigError
        If the URL is not a PostgreSQL or MySQL one, ``tables`` is empty, the
        schema has no tables, a ``{table: value}`` option names an unknown
        table, or an option does not fit a table's columns (a missing
        column, a cursor type that cannot order reads, a merge without a
        primary key, a lookback of the wrong type, ...), or the
        ``databases`` extra is not installed.
    SourceError
        If the database cannot be reached or its catalog cannot be read.
    """
    parsed = parse_url(url)
    dialect = parsed.dialect
    schema = schema or dialect.default_schema(parsed)
    if tables is not None:
        if isinstance(tables, str):
            tables = [tables]
        tables = list(tables)
        if not tables or not all(isinstance(t, str) and t for t in tables):
            raise config_error(f"tables: expected a non-empty list of table names, got {tables!r}")
    conn = dialect.connect(parsed)
    try:
        catalog = dialect.reflect(conn, schema, tables)
    except (ConfigError, SourceError):
        raise
    except Exception as exc:
        raise SourceError(
            f"{dialect.name} {parsed.redacted}: cannot read the catalog of {schema!r}: "
            f"{parsed.scrub(str(exc))}"
        ) from None
    finally:
        conn.close()
    names = list(catalog)
    if not names:
        raise config_error(f"tables: {dialect.name} schema {schema!r} has no tables")
    options = {
        "cursor": _per_table(cursor, names, "cursor", lambda v: isinstance(v, str)),
        "primary_key": _per_table(primary_key, names, "primary_key", lambda v: not isinstance(v, Mapping)),
        "write_mode": _per_table(write_mode, names, "write_mode", lambda v: isinstance(v, str)),
        "initial": _per_table(initial, names, "initial", lambda v: not isinstance(v, Mapping)),
        "partition_on": _per_table(partition_on, names, "partition_on", lambda v: isinstance(v, str)),
        "lookback": _per_table(lookback, names, "lookback", lambda v: not isinstance(v, Mapping)),
    }
    resources = [
        SqlTable(
            parsed,
            catalog[table],
            cursor=options["cursor"][table],
            primary_key=list(_as_list(options["primary_key"][table])),
            write_mode=options["write_mode"][table],
            initial=options["initial"][table],
            batch_size=batch_size,
            partitions=partitions,
            partition_on=options["partition_on"][table],
            null_cursor=null_cursor,
            # A lookback given once applies to the tables with a cursor.
            lookback=options["lookback"][table]
            if options["cursor"][table] or isinstance(lookback, Mapping)
            else None,
        )
        for table in names
    ]
    return Source(name or parsed.database or dialect.name.lower(), resources)  # type: ignore[arg-type]


def postgres(url: str, **options: Any) -> Source:
    """PostgreSQL tables as a source: [sql_database][tillflow.sources.sql_database]
    for a ``postgresql://`` URL.

    Parameters
    ----------
    url
        ``postgresql://user:password@host:5432/db``.
    **options
        The options of [sql_database][tillflow.sources.sql_database]; its
        ``schema`` is the PostgreSQL schema, ``public`` by default.

    Returns
    -------
    Source
        One resource per table of the schema (or of ``tables``).

    Raises
    ------
    ConfigError
        If ``url`` is not a PostgreSQL URL, or as for
        [sql_database][tillflow.sources.sql_database].
    SourceError
        If the database cannot be reached or its catalog cannot be read.
    """
    _expect(url, "PostgreSQL", "postgresql://user@host:5432/db")
    return sql_database(url, **options)


def mysql(url: str, **options: Any) -> Source:
    """MySQL or MariaDB tables as a source: [sql_database][tillflow.sources.sql_database]
    for a ``mysql://`` URL.

    Parameters
    ----------
    url
        ``mysql://user:password@host:3306/db`` (``mariadb://`` too).
    **options
        The options of [sql_database][tillflow.sources.sql_database], where
        ``schema`` names the MySQL database (by default the URL's).

    Returns
    -------
    Source
        One resource per table of that database, or of ``tables``.

    Raises
    ------
    ConfigError
        If ``url`` is not a MySQL URL, or as for
        [sql_database][tillflow.sources.sql_database].
    SourceError
        If the database cannot be reached or its catalog cannot be read.
    """
    _expect(url, "MySQL", "mysql://user@host:3306/db")
    return sql_database(url, **options)


def _expect(url: str, dialect: str, example: str) -> None:
    if parse_url(url).dialect.name != dialect:
        raise config_error(f"url: expected a {dialect} URL like {example}")


def _per_table(value: Any, tables: list[str], option: str, is_plain: Any) -> dict[str, Any]:
    """An option given once for every table, or as ``{table: value}``."""
    if value is None or is_plain(value):
        return dict.fromkeys(tables, value)
    if not isinstance(value, Mapping):
        raise config_error(f"{option}: expected a value or a {{table: value}} mapping, got {value!r}")
    unknown = sorted(set(value) - set(tables))
    if unknown:
        raise config_error(f"{option}: unknown tables {unknown}; this source has {tables}")
    return {t: value.get(t) for t in tables}


def _as_list(value: Any) -> Sequence[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
