"""How the Parquet lake writes one table of a batch: staging the frame in
DuckDB, evolving the table's schema under the load's contract, deleting the
rows a merge or a changed file replaces, and writing the new files. The
commit itself (and the load lifecycle) is :class:`ParquetLake`'s."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import duckdb as _duckdb
import polars as pl

from tillflow.exceptions import WarehouseError
from tillflow.warehouse._batch import (
    QUARANTINE_SUFFIX,
    family,
    last_per_key,
)
from tillflow.warehouse._lake_files import (
    LakeFiles,
    PartitionSpec,
    Txn,
    to_arrow,
)
from tillflow.warehouse._lake_log import (
    TableMeta,
)
from tillflow.warehouse._schema import Change, insert_columns, plan_changes
from tillflow.warehouse.loads import (
    LOAD_ID_COLUMN,
    LoadHandle,
    WriteMode,
)
from tillflow.warehouse.sql import quote_identifier as _q

__all__ = ["LakeTableWrites"]


@dataclasses.dataclass
class _Staged:
    """One table of a batch, registered with DuckDB and ready to write."""

    table: str
    is_root: bool
    view: str | None  # None: nothing to write (a frame without columns)
    columns: list[tuple[str, str]]  # (name, DuckDB type), all-null columns left out
    rows: int
    plain: bool = False  # quarantine rows: appended whatever the write mode


@dataclasses.dataclass
class _Step:
    """Where a batch is, so an error can name the table and column."""

    table: str
    column: str | None = None


class LakeTableWrites(LakeFiles):
    """The per-table half of a batch write (see the module)."""

    partition_by: dict[str, list[PartitionSpec]]

    if TYPE_CHECKING:

        def _run(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

    def _stage(
        self, load: LoadHandle, table: str, frame: pl.DataFrame, *, is_root: bool, plain: bool = False
    ) -> _Staged:
        """Check and dedupe one frame, register it with DuckDB and read its column types."""
        if not isinstance(frame, pl.DataFrame):
            raise TypeError(f"expected a polars DataFrame, got {type(frame).__name__}")
        frame = frame.drop(LOAD_ID_COLUMN, strict=False)  # the load id is ours to set
        if frame.width == 0:
            return _Staged(table, is_root, None, [], 0, plain)
        if load.write_mode is WriteMode.MERGE and not plain:
            key = list(load.primary_key or ()) if is_root else ["_tf_id"]
            missing = [k for k in key if k not in frame.columns]
            if is_root and missing:
                raise WarehouseError(
                    f"load {load.load_id}: merge key column {missing[0]!r} is missing from table {table!r}"
                )
            if not missing:
                frame = last_per_key(frame, key)
        view = self._register(frame.to_arrow())
        staged = _Staged(table, is_root, view, [], frame.height, plain)
        staged.columns = [
            (name, type_name)
            for name, type_name, *_ in self._rows(f"DESCRIBE SELECT * FROM {_q(view)}")
            if type_name.strip('"') != "NULL"  # no value yet: the column waits for a typed batch
        ]
        lowered = [name.lower() for name, _ in staged.columns]
        if len(set(lowered)) != len(lowered):
            raise WarehouseError(
                f"table {table!r}: column names differ only by case, which DuckDB cannot hold"
            )
        return staged

    def _write_staged(
        self, tx: Txn, load: LoadHandle, root: str, item: _Staged, step: _Step, dropped: str | None
    ) -> int:
        """Write one table of a batch; returns the rows written. ``dropped``
        holds the row ids a ``discard_row`` contract left out (their child rows go too)."""
        if item.view is None:
            return 0
        meta = self._evolve(tx, load, item, step)
        step.column = None
        columns = meta.column_map()
        select, fits = insert_columns(item.columns, columns, load.schema_contract)
        source = item.view
        if dropped is not None:
            names = {name.lower() for name, _ in item.columns}
            keep = " AND ".join(fits) if fits else "true"
            if "_tf_parent_id" in names:
                keep += f" AND CAST(_tf_parent_id AS VARCHAR) NOT IN (SELECT id FROM {dropped})"
            if "_tf_id" in names:
                self._run(
                    f"INSERT INTO {dropped} SELECT CAST(_tf_id AS VARCHAR) FROM {_q(item.view)} "
                    f"WHERE _tf_id IS NOT NULL AND NOT ({keep})"
                )
            source = self._name("kept")
            self._run(f"CREATE TEMP VIEW {source} AS SELECT * FROM {_q(item.view)} WHERE {keep}")
        try:
            if load.write_mode is WriteMode.MERGE and item.is_root and not item.plain:
                self._delete_merged(tx, load, meta, source, step)
            incoming = {name.lower(): name for name, _ in item.columns}
            outer = []
            for name, type_name in meta.columns:
                if name == LOAD_ID_COLUMN:
                    outer.append(f"CAST($load_id AS VARCHAR) AS {_q(name)}")
                elif name.lower() in incoming:
                    outer.append(f"q.{_q(incoming[name.lower()])} AS {_q(name)}")
                else:
                    outer.append(f"CAST(NULL AS {type_name}) AS {_q(name)}")
            inner = f"SELECT {', '.join(select) or 'NULL AS __tf_none'} FROM {_q(source)}"
            sql = f"SELECT {', '.join(outer)} FROM ({inner}) AS q"
            try:
                arrow = to_arrow(self._duck.sql(sql, params={"load_id": load.load_id}))
            except _duckdb.Error:
                step.column = self._uncastable_column(item.view, item.columns, columns)
                raise
            stats = () if item.plain else _key_columns(load, root, meta, item.is_root)
            tx.add(item.table, self._write_table(tx, meta, arrow, self._specs(meta), stats))
        finally:
            if source != item.view:
                self._run(f"DROP VIEW IF EXISTS {source}")
        return arrow.num_rows

    def _specs(self, meta: TableMeta) -> list[PartitionSpec] | None:
        return self.partition_by.get(meta.name.lower())

    def _evolve(self, tx: Txn, load: LoadHandle, item: _Staged, step: _Step) -> TableMeta:
        """Create the table or add and widen its columns, as the load's schema
        contract allows; every change goes to ``_tf_schema_changes`` in the
        batch's commit. Widening checks the committed values still fit."""
        existing = tx.meta(item.table)
        changes = plan_changes(
            item.table,
            None if existing is None else existing.column_map(),
            item.columns,
            load.schema_contract,
        )
        meta = tx.edit(item.table, [*item.columns, (LOAD_ID_COLUMN, "VARCHAR")])
        for c in changes:
            step.column = c.column
            if existing is not None and c.column is not None:
                if c.change == "column_added":
                    meta.columns.append((c.column, c.new_type or "VARCHAR"))
                else:
                    self._check_widening(meta, c)
                    meta.columns = [
                        (n, c.new_type or t) if n == c.column else (n, t) for n, t in meta.columns
                    ]
            if c.column != LOAD_ID_COLUMN:
                tx.changes.append(_change_row(load, item.table, c, tx.started))
        return meta

    def _check_widening(self, meta: TableMeta, c: Change) -> None:
        """A wider type must hold every committed value, as ALTER TYPE would check."""
        if not meta.files:
            return
        registered: list[str] = []
        try:
            relation = self._relation(meta, registered)
            ident = _q(c.column or "")
            bad = self._rows(
                f"SELECT count(*) FROM ({relation}) WHERE {ident} IS NOT NULL "
                f"AND TRY_CAST({ident} AS {c.new_type}) IS NULL"
            )[0][0]
        finally:
            for name in registered:
                self._duck.unregister(name)
        if bad:
            raise WarehouseError(
                f"table {meta.name!r}, column {c.column!r}: {bad} stored values do not fit "
                f"{c.new_type} (widening from {c.old_type})"
            )

    def _delete_where(self, tx: Txn, root: str, where: Mapping[str, Sequence[Any]], step: _Step) -> None:
        """Drop the rows of ``root``, its child tables and its quarantine table
        whose column holds one of the values, rewriting only the files that
        hold one; tables without the column hold no such row."""
        quarantine = (root + QUARANTINE_SUFFIX).lower()
        tables = family(tx.names(), root) + [t for t in tx.names() if t.lower() == quarantine]
        for column, values in where.items():
            if not values:
                continue
            keys = self._name("delete")
            self._run(f"CREATE TEMP TABLE {keys} (v VARCHAR)")
            try:
                self._run(f"INSERT INTO {keys} SELECT unnest(?)", [[str(v) for v in values]])
                for table in tables:
                    found = (tx.meta(table) or TableMeta(table, [])).column_map().get(column.lower())
                    if found is None:
                        continue
                    step.table, step.column = table, found[0]
                    self._rewrite_without(tx, table, [("v", found[0], found[1])], keys)
            finally:
                self._run(f"DROP TABLE IF EXISTS {keys}")
        step.table, step.column = root, None

    def _delete_merged(self, tx: Txn, load: LoadHandle, meta: TableMeta, source: str, step: _Step) -> None:
        """Remove the rows the batch replaces, and every child row under them,
        rewriting only the files that hold one."""
        columns = meta.column_map()
        key = list(load.primary_key or ())
        keys = self._name("keys")
        casts = ", ".join(f"CAST({_q(k)} AS {columns[k.lower()][1]}) AS {_q(k)}" for k in key)
        self._run(f"CREATE TEMP TABLE {keys} AS SELECT DISTINCT {casts} FROM {_q(source)}")
        try:
            targets = [(k, columns[k.lower()][0], columns[k.lower()][1]) for k in key]
            if self._rewrite_without(tx, meta.name, targets, keys) == 0:
                # Children are only ever written with their root row, so no root
                # row replaced means no child row to replace either.
                return
            for child in family(tx.names(), meta.name):
                if child.lower() == meta.name.lower():
                    continue
                step.table = child
                child_columns = (tx.meta(child) or TableMeta(child, [])).column_map()
                links = []
                for k in key:
                    link = f"{meta.name}_{k}"
                    found = child_columns.get(link.lower())
                    if found is None:
                        step.column = link
                        raise WarehouseError(
                            f"load {load.load_id}: child table {child!r} lacks the root key column {link!r}, "
                            f"so merge cannot replace its rows"
                        )
                    links.append((k, found[0], found[1]))
                self._rewrite_without(tx, child, links, keys)
            step.table, step.column = meta.name, None
        finally:
            self._run(f"DROP TABLE IF EXISTS {keys}")

    def _uncastable_column(
        self, view: str, incoming: list[tuple[str, str]], columns: dict[str, tuple[str, str]]
    ) -> str | None:
        """After a failed cast, the first column whose values do not fit the table's type."""
        for name, type_name in incoming:
            found = columns.get(name.lower())
            if found is None or found[1] == type_name:
                continue
            ident = _q(name)
            try:
                bad = self._rows(
                    f"SELECT count(*) FROM {_q(view)} WHERE {ident} IS NOT NULL "
                    f"AND TRY_CAST({ident} AS {found[1]}) IS NULL"
                )[0][0]
            except _duckdb.Error:
                return None
            if bad:
                return name
        return None


# -- helpers without state


def _key_columns(load: LoadHandle, root: str, meta: TableMeta, is_root: bool) -> list[str]:
    """The columns a later merge matches in this table: the key in the root
    table, ``<root>_<key>`` in its child tables."""
    key = load.primary_key or ()
    names = [k if is_root else f"{root}_{k}" for k in key]
    columns = meta.column_map()
    if not is_root and not meta.name.lower().startswith(root.lower() + "__"):
        return []
    return [columns[n.lower()][0] for n in names if n.lower() in columns]


def _change_row(load: LoadHandle, table: str, c: Change, stamp: dt.datetime) -> dict[str, Any]:
    return {
        "load_id": load.load_id, "pipeline": load.pipeline, "resource": load.resource, "table": table,
        "column": c.column, "change": c.change, "old_type": c.old_type, "new_type": c.new_type,
        "changed_at": stamp.isoformat(),
    }  # fmt: skip
