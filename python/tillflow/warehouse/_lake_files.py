"""The Parquet lake's file work (a part of :mod:`tillflow.warehouse._lake`):
partition folders, zstd Parquet files written from Arrow and read back in a
table's current types, the rows of the bookkeeping tables, the one commit a
batch builds, and merge's rewrite of only the files it touches."""

from __future__ import annotations

import bisect
import concurrent.futures
import dataclasses
import datetime as dt
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import duckdb as _duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from tillflow.exceptions import ConfigError, WarehouseError
from tillflow.warehouse._journal import JOURNAL
from tillflow.warehouse._lake_log import (
    Commit,
    DataFile,
    Snapshot,
    Store,
    TableChange,
    TableMeta,
    encode_segment,
)
from tillflow.warehouse._reads import BOOKKEEPING_PREFIX
from tillflow.warehouse.sql import quote_identifier as _q

_TSTZ = "TIMESTAMP WITH TIME ZONE"
LOADS = "_tf_loads"
CHANGES = "_tf_schema_changes"
RULES = "_tf_rule_results"
STATE = "_tf_state"
BOOKKEEPING_COLUMNS: dict[str, list[tuple[str, str]]] = {
    LOADS: [
        ("load_id", "VARCHAR"), ("pipeline", "VARCHAR"), ("resource", "VARCHAR"), ("write_mode", "VARCHAR"),
        ("status", "VARCHAR"), ("started_at", _TSTZ), ("finished_at", _TSTZ), ("row_counts", "VARCHAR"),
        ("total_rows", "BIGINT"), ("error", "VARCHAR"), ("run_id", "VARCHAR"),
    ],
    CHANGES: [
        ("load_id", "VARCHAR"), ("pipeline", "VARCHAR"), ("resource", "VARCHAR"), ("table", "VARCHAR"),
        ("column", "VARCHAR"), ("change", "VARCHAR"), ("old_type", "VARCHAR"), ("new_type", "VARCHAR"),
        ("changed_at", _TSTZ),
    ],
    RULES: [
        ("run_id", "VARCHAR"), ("pipeline", "VARCHAR"), ("resource", "VARCHAR"), ("table", "VARCHAR"),
        ("rule", "VARCHAR"), ("kind", "VARCHAR"), ("columns", "VARCHAR[]"), ("severity", "VARCHAR"),
        ("status", "VARCHAR"), ("passed", "BOOLEAN"), ("failing", "BIGINT"), ("rows", "BIGINT"),
        ("fraction", "DOUBLE"), ("tolerance", "VARCHAR"), ("observed", "VARCHAR"), ("checked_at", _TSTZ),
    ],
    STATE: [
        ("pipeline", "VARCHAR"), ("resource", "VARCHAR"), ("state", "VARCHAR"), ("load_id", "VARCHAR"),
        ("updated_at", _TSTZ),
    ],
    **JOURNAL,
}  # fmt: skip
DATA_FILE = re.compile(r"part-\d{5,}-[0-9a-f]{32}\.zstd\.parquet")  # the names _write_table gives
_COMPACT_AT = 32  # small bookkeeping files are merged into one when a table has this many
_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_TIME_FORMATS = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d", "hour": "%Y-%m-%d-%H"}
_TEMPORAL = ("DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", _TSTZ)
_SPEC = re.compile(r"\s*(year|month|day|hour)\s*\(\s*(.+?)\s*\)\s*", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class PartitionSpec:
    """One level of a table's folders: a column's value, or the year, month,
    day or hour of a date or timestamp column (in UTC for zoned timestamps)."""

    column: str
    transform: str | None = None

    @classmethod
    def parse(cls, table: str, text: str) -> PartitionSpec:
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(
                f"invalid config: partition_by[{table!r}]: expected a column name or day(column)"
            )
        found = _SPEC.fullmatch(text)
        if found:
            return cls(found.group(2), found.group(1).lower())
        if "(" in text:
            raise ConfigError(
                f"invalid config: partition_by[{table!r}]: {text!r} is not a column name or one of "
                f"{', '.join(f'{t}(column)' for t in _TIME_FORMATS)}"
            )
        return cls(text.strip())

    @property
    def key(self) -> str:
        """The folder's name before ``=``."""
        return f"{self.column}_{self.transform}" if self.transform else self.column

    def sql(self, table: str, columns: Mapping[str, tuple[str, str]]) -> str:
        """The partition value of each row, as text (null for a null value)."""
        found = columns.get(self.column.lower())
        if found is None:
            raise WarehouseError(
                f"table {table!r} has no column {self.column!r} to partition by "
                f"(it has {', '.join(name for name, _ in columns.values())})"
            )
        name, type_name = found
        if self.transform is None:
            return f"CAST({_q(name)} AS VARCHAR)"
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
        raise ConfigError(
            "invalid config: partition_by must map table names to a column or day(column), "
            f"e.g. {{'orders': 'day(created_at)'}}, not {type(partition_by).__name__}"
        )
    out = {}
    for table, specs in partition_by.items():
        items = [specs] if isinstance(specs, str) else list(specs)
        if not items:
            raise ConfigError(f"invalid config: partition_by[{table!r}] is empty")
        out[table.lower()] = [PartitionSpec.parse(table, s) for s in items]
    return out


def to_arrow(relation: Any) -> pa.Table:
    to_table = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return to_table()


def _utc(table: pa.Table) -> pa.Table:
    """Zoned timestamps labelled UTC, so files do not depend on the session's time zone."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz and field.type.tz != "UTC":
            table = table.set_column(i, field.with_type(pa.timestamp(field.type.unit, "UTC")),
                                     table.column(i).cast(pa.timestamp(field.type.unit, "UTC")))  # fmt: skip
    return table


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Txn:
    """What one commit will change: tables edited copy-on-write, the files
    written for it (deleted again if it fails), states and load rows."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.tables: dict[str, TableChange] = {}
        self.written: list[str] = []
        self.states: dict[str, dict[str, Any]] = {}
        self.loads: dict[str, dict[str, Any] | None] = {}
        self.runs: dict[str, dict[str, Any] | None] = {}
        self.changes: list[dict[str, Any]] = []
        self.published = False
        self.started = utc_now()  # one stamp for the commit's schema changes, as one transaction has

    def meta(self, table: str) -> TableMeta | None:
        change = self.tables.get(table.lower())
        return change.meta if change is not None else self.snapshot.tables.get(table.lower())

    def names(self) -> list[str]:
        keys = set(self.snapshot.tables) | set(self.tables)
        return [meta.name for key in sorted(keys) if (meta := self.meta(key)) is not None]

    def edit(self, table: str, columns: list[tuple[str, str]] | None = None) -> TableMeta:
        """The table's working copy, created with ``columns`` when it does not exist."""
        key = table.lower()
        if key not in self.tables:
            base = self.snapshot.tables.get(key)
            if base is None:
                if columns is None:
                    raise WarehouseError(f"table {table!r} does not exist")
                base = TableMeta(table, list(columns))
            self.tables[key] = TableChange(base.copy())
        return self.tables[key].meta

    def add(self, table: str, files: Iterable[DataFile]) -> None:
        change = self.tables[table.lower()]
        for f in files:
            change.meta.files[f.path] = f
            change.added.append(f)

    def remove(self, table: str, paths: Iterable[str]) -> None:
        self.edit(table)
        change = self.tables[table.lower()]
        for path in list(paths):
            change.meta.files.pop(path, None)
            fresh = [f for f in change.added if f.path == path]
            if fresh:
                change.added.remove(fresh[0])
            else:
                change.removed.append(path)

    def commit(self) -> Commit:
        return Commit(self.snapshot.version + 1, self.tables, self.states, self.loads, self.runs)


class LakeFiles:
    """The lake's file work, a part of :class:`ParquetLake`: writing tables as
    partitioned Parquet files, reading them back in the table's current types,
    and rewriting the files a merge touches."""

    _views: int
    _pool: concurrent.futures.ThreadPoolExecutor
    _store: Store

    if TYPE_CHECKING:

        @property
        def _duck(self) -> _duckdb.DuckDBPyConnection: ...
        def _rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]: ...

    def _name(self, prefix: str) -> str:
        self._views += 1
        return f"__tf_{prefix}_{self._views}"

    def _register(self, data: Any) -> str:
        name = self._name("scan")
        self._duck.register(name, data)
        return name

    def _relation(
        self, meta: TableMeta, registered: list[str], files: Iterable[DataFile] | None = None
    ) -> str:
        """SQL reading ``files`` (default: all) of a table in its current
        columns and types: one dataset per layout, each cast to the table."""
        by_layout: dict[int, list[str]] = {}
        for f in meta.files.values() if files is None else files:
            by_layout.setdefault(f.layout, []).append(self._store.full(f.path))
        parts = []
        for layout_index, paths in by_layout.items():
            layout = meta.layouts[layout_index]
            dataset = ds.FileSystemDataset.from_paths(
                paths, schema=layout.schema(), format=ds.ParquetFileFormat(), filesystem=self._store.fs
            )
            name = self._register(dataset)
            registered.append(name)
            parts.append(select_cast(meta.columns, _q(name), layout.columns))
        if not parts:
            nulls = ", ".join(f"CAST(NULL AS {t}) AS {_q(n)}" for n, t in meta.columns)
            return f"SELECT {nulls} WHERE false"
        return " UNION ALL ".join(parts)

    def _rewrite_without(self, tx: Txn, table: str, targets: list[tuple[str, str, str]], keys: str) -> int:
        """Drop from ``table`` the rows whose columns match a row of ``keys``
        (``targets``: key name, table column, its type); returns rows dropped."""
        meta = tx.meta(table)
        if meta is None or not meta.files:
            return 0
        present = []
        for k, _column, type_name in targets:
            values = [
                v for (v,) in self._rows(f"SELECT DISTINCT CAST({_q(k)} AS {type_name}) AS v FROM {keys}")
            ]
            present.append(None if None in values else sorted(values))
        candidates = [f for f in meta.files.values() if _may_hold(f, targets, present)]
        if not candidates:
            return 0
        match = " AND ".join(
            f"f.{_q(column)} IS NOT DISTINCT FROM CAST(k.{_q(k)} AS {type_name})"
            for k, column, type_name in targets
        )
        wanted = [column for _k, column, _t in targets]
        dropped = 0
        matching = f"EXISTS (SELECT 1 FROM {keys} AS k WHERE {match})"
        raws = self._pool.map(lambda f: self._read_raw(meta, f, wanted), candidates)
        for f, raw in zip(candidates, raws, strict=True):
            view = self._register(self._conform(meta, f, raw, wanted))
            try:
                found = int(self._rows(f"SELECT count(*) FROM {_q(view)} AS f WHERE {matching}")[0][0])
            finally:
                self._duck.unregister(view)
            if not found:
                continue
            dropped += found
            view = self._register(self._read_file(meta, f, None))
            try:
                kept = to_arrow(self._duck.sql(f"SELECT * FROM {_q(view)} AS f WHERE NOT {matching}"))
            finally:
                self._duck.unregister(view)
            tx.remove(table, [f.path])
            if kept.num_rows:
                stats = sorted(set(f.stats) | set(wanted))
                tx.add(table, self._write_table(tx, meta, kept, None, stats, partition=f.partition))
        return dropped

    def _read_file(self, meta: TableMeta, f: DataFile, columns: list[str] | None) -> pa.Table:
        """One committed file in the table's current columns and types (or only ``columns`` of them)."""
        return self._conform(meta, f, self._read_raw(meta, f, columns), columns)

    def _read_raw(self, meta: TableMeta, f: DataFile, columns: list[str] | None) -> pa.Table:
        """The file's ``columns`` that it has, as written (file I/O only: safe in the thread pool)."""
        present = {name for name, _ in meta.layouts[f.layout].columns}
        wanted = [n for n, _ in meta.columns] if columns is None else columns
        with self._store.fs.open_input_file(self._store.full(f.path)) as handle:
            return pq.ParquetFile(handle).read(columns=[c for c in wanted if c in present])

    def _conform(self, meta: TableMeta, f: DataFile, raw: pa.Table, columns: list[str] | None) -> pa.Table:
        """``raw`` cast to the table's current types, columns the file lacks as nulls."""
        wanted = [n for n, _ in meta.columns] if columns is None else columns
        types = dict(meta.columns)
        view = self._register(raw)
        try:
            return _utc(to_arrow(self._duck.sql(
                select_cast([(c, types[c]) for c in wanted], _q(view), meta.layouts[f.layout].columns)
            )))  # fmt: skip
        finally:
            self._duck.unregister(view)

    def _write_table(
        self,
        tx: Txn,
        meta: TableMeta,
        arrow: pa.Table,
        specs: list[PartitionSpec] | None,
        stats: Sequence[str] = (),
        *,
        partition: str | None = None,
    ) -> list[DataFile]:
        """Write ``arrow`` (in the table's current columns) as zstd Parquet
        files, one per partition; returns them, not yet committed."""
        if arrow.num_rows == 0:
            return []
        arrow = _utc(arrow)
        pieces: list[tuple[str, pa.Table]]
        if specs and partition is None:
            pieces = self._split(meta, arrow, specs)
        else:
            pieces = [(partition or "", arrow)]
        layout = meta.layout_for(arrow.schema.remove_metadata())
        folder = encode_segment(meta.name)
        token = uuid.uuid4().hex
        jobs = []
        for index, (part, piece) in enumerate(pieces):
            path = f"{folder}/{part + '/' if part else ''}part-{index:05d}-{token}.zstd.parquet"
            tx.written.append(path)
            jobs.append((path, part, piece))

        def write(job: tuple[str, str, pa.Table]) -> DataFile:
            path, part, piece = job
            sink = pa.BufferOutputStream()
            try:
                pq.write_table(piece, sink, compression="zstd")
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as exc:
                raise WarehouseError(_unwritable(meta.name, piece, exc)) from exc
            data = sink.getvalue()
            self._store.write(path, data)
            return DataFile(path, piece.num_rows, data.size, layout, part, _stats(piece, stats))

        return list(self._pool.map(write, jobs))

    def _split(
        self, meta: TableMeta, arrow: pa.Table, specs: list[PartitionSpec]
    ) -> list[tuple[str, pa.Table]]:
        """The rows of ``arrow`` grouped by partition folder (``key=value/...``)."""
        columns = meta.column_map()
        values = [spec.sql(meta.name, columns) for spec in specs]
        view = self._register(arrow)
        try:
            keyed = to_arrow(self._duck.sql(
                f"SELECT *, to_json([{', '.join(values)}]) AS __tf_part FROM {_q(view)} ORDER BY __tf_part"
            ))  # fmt: skip
        finally:
            self._duck.unregister(view)
        runs = pc.run_end_encode(keyed.column("__tf_part").combine_chunks())
        data = keyed.drop_columns(["__tf_part"])
        out, start = [], 0
        for end, value in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
            folder = "/".join(
                f"{encode_segment(spec.key)}={_NULL_PARTITION if v is None else encode_segment(str(v))}"
                for spec, v in zip(specs, json.loads(value), strict=True)
            )
            out.append((folder, data.slice(start, end - start)))
            start = end
        return out

    def _append_rows(self, tx: Txn, table: str, rows: list[dict[str, Any]]) -> None:
        self._append_frame(tx, table, rows_frame(table, rows))

    def _append_frame(self, tx: Txn, table: str, frame: pl.DataFrame) -> None:
        """Add bookkeeping rows to ``table`` as one more file of the commit."""
        columns = BOOKKEEPING_COLUMNS[table]
        meta = tx.edit(table, columns)
        if [n for n, _ in meta.columns] != [n for n, _ in columns]:
            meta.columns = list(
                columns
            )  # columns added since the lake was made: older files read them as null
        view = self._register(frame.to_arrow())
        try:
            arrow = to_arrow(self._duck.sql(select_cast(columns, _q(view), [(n, t) for n, t in columns])))
        finally:
            self._duck.unregister(view)
        tx.add(table, self._write_table(tx, meta, arrow, None))

    def _compact_bookkeeping(self, tx: Txn, table: str) -> None:
        """Fold a bookkeeping table's files into one once it has many, so they stay few."""
        if table.lower() not in tx.tables:
            return
        meta = tx.edit(table)
        if len(meta.files) < _COMPACT_AT:
            return
        old = list(meta.files.values())
        raws = list(self._pool.map(lambda f: self._read_raw(meta, f, None), old))
        parts = [self._conform(meta, f, raw, None) for f, raw in zip(old, raws, strict=True)]
        tx.remove(table, [f.path for f in old])
        tx.add(table, self._write_table(tx, meta, pa.concat_tables(parts), None))


def is_bookkeeping(name: str) -> bool:
    return name.lower().startswith(BOOKKEEPING_PREFIX)


def select_cast(columns: Sequence[tuple[str, str]], source: str, present: Sequence[tuple[str, str]]) -> str:
    """SELECT ``columns`` (name, type) from ``source``, which has ``present``; the rest read as null."""
    have = {name for name, _ in present}
    select = ", ".join(
        (f"CAST({_q(name)} AS {type_name})" if name in have else f"CAST(NULL AS {type_name})")
        + f" AS {_q(name)}"
        for name, type_name in columns
    )
    return f"SELECT {select} FROM {source}"


def rows_frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Bookkeeping rows as a frame of text, numbers and stamps (DuckDB casts the rest)."""
    schema: dict[str, Any] = {}
    for name, type_name in BOOKKEEPING_COLUMNS[table]:
        schema[name] = (
            pl.Datetime("us", "UTC") if type_name == _TSTZ
            else pl.Int64 if type_name == "BIGINT"
            else pl.String
        )  # fmt: skip
    converted = []
    for row in rows:
        out = dict(row)
        for name, type_name in BOOKKEEPING_COLUMNS[table]:
            if type_name == _TSTZ and isinstance(out.get(name), str):
                out[name] = dt.datetime.fromisoformat(out[name])
        converted.append(out)
    return pl.DataFrame(converted, schema=schema)


def _stats(piece: pa.Table, columns: Iterable[str]) -> dict[str, list[Any]]:
    """Min and max of integer and text key columns without nulls."""
    out = {}
    for name in columns:
        if name not in piece.column_names:
            continue
        column = piece.column(name)
        kind = column.type
        if column.null_count or not (pa.types.is_integer(kind) or pa.types.is_string(kind)):
            continue
        bounds = pc.min_max(column)
        out[name] = [bounds["min"].as_py(), bounds["max"].as_py()]
    return out


def _may_hold(f: DataFile, targets: list[tuple[str, str, str]], present: list[list[Any] | None]) -> bool:
    """False only when the file's key range shows it holds none of the batch's keys
    (``present``: each key column's sorted batch values, None when one is null)."""
    for (_k, column, _t), values in zip(targets, present, strict=True):
        kept = f.stats.get(column)
        if values is None or kept is None or not values:
            continue
        low, high = kept
        if any(type(v) is not type(low) for v in (values[0], values[-1], high)):
            continue  # types changed since the file was written: read it
        if bisect.bisect_left(values, low) == bisect.bisect_right(values, high):
            return False  # no batch key between the file's min and max
    return True


def _unwritable(table: str, piece: pa.Table, exc: Exception) -> str:
    """Name the column Parquet cannot store."""
    for field in piece.schema:
        try:
            pq.write_table(pa.table({field.name: pa.nulls(0, field.type)}), pa.BufferOutputStream())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            return f"table {table!r}, column {field.name!r}: Parquet cannot store {field.type} values ({exc})"
    return f"table {table!r}: cannot write Parquet: {exc}"
