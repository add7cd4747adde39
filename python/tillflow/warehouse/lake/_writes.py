"""How the Delta lake writes one table of a batch: staging the frame in
DuckDB, evolving the table's schema under the load's contract, deleting
what a merge, an scd2 change or a changed file replaces, and appending the
new rows. Each step that changes a table is one Delta commit carrying the
batch's stamp (see `_commits`); the batch's commit point, and the
load lifecycle, are [DeltaLake][tillflow.warehouse.DeltaLake]'s."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb as _duckdb
import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, WriterProperties, write_deltalake
from deltalake.table import TableMerger

from tillflow.exceptions import WarehouseError
from tillflow.warehouse import _batch, _scd2
from tillflow.warehouse._base import Batch
from tillflow.warehouse._batch import ID_COLUMN, Staged, Step
from tillflow.warehouse._schema import Change, insert_columns, plan_changes
from tillflow.warehouse._staging import Columns
from tillflow.warehouse.lake._bookkeeping import for_delta, select_cast, to_arrow
from tillflow.warehouse.lake._commits import Stamp
from tillflow.warehouse.lake._layout import PartitionSpec
from tillflow.warehouse.lake._reads import DeltaReads
from tillflow.warehouse.loads import (
    LOAD_ID_COLUMN,
    VALID_FROM_COLUMN,
    VALID_TO_COLUMN,
    LoadHandle,
    WriteMode,
)
from tillflow.warehouse.sql import quote_identifier as _q

__all__ = ["DeltaWrites"]

ZSTD = WriterProperties(compression="ZSTD")
# Arrow types Delta has no type for, as the type that holds every value.
_WIDER: dict[Any, pl.DataType] = {
    pl.UInt8: pl.Int16(),
    pl.UInt16: pl.Int32(),
    pl.UInt32: pl.Int64(),
    pl.UInt64: pl.Decimal(20, 0),
}


def merger(target: DeltaTable, source: pa.Table, predicate: str, stamp: Stamp | None) -> TableMerger:
    """A ``deltalake`` merge of ``source`` (alias ``s``) into ``target``
    (alias ``t``), its commit stamped, its files zstd."""
    return target.merge(
        source, predicate, source_alias="s", target_alias="t", writer_properties=ZSTD,
        commit_properties=None if stamp is None else stamp.properties(),
    )  # fmt: skip


def delta_ident(name: str) -> str:
    """A column in a ``deltalake`` predicate (DataFusion SQL)."""
    return '"' + name.replace('"', '""') + '"'


class DeltaWrites(DeltaReads):
    """The per-table half of a batch write (see the module)."""

    partition_by: dict[str, list[PartitionSpec]]
    _seen: dict[str, pa.Table]  # load id -> the keys an scd2 load brought
    engine_name = "Delta"

    def _storable(self, table: str, frame: pl.DataFrame) -> pl.DataFrame:
        """The frame in types Delta has: unsigned integers widened to signed
        ones, categories as text, timestamps in microseconds; a type Delta has
        no equivalent for fails naming the table and column."""
        casts: dict[str, pl.DataType] = {}
        for name, dtype in frame.schema.items():
            base = dtype.base_type()
            wider = _WIDER.get(base)
            if wider is not None:
                casts[name] = wider
            elif base in (pl.Categorical, pl.Enum):
                casts[name] = pl.String()
            elif base is pl.Datetime and getattr(dtype, "time_unit", "us") != "us":
                casts[name] = pl.Datetime("us", getattr(dtype, "time_zone", None))
            elif base in (pl.Duration, pl.Time, pl.Object):
                raise WarehouseError(
                    f"table {table!r}, column {name!r}: Delta Lake cannot store {dtype} values "
                    f"(convert them to a number or text first)"
                )
        return frame.with_columns(pl.col(n).cast(t) for n, t in casts.items()) if casts else frame

    def _arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        return for_delta(to_arrow(self._duck.sql(sql, params=params)))

    def _family(self, root: str) -> list[str]:
        return _batch.family(self._names(), root)

    # -- staging

    def _write_staged(
        self,
        load: LoadHandle,
        item: Staged,
        step: Step,
        dropped: str | None,
        stamp: Stamp,
        changes: list[tuple[str, Change]],
    ) -> int:
        """Write one table of a batch; returns the rows written. ``dropped``
        holds the row ids a ``discard_row`` contract or an unchanged scd2 row
        left out (their child rows stay out too)."""
        if item.view is None:
            return 0
        columns = self._evolve(load, item, step, stamp, changes)
        step.column = None
        select, fits = insert_columns(item.columns, columns, load.schema_contract)
        source = self._kept(item, fits, dropped)
        try:
            versioned = load.write_mode is WriteMode.SCD2 and not item.plain
            if versioned and item.is_root:
                return self._write_versions(load, item, source, select, columns, dropped, stamp)
            if load.write_mode is WriteMode.MERGE and item.is_root and not item.plain:
                self._delete_merged(load, item.table, source, columns, step, stamp)
            inner = f"SELECT {', '.join(select) or 'NULL AS __tf_none'} FROM {_q(source)}"
            try:
                arrow = self._shaped(item.table, columns, inner, load, versioned)
            except _duckdb.Error:
                step.column = self._uncastable_column(item.view, item.columns, columns)
                raise
            self._append(item.table, arrow, stamp)
            return arrow.num_rows
        finally:
            if source != item.view:
                self._drop("VIEW", source)

    def _shaped(
        self, table: str, columns: Columns, inner: str, load: LoadHandle, versioned: bool
    ) -> pa.Table:
        """The rows of ``inner`` in every column of the table, in its types:
        the load id, an scd2 row's validity and the partition columns filled in."""
        have = {n.lower() for n, _t, *_ in self._rows(f"DESCRIBE {inner}")}
        derived = {spec.key.lower(): spec for spec in self._specs(table) if spec.transform}
        outer = []
        for name, type_name in columns.values():
            if name == LOAD_ID_COLUMN:
                outer.append(f"CAST($load_id AS VARCHAR) AS {_q(name)}")
            elif versioned and name == VALID_FROM_COLUMN:
                outer.append(f"CAST($stamp AS TIMESTAMPTZ) AS {_q(name)}")
            elif name.lower() in have and name.lower() not in derived:
                outer.append(f"CAST(q.{_q(name)} AS {type_name}) AS {_q(name)}")
            elif name.lower() not in derived:
                outer.append(f"CAST(NULL AS {type_name}) AS {_q(name)}")
        parts = [f"{spec.sql(table, columns)} AS {_q(spec.key)}" for spec in derived.values()]
        sql = f"SELECT {', '.join(outer)} FROM ({inner}) AS q"
        if parts:
            sql = f"SELECT *, {', '.join(parts)} FROM ({sql})"
        return self._arrow(sql, {"load_id": load.load_id, "stamp": load.started_at} if versioned else
                           {"load_id": load.load_id})  # fmt: skip

    def _specs(self, table: str) -> list[PartitionSpec]:
        return self.partition_by.get(table.lower(), [])

    def _append(self, table: str, arrow: pa.Table, stamp: Stamp, *, create: bool = False) -> None:
        """Append ``arrow`` to ``table`` in one commit (creating the table,
        partitioned as configured); a table that exists gains new columns."""
        target = self._table(table)
        if target is not None and arrow.num_rows == 0 and not create:
            have = {f.name for f in pa.schema(target.schema().to_arrow())}
            if set(arrow.column_names) <= have:
                return  # nothing to add and no new column: no commit
        specs = [spec.key for spec in self._specs(table)]
        write_deltalake(
            target if target is not None else self._where.table_uri(table),
            arrow,
            mode="append",
            schema_mode="merge",
            partition_by=specs or None if target is None else None,
            writer_properties=ZSTD,
            commit_properties=stamp.properties(),
            storage_options=None if target is not None else self._where.options,
        )

    # -- schema

    def _evolve(
        self, load: LoadHandle, item: Staged, step: Step, stamp: Stamp, changes: list[tuple[str, Change]]
    ) -> Columns:
        """The table's columns once the batch's columns are in, as the load's
        schema contract allows (see `plan_changes`): new columns come
        with the append, a wider type rewrites the table now (after checking
        its values fit). Every change is noted for ``_tf_schema_changes``."""
        target = self._table(item.table)
        existing = None if target is None else self._columns_of(target)
        own = _batch.bookkeeping_columns(load, plain=item.plain)
        own += [(spec.key, "VARCHAR") for spec in self._specs(item.table) if spec.transform]
        planned = plan_changes(item.table, existing, item.columns, load.schema_contract, bookkeeping=own)
        columns: Columns = dict(existing or {})
        if existing is None:
            columns = {n.lower(): (n, t) for n, t in [*item.columns, *own]}
        widened = []
        for c in planned:
            step.column = c.column
            if existing is not None and c.column is not None:
                if c.change == "column_added":
                    columns[c.column.lower()] = (c.column, c.new_type or "VARCHAR")
                else:
                    columns[c.column.lower()] = (c.column, c.new_type or "VARCHAR")
                    widened.append(c)
            if c.column not in _batch.OWN_COLUMNS and c.column not in {n for n, _ in own}:
                changes.append((item.table, c))
        for spec in self._specs(item.table):
            spec.sql(item.table, columns)  # a partition column that is missing or not a date fails here
        if widened and target is not None:
            self._widen(item.table, target, columns, widened, step, stamp)
        return columns

    def _widen(
        self,
        table: str,
        target: DeltaTable,
        columns: Columns,
        widened: list[Change],
        step: Step,
        stamp: Stamp,
    ) -> None:
        """Rewrite ``table`` in its wider types, in one commit; a stored value
        the wider type cannot hold fails naming it, as ALTER TYPE would."""
        scan = self._register(self._where.dataset(table, target))
        try:
            for c in widened:
                step.column = c.column
                ident = _q(c.column or "")
                bad = self._rows(
                    f"SELECT count(*) FROM {scan} WHERE {ident} IS NOT NULL "
                    f"AND TRY_CAST({ident} AS {c.new_type}) IS NULL"
                )[0][0]
                if bad:
                    raise WarehouseError(
                        f"table {table!r}, column {c.column!r}: {bad} stored values do not fit "
                        f"{c.new_type} (widening from {c.old_type})"
                    )
            have = [n for n, _ in self._columns_of(target).values()]
            current = [(n, t) for n, t in columns.values() if n in have]
            arrow = self._arrow(select_cast(current, scan, [n for n, _ in current]))
        finally:
            self._duck.unregister(scan)
        write_deltalake(
            target, arrow, mode="overwrite", schema_mode="overwrite",
            partition_by=[spec.key for spec in self._specs(table)] or None,
            writer_properties=ZSTD, commit_properties=stamp.properties(),
        )  # fmt: skip

    def _delete_matching(
        self, table: str, keys: pa.Table, links: Sequence[tuple[str, str]], stamp: Stamp, *, extra: str = ""
    ) -> int:
        """Delete the rows of ``table`` whose ``links`` (table column, key
        column) match a row of ``keys``, in one commit; returns rows deleted.
        Only the files holding such a row are rewritten."""
        target = self._table(table)
        if target is None or keys.num_rows == 0:
            return 0
        match = " AND ".join(f"t.{delta_ident(column)} = s.{delta_ident(key)}" for column, key in links)
        metrics = merger(target, keys, match + extra, stamp).when_matched_delete().execute()
        return int(metrics.get("num_target_rows_deleted", 0))

    def _keys(
        self, source: str, key: Sequence[str], columns: Columns, types: Columns | None = None
    ) -> pa.Table:
        """The distinct ``key`` columns of ``source``, cast to ``types``' (default ``columns``') types."""
        types = types or columns
        casts = ", ".join(f"CAST({_q(k)} AS {types[k.lower()][1]}) AS {_q(k)}" for k in key)
        return self._arrow(f"SELECT DISTINCT {casts} FROM {_q(source)}")

    def _delete_merged(
        self, load: LoadHandle, root: str, source: str, columns: Columns, step: Step, stamp: Stamp
    ) -> None:
        """Delete the root rows the batch replaces, and every child row under them."""
        key = list(load.primary_key or ())
        keys = self._keys(source, key, columns)
        if self._delete_matching(root, keys, [(columns[k.lower()][0], k) for k in key], stamp) == 0:
            return  # children are only ever written with their root row
        for child in self._family(root):
            if child.lower() == root.lower():
                continue
            step.table = child
            target = self._table(child)
            child_columns = self._columns_of(target) if target is not None else {}
            links = _batch.root_links(load, root, child, child_columns)
            typed = {k.lower(): child_columns[link.lower()] for link, k in zip(links, key, strict=True)}
            self._delete_matching(child, self._keys(source, key, columns, typed),
                                  list(zip(links, key, strict=True)), stamp)  # fmt: skip
        step.table, step.column = root, None

    def _delete_where(self, batch: Batch, where: Mapping[str, Sequence[Any]]) -> None:
        """Delete the rows of the root table, its child tables and its
        quarantine table whose column holds one of the values (compared as text)."""
        root, step, stamp = batch.root, batch.step, batch.engine.stamp
        for table in _batch.replaced_by_file(self._names(), root):
            step.table = table
            target = self._table(table)
            columns = self._columns_of(target) if target is not None else {}
            for column, values in where.items():
                found = columns.get(column.lower())
                if found is None or not values:
                    continue
                step.column = found[0]
                view = self._register(pa.table({"v": pa.array(sorted({str(v) for v in values}))}))
                try:
                    keys = self._arrow(
                        f"SELECT DISTINCT t.{_q(found[0])} AS k FROM {self._scan(table)} AS t "
                        f"JOIN {view} ON CAST(t.{_q(found[0])} AS VARCHAR) = {view}.v"
                    )
                finally:
                    self._duck.unregister(view)
                self._delete_matching(table, keys, [(found[0], "k")], stamp)
        step.table, step.column = root, None

    def _scan(self, table: str, columns: Columns | None = None) -> str:
        """A registered scan of the table's newest version (unregistered when
        the batch ends); with ``columns``, a view of it in those columns and
        types, the ones the table does not have yet as nulls."""
        target = self._table(table)
        assert target is not None
        scan = self._register(self._where.dataset(table, target))
        if columns is None:
            return scan
        have = [n for n, _ in self._columns_of(target).values()]
        view = self._name("scan")
        self._run(f"CREATE TEMP VIEW {view} AS {select_cast(list(columns.values()), scan, have)}")
        return view

    # -- scd2

    # -- scd2 (see tillflow.warehouse._scd2)

    def _write_versions(
        self,
        load: LoadHandle,
        item: Staged,
        source: str,
        select: list[str],
        columns: Columns,
        dropped: str | None,
        stamp: Stamp,
    ) -> int:
        """Write the root rows of an scd2 batch (see `tillflow.warehouse._scd2`):
        close the current versions of changed rows and of their child rows,
        add the new versions, and put the ids of unchanged rows into
        ``dropped`` so their child rows stay out."""
        incoming, changed = self._name("incoming"), self._name("changed")
        key = [columns[k.lower()][0] for k in load.primary_key or ()]
        names = {name.lower() for name, _ in item.columns}
        compared = [name for name, _ in columns.values() if not name.startswith("_tf_")]
        compared = [c for c in compared if c.lower() not in {s.key.lower() for s in self._specs(item.table)
                                                             if s.transform}]  # fmt: skip
        present = [c for c in compared if c.lower() in names]
        absent = [c for c in compared if c.lower() not in names]
        target = self._table(item.table)
        try:
            self._run(f"CREATE TEMP TABLE {incoming} AS SELECT {', '.join(select)} FROM {_q(source)}")
            if target is None:
                self._run(f"CREATE TEMP TABLE {changed} AS SELECT * FROM {incoming}")
            else:
                current = self._scan(item.table, columns)
                self._run(f"CREATE TEMP TABLE {changed} AS "
                          f"{_scd2.changed_rows(current, incoming, key, present, absent)}")  # fmt: skip
            if dropped is not None and ID_COLUMN in names:
                unchanged = _scd2.unchanged_ids(incoming, changed, key)
                self._run(f"INSERT INTO {dropped} SELECT CAST(id AS VARCHAR) FROM ({unchanged})")
            if load.scd2_close_missing:
                self._remember_keys(load, incoming, key)
            self._retire(load, item.table, changed, key, stamp)
            arrow = self._shaped(item.table, columns, f"SELECT * FROM {changed}", load, True)
            self._append(item.table, arrow, stamp)
            return arrow.num_rows
        finally:
            self._drop("TABLE", incoming, changed)

    def _retire(self, load: LoadHandle, root: str, changed: str, key: list[str], stamp: Stamp) -> None:
        """For each changed key: delete the versions this load already wrote,
        close the current ones, in the root table and every child table."""
        self._add_validity(root, stamp)
        for table, links in self._version_links(load, root):
            types = {k.lower(): (link, type_name) for link, k, type_name in links}
            keys = self._keys(changed, key, types, types)
            if keys.num_rows == 0:
                continue
            keys = keys.append_column("__tf_load", pa.array([load.load_id] * keys.num_rows))
            keys = keys.append_column(
                "__tf_stamp", pa.array([load.started_at] * keys.num_rows, pa.timestamp("us", "UTC"))
            )
            target = self._table(table)
            assert target is not None
            match = " AND ".join(f"t.{delta_ident(link)} = s.{delta_ident(k)}" for link, k, _t in links)
            current = f" AND t.{delta_ident(VALID_TO_COLUMN)} IS NULL"
            (
                merger(target, keys, match + current, stamp)
                .when_matched_delete(f't.{delta_ident(LOAD_ID_COLUMN)} = s."__tf_load"')
                .when_matched_update({delta_ident(VALID_TO_COLUMN): 's."__tf_stamp"'})
                .execute()
            )

    def _add_validity(self, root: str, stamp: Stamp) -> None:
        """Give the tables of ``root``'s family that merge loads wrote the
        validity columns (their rows current since always), so an scd2 load
        can close their versions."""
        when = pa.timestamp("us", "UTC")
        for table in self._family(root):
            target = self._table(table)
            if target is None or VALID_TO_COLUMN.lower() in self._columns_of(target):
                continue
            empty = pa.table({VALID_FROM_COLUMN: pa.array([], when), VALID_TO_COLUMN: pa.array([], when)})
            self._append(table, empty, stamp)

    def _remember_keys(self, load: LoadHandle, incoming: str, key: list[str]) -> None:
        """Keep the keys an scd2 load brought, for closing the others when it ends."""
        seen = self._seen
        keys = to_arrow(self._duck.sql(f"SELECT {', '.join(_q(k) for k in key)} FROM {incoming}"))
        before = seen.get(load.load_id)
        seen[load.load_id] = keys if before is None else pa.concat_tables([before, keys])

    def _close_versions(self, load: LoadHandle, stamp: Stamp) -> None:
        """Close the current versions of the keys the load did not bring (all
        of them when it brought none)."""
        seen = self._seen
        root = load.root_table or load.resource
        if self._table(root) is None:
            return
        brought = seen.get(load.load_id)
        for table, links in self._version_links(load, root):
            types = {k.lower(): (link, type_name) for link, k, type_name in links}
            target = self._table(table)
            assert target is not None
            if brought is None:
                names = [k for _l, k, _t in links]
                keys = self._arrow(
                    "SELECT " + ", ".join(f"CAST(NULL AS {types[k.lower()][1]}) AS {_q(k)}" for k in names)
                    + " WHERE false"
                )  # fmt: skip
            else:
                view = self._register(brought)
                try:
                    keys = self._keys(view, [k for _l, k, _t in links], types, types)
                finally:
                    self._duck.unregister(view)
            match = " AND ".join(f"t.{delta_ident(link)} = s.{delta_ident(k)}" for link, k, _t in links)
            close = f"CAST('{load.started_at.isoformat()}' AS TIMESTAMP WITH TIME ZONE)"
            (
                merger(target, keys, match, stamp)
                .when_not_matched_by_source_update(
                    {delta_ident(VALID_TO_COLUMN): close}, f"t.{delta_ident(VALID_TO_COLUMN)} IS NULL"
                )
                .execute()
            )

    def _version_links(self, load: LoadHandle, root: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
        def columns_of(table: str) -> Columns:
            target = self._table(table)
            return self._columns_of(target) if target is not None else {}

        return _batch.version_links(load, root, self._family(root), columns_of)
