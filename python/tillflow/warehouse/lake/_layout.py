"""Where a Delta lake lives and how its tables are laid out: the lake's URL
(a local folder or ``s3://bucket/prefix``) turned into table URIs and the
storage options ``deltalake`` takes, the table folders found under it, and
the partition columns a table is split by.

A table is the folder ``<lake>/<name>``, its name percent-encoded so any
name is a safe path. Partitioning by ``day(created_at)`` (or ``year``,
``month``, ``hour``) adds a text column ``created_at_day`` that the lake
fills itself: Delta partitions by columns, so the folder's value is a
column every reader sees and can filter on.
"""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import DeltaTable

from tillflow._core.errors import config_error
from tillflow.exceptions import WarehouseError
from tillflow.warehouse.sql import quote_identifier as _q

__all__ = ["Location", "PartitionSpec", "encode_segment", "parse_partitions"]

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_TSTZ = "TIMESTAMP WITH TIME ZONE"
_TIME_FORMATS = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d", "hour": "%Y-%m-%d-%H"}
_TEMPORAL = ("DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", _TSTZ)
_SPEC = re.compile(r"\s*(year|month|day|hour)\s*\(\s*(.+?)\s*\)\s*", re.IGNORECASE)


def encode_segment(text: str) -> str:
    """A folder name for any table name: letters, digits, ``_`` and ``-``
    stay, every other byte of its UTF-8 becomes ``~XX`` (so ``/``, ``..``,
    quotes and spaces never reach a path). Not ``%XX``: table URIs are URLs
    to ``deltalake``, which would decode it back."""
    return "".join(ch if ch in _SAFE else "".join(f"~{b:02X}" for b in ch.encode()) for ch in text) or "~00"


def decode_segment(segment: str) -> str:
    return "" if segment == "~00" else urllib.parse.unquote(segment.replace("~", "%"))


@dataclasses.dataclass(frozen=True)
class PartitionSpec:
    """One level of a table's folders: a column's value, or the year, month,
    day or hour of a date or timestamp column (in UTC for zoned timestamps).

    Made from the text of ``partition_by`` (``"created_at"``,
    ``"day(created_at)"``) by [delta][tillflow.warehouse.delta].

    Parameters
    ----------
    column
        The column partitioned by.
    transform
        ``"year"``, ``"month"``, ``"day"`` or ``"hour"``; ``None`` partitions
        by the column's own value.
    """

    column: str
    transform: str | None = None

    @classmethod
    def parse(cls, table: str, text: str) -> PartitionSpec:
        """The spec ``text`` names: ``"column"`` or ``"day(column)"`` (also ``year``, ``month``, ``hour``).

        Parameters
        ----------
        table
            The table it partitions, for messages.
        text
            The spec.

        Returns
        -------
        PartitionSpec
            The parsed spec.

        Raises
        ------
        ConfigError
            If ``text`` is empty, or has parentheses but no known transform.
        """
        if not isinstance(text, str) or not text.strip():
            raise config_error(f"partition_by[{table!r}]: expected a column name or day(column)")
        found = _SPEC.fullmatch(text)
        if found:
            return cls(found.group(2), found.group(1).lower())
        if "(" in text:
            raise config_error(
                f"partition_by[{table!r}]: {text!r} is not a column name or one of "
                f"{', '.join(f'{t}(column)' for t in _TIME_FORMATS)}"
            )
        return cls(text.strip())

    @property
    def key(self) -> str:
        """The partition column: the column itself, or ``<column>_<transform>``."""
        return f"{self.column}_{self.transform}" if self.transform else self.column

    def sql(self, table: str, columns: Mapping[str, tuple[str, str]]) -> str | None:
        """The derived partition column's value per row, as text (null for a
        null value); None when the spec partitions by the column itself.

        Parameters
        ----------
        table
            The table's name, for messages.
        columns
            The table's columns: ``{lowercase name: (name, DuckDB type)}``.

        Returns
        -------
        str | None
            A DuckDB SQL expression, or ``None``.

        Raises
        ------
        WarehouseError
            If the table has no such column, or a time transform is applied
            to a column that is not a date or timestamp.
        """
        found = columns.get(self.column.lower())
        if found is None:
            raise WarehouseError(
                f"table {table!r} has no column {self.column!r} to partition by "
                f"(it has {', '.join(name for name, _ in columns.values())})"
            )
        name, type_name = found
        if self.transform is None:
            return None
        if type_name not in _TEMPORAL:
            raise WarehouseError(
                f"table {table!r}: cannot partition by {self.transform}({name}): "
                f"column {name!r} is {type_name}, not a date or timestamp"
            )
        value = f"timezone('UTC', {_q(name)})" if type_name == _TSTZ else f"CAST({_q(name)} AS TIMESTAMP)"
        return f"strftime({value}, '{_TIME_FORMATS[self.transform]}')"


def parse_partitions(
    partition_by: Mapping[str, str | Sequence[str]] | None,
) -> dict[str, list[PartitionSpec]]:
    if partition_by is None:
        return {}
    if not isinstance(partition_by, Mapping):
        raise config_error(
            "partition_by must map table names to a column or day(column), "
            f"e.g. {{'orders': 'day(created_at)'}}, not {type(partition_by).__name__}"
        )
    out = {}
    for table, specs in partition_by.items():
        items = [specs] if isinstance(specs, str) else list(specs)
        if not items:
            raise config_error(f"partition_by[{table!r}] is empty")
        out[table.lower()] = [PartitionSpec.parse(table, s) for s in items]
    return out


class Location:
    """A lake's root: table URIs, the storage options of ``deltalake``, and a
    pyarrow file system for listing the table folders and removing one."""

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        create: bool = True,
    ) -> None:
        self.url = url
        self.options: dict[str, str] = {}
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme == "s3":
            if not parsed.netloc:
                raise WarehouseError(f"lake URL {url!r} names no bucket (expected s3://bucket/prefix)")
            self.fs, self.options = _s3(endpoint_url, region, access_key, secret_key, session_token)
            try:
                found = self.fs.get_file_info(parsed.netloc).type
            except OSError as exc:
                raise WarehouseError(f"cannot open Delta lake {url!r}: {exc}") from exc
            if found == pafs.FileType.NotFound:
                raise WarehouseError(
                    f"cannot open Delta lake {url!r}: bucket {parsed.netloc!r} does not exist"
                )
            self.root = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
            self.uri = f"s3://{self.root}"
            self.local = False
            return
        if parsed.scheme == "file":
            path = urllib.parse.unquote(parsed.path)
        elif parsed.scheme and len(parsed.scheme) > 1:
            raise WarehouseError(
                f"lake URL {url!r}: unsupported scheme {parsed.scheme!r} (use a path or s3://)"
            )
        else:
            path = url
        path = os.path.abspath(os.path.expanduser(path))
        if os.path.exists(path) and not os.path.isdir(path):
            raise WarehouseError(f"lake path {path!r} is a file, not a folder")
        if create:
            os.makedirs(path, exist_ok=True)
        elif not os.path.isdir(path):
            raise WarehouseError(f"no Delta lake at {path!r}: the folder does not exist")
        self.fs = pafs.LocalFileSystem()
        self.root = self.uri = path
        self.local = True

    def table_uri(self, name: str) -> str:
        return f"{self.uri}/{encode_segment(name)}"

    def table_path(self, name: str) -> str:
        """The table's folder as the pyarrow file system names it."""
        return f"{self.root}/{encode_segment(name)}"

    def table_names(self) -> list[str]:
        """The names of the folders under the root that hold a Delta table."""
        try:
            entries = self.fs.get_file_info(pafs.FileSelector(self.root, allow_not_found=True))
            names = []
            for entry in entries:
                if entry.type != pafs.FileType.Directory:
                    continue
                log = self.fs.get_file_info(f"{entry.path}/_delta_log")
                if log.type == pafs.FileType.Directory or (
                    not self.local and _has_objects(self.fs, log.path)
                ):
                    names.append(decode_segment(entry.base_name))
            return names
        except OSError as exc:
            raise WarehouseError(f"cannot read Delta lake {self.url!r}: {exc}") from exc

    def dataset(self, name: str, table: DeltaTable) -> Any:
        """A version of a table as a pyarrow dataset: its files in its schema
        (columns a file lacks read as null), each file's partition values as
        its guarantee. Built here rather than by ``deltalake``, whose dataset
        turns file statistics into guarantees that drop rows of files written
        before a column existed when DuckDB pushes ``IS NULL`` into the scan.
        Text and bytes read as Arrow views: files ``deltalake`` rewrote (merge,
        delete) store them so, and a filter DuckDB pushes down must match the
        type every file reads as."""
        import pyarrow.dataset as ds  # only when a lake is read: it is slow to import

        schema = _as_views(pa.schema(table.schema().to_arrow()))
        actions = pa.table(table.get_add_actions(flatten=True))
        keys = [c for c in actions.column_names if c.startswith("partition.")]
        folder = self.table_path(name)
        paths = [f"{folder}/{urllib.parse.unquote(p)}" for p in actions.column("path").to_pylist()]
        guarantees = []
        for row in actions.select(keys).to_pylist():
            guarantee = ds.scalar(True)
            for column, value in row.items():
                field = ds.field(column.removeprefix("partition."))
                kind = schema.field(column.removeprefix("partition.")).type
                guarantee &= field.is_null() if value is None else field == pa.scalar(value).cast(kind)
            guarantees.append(guarantee)
        return ds.FileSystemDataset.from_paths(
            paths, schema=schema, format=ds.ParquetFileFormat(), filesystem=self.fs, partitions=guarantees
        )

    def drop(self, name: str) -> None:
        """Remove a table's folder (a table whose every commit is rolled back)."""
        try:
            self.fs.delete_dir(self.table_path(name))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise WarehouseError(f"cannot remove table {name!r} of Delta lake {self.url!r}: {exc}") from exc


def _as_views(schema: pa.Schema) -> pa.Schema:
    views = {pa.string(): pa.string_view(), pa.large_string(): pa.string_view(),
             pa.binary(): pa.binary_view(), pa.large_binary(): pa.binary_view()}  # fmt: skip
    return pa.schema([f.with_type(views.get(f.type, f.type)) for f in schema], metadata=schema.metadata)


def _has_objects(fs: pafs.FileSystem, path: str) -> bool:
    return bool(fs.get_file_info(pafs.FileSelector(path, allow_not_found=True)))


def _s3(
    endpoint_url: str | None,
    region: str | None,
    access_key: str | None,
    secret_key: str | None,
    session_token: str | None,
) -> tuple[pafs.S3FileSystem, dict[str, str]]:
    """A pyarrow S3 file system and the same settings as ``deltalake``
    storage options; what is not given comes from the usual AWS_* variables."""
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    fs_options: dict[str, object] = {"allow_bucket_creation": False, "allow_bucket_deletion": False}
    options: dict[str, str] = {}
    if endpoint_url:
        endpoint = urllib.parse.urlsplit(endpoint_url)
        if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
            raise WarehouseError(f"S3 endpoint {endpoint_url!r} must be an http:// or https:// URL")
        fs_options["endpoint_override"] = endpoint.netloc
        fs_options["scheme"] = endpoint.scheme
        options["AWS_ENDPOINT_URL"] = endpoint_url
        if endpoint.scheme == "http":
            options["AWS_ALLOW_HTTP"] = "true"
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region and endpoint_url:
        region = "us-east-1"  # S3-compatible stores ignore it; avoids a region lookup
    if region:
        fs_options["region"] = options["AWS_REGION"] = region
    if access_key or secret_key:
        if not (access_key and secret_key):
            raise WarehouseError("S3 credentials need both access_key and secret_key")
        fs_options.update(access_key=access_key, secret_key=secret_key, session_token=session_token)
        options["AWS_ACCESS_KEY_ID"] = access_key
        options["AWS_SECRET_ACCESS_KEY"] = secret_key
        if session_token:
            options["AWS_SESSION_TOKEN"] = session_token
    try:
        return pafs.S3FileSystem(**fs_options), options
    except (ValueError, OSError) as exc:
        raise WarehouseError(f"cannot set up S3 access: {exc}") from exc
