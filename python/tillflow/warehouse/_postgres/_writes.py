"""How the PostgreSQL warehouse writes one table of a batch: the frame
typed and renamed to PostgreSQL's names, the table created and evolved under
the load's contract, rows copied in binary (pgpq encodes Arrow as COPY's
format), and merge and scd2 done with staging tables, all inside the
batch's transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow.exceptions import WarehouseError
from tillflow.warehouse import _batch, _scd2
from tillflow.warehouse._base import Batch
from tillflow.warehouse._batch import ID_COLUMN, PARENT_ID_COLUMN, Step
from tillflow.warehouse._postgres import _types as _pgtypes
from tillflow.warehouse._reads import BOOKKEEPING_PREFIX
from tillflow.warehouse._schema import Change, Columns, plan_changes
from tillflow.warehouse.loads import (
    LOAD_ID_COLUMN,
    VALID_FROM_COLUMN,
    VALID_TO_COLUMN,
    LoadHandle,
    SchemaContract,
    WriteMode,
)
from tillflow.warehouse.sql import quote_identifier as q

__all__ = ["PostgresWrites", "postgres_name"]

MAX_NAME_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1
_SETTING = "tillflow.load_id"
_LOAD_ID_DEFAULT = f"current_setting('{_SETTING}', true)"
_STAMP = pl.Datetime("us", "UTC")
_COPY_ROWS = 65_536  # rows encoded at a time for COPY
_CHANGE_COLUMNS = 'load_id, pipeline, resource, "table", "column", change, old_type, new_type, changed_at'


def postgres_name(name: str) -> str:
    """``name`` as PostgreSQL stores it: unchanged up to 63 bytes; a longer
    one becomes its first 54 bytes (whole characters), ``_`` and 8 hex digits
    of its SHA-1, so long names stay distinct and map the same way every time.

    Parameters
    ----------
    name
        A table, column or schema name.

    Returns
    -------
    str
        The name PostgreSQL stores.

    Raises
    ------
    WarehouseError
        If ``name`` holds a NUL character.
    """
    if "\x00" in name:
        raise WarehouseError(f"name {name!r} holds a NUL character, which PostgreSQL cannot store")
    raw = name.encode()
    if len(raw) <= MAX_NAME_BYTES:
        return name
    head = raw[:54].decode("utf-8", errors="ignore")
    return f"{head}_{hashlib.sha1(raw).hexdigest()[:8]}"


class PostgresWrites:
    """The per-table half of a PostgreSQL batch (see the module)."""

    timezone: str
    _s: str
    _seen: dict[str, str]
    _stamped: dict[str, bool]  # table -> whether its load id column defaults to the load's

    if TYPE_CHECKING:

        @property
        def connection(self) -> Any: ...
        def _run(self, sql: str, params: Sequence[Any] | None = None) -> int: ...
        def _rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]: ...
        def _table(self, name: str) -> str: ...
        def _temp_name(self, kind: str) -> str: ...
        def _resolve(self, table: str, existing: Sequence[str]) -> str: ...
        def _columns(self, table: str) -> Columns | None: ...
        def _all_tables(self) -> list[str]: ...

    def _write(self, load: LoadHandle, item: _Prepared, batch: _Batch, step: Step) -> int:
        """Write one table of a batch; returns the rows written."""
        if item.no_columns:
            return 0
        table = self._resolve(item.table, batch.existing)
        columns = self._evolve(load, table, item, batch, step)
        step.column = None
        if item.frame.width == 0:  # only columns without a value yet: rows of nothing but the load id
            return self._run(
                f"INSERT INTO {self._table(table)} ({q(LOAD_ID_COLUMN)}) "
                f"SELECT {_LOAD_ID_DEFAULT} FROM generate_series(1, {item.frame.height})"
            )
        select, fits = _pgtypes.conform(item.frame, item.types, columns, load.schema_contract, self.timezone)
        frame = self._kept(item, fits, batch)
        frame = _pgtypes.apply(frame, select)
        versioned = load.write_mode is WriteMode.SCD2 and not item.plain
        if item.is_root and load.write_mode.keyed and not item.plain:
            stage = self._stage_rows(table, frame)
            if versioned:
                return self._write_versions(load, table, stage, frame.columns, columns, batch)
            self._delete_merged_children(load, table, stage, columns, batch, step)
            return self._merge(load, table, stage, frame.columns, columns)
        if versioned:
            stamp = pl.lit(load.started_at, dtype=_STAMP)
            frame = frame.with_columns(stamp.alias(VALID_FROM_COLUMN))
        self._ingest(table, frame)
        return frame.height

    def _kept(self, item: _Prepared, fits: list[tuple[str, pl.Expr]], batch: _Batch) -> pl.DataFrame:
        """The rows of ``item`` that stay in: they fit the table (under
        ``discard_row``) and their parent row stayed in. The ids of the others
        join ``batch.dropped``, so their own child rows go too."""
        frame = item.frame
        conditions = [f for _, f in fits] if batch.discard_rows else []
        if not item.plain and batch.dropped is not None and PARENT_ID_COLUMN in frame.columns:
            conditions.append(~pl.col(PARENT_ID_COLUMN).is_in(batch.dropped.implode()))
        if not conditions:
            return frame
        keep = frame.select(pl.all_horizontal(conditions).alias("keep")).to_series()
        if keep.all():
            return frame
        if not item.plain and ID_COLUMN in frame.columns:
            batch.drop(frame.filter(~keep)[ID_COLUMN])
        return frame.filter(keep)

    def _ingest(self, table: str, frame: pl.DataFrame, *, temporary: bool = False) -> None:
        """Bulk copy ``frame`` into ``table``, whose columns have exactly the
        frame's types: pgpq encodes the Arrow data as PostgreSQL's binary COPY
        format, which psycopg streams in."""
        if frame.height == 0:
            return
        import pgpq

        arrow = _pgtypes.for_copy(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))
        encoder = pgpq.ArrowToPostgresBinaryEncoder(arrow.schema)
        target = q(table) if temporary else self._table(table)
        columns = ", ".join(q(c) for c in frame.columns)
        with (
            self.connection.cursor() as cur,
            cur.copy(f"COPY {target} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.write(encoder.write_header())
            for batch in arrow.to_batches(max_chunksize=_COPY_ROWS):
                copy.write(encoder.write_batch(batch))
            copy.write(encoder.finish())

    def _stage_rows(self, table: str, frame: pl.DataFrame) -> str:
        """A temporary table shaped like ``table`` holding ``frame``; dropped at commit."""
        stage = self._temp_name("stage")
        self._run(f"CREATE TEMP TABLE {stage} (LIKE {self._table(table)}) ON COMMIT DROP")
        self._ingest(stage, frame, temporary=True)
        return stage

    def _evolve(self, load: LoadHandle, table: str, item: _Prepared, batch: _Batch, step: Step) -> Columns:
        """Create the table or add and widen its columns, as the load's schema
        contract allows; every change goes to ``_tf_schema_changes`` in the
        batch's transaction. Returns the table's columns after the change."""
        columns = self._columns(table)
        bookkeeping = _batch.bookkeeping_columns(load, plain=item.plain)
        changes = plan_changes(
            table, columns, item.types, load.schema_contract, bookkeeping=bookkeeping, show=_pgtypes.show
        )
        qtable = self._table(table)
        if columns is None:
            defs = [f"{q(n)} {_pgtypes.to_postgres(t)}" for n, t in [*item.types, *bookkeeping]]
            defs = [f"{d} DEFAULT {_LOAD_ID_DEFAULT}" if d.startswith(q(LOAD_ID_COLUMN)) else d for d in defs]
            self._run(f"CREATE TABLE {qtable} ({', '.join(defs)})")
            batch.existing.append(table)
            self._index(load, table, item, batch)
        for c in changes:
            step.column = c.column
            if columns is not None and c.column is not None:
                new = _pgtypes.to_postgres(c.new_type or "")
                if c.change == "column_added":
                    self._run(f"ALTER TABLE {qtable} ADD COLUMN {q(c.column)} {new}")
                else:
                    column = q(c.column)
                    self._run(f"ALTER TABLE {qtable} ALTER COLUMN {column} TYPE {new} USING {column}::{new}")
        self._record_changes(load, item.table, [c for c in changes if c.column not in _batch.OWN_COLUMNS])
        if columns is None or changes:
            columns = self._columns(table) or {}
        if not self._stamped.get(table):  # a table tillflow did not create, or one missing the column
            self._run(f"ALTER TABLE {qtable} ALTER COLUMN {q(LOAD_ID_COLUMN)} SET DEFAULT {_LOAD_ID_DEFAULT}")
        return columns

    def _index(self, load: LoadHandle, table: str, item: _Prepared, batch: _Batch) -> None:
        """Index a new table of a keyed load on what merge and scd2 match: the
        root's key (current versions only, for scd2), a child's root key."""
        if not load.write_mode.keyed or item.plain:
            return
        names = {n for n, _ in item.types}
        links = [f"{k}" if item.is_root else f"{batch.given}_{k}" for k in load.primary_key or ()]
        key = [postgres_name(link) for link in links]
        if not all(k in names for k in key):
            return
        where = f" WHERE {q(VALID_TO_COLUMN)} IS NULL" if load.write_mode is WriteMode.SCD2 else ""
        self._run(f"CREATE INDEX ON {self._table(table)} ({', '.join(q(k) for k in key)}){where}")

    def _record_changes(self, load: LoadHandle, table: str, changes: list[Change]) -> None:
        if not changes:
            return
        rows = [
            [load.load_id, load.pipeline, load.resource, table, c.column, c.change,
             c.old_type and _pgtypes.show(c.old_type), c.new_type and _pgtypes.show(c.new_type)]
            for c in changes
        ]  # fmt: skip
        values = ", ".join(
            "(" + ", ".join(f"${i * 8 + j + 1}" for j in range(8)) + ", clock_timestamp())"
            for i in range(len(rows))
        )
        self._run(
            f"INSERT INTO {self._s}._tf_schema_changes ({_CHANGE_COLUMNS}) VALUES {values}",
            [value for row in rows for value in row],
        )

    def _delete_where(self, batch: Batch, where: Mapping[str, Sequence[Any]]) -> None:
        """Delete the rows of the root table, its child tables and its quarantine
        table whose column holds one of the values; tables without the column hold no such row."""
        root, step, existing = batch.root, batch.step, self._all_tables()
        held = self._resolve(root + _batch.QUARANTINE_SUFFIX, existing)
        tables = _batch.family(existing, self._resolve(root, existing)) + [t for t in existing if t == held]
        for table in tables:
            columns = self._columns(table) or {}
            for column, values in where.items():
                found = columns.get(column.lower())
                if found is None or not values:
                    continue
                step.table, step.column = table, found[0]
                self._run(
                    f"DELETE FROM {self._table(table)} WHERE CAST({q(found[0])} AS text) = ANY($1)",
                    [[str(v) for v in values]],
                )
        step.table, step.column = root, None

    def _delete_merged_children(
        self, load: LoadHandle, root: str, stage: str, columns: Columns, batch: _Batch, step: Step
    ) -> None:
        """Delete every child row hanging under a root row the batch replaces
        (the batch brings the children it has now)."""
        key = _root_key(load, columns)
        match = " AND ".join(f"t.{q(k)} = k.{q(k)}" for k in key)
        hit = self._rows(
            f"SELECT EXISTS (SELECT 1 FROM {self._table(root)} AS t JOIN {stage} AS k ON {match})"
        )
        if not hit[0][0]:
            # Children are only ever written with their root row, so no root
            # row replaced means no child row to replace either.
            return
        keys = f"(SELECT DISTINCT {', '.join(q(k) for k in key)} FROM {stage})"
        for table, links in self._version_links(load, root, batch.given, batch.existing, step):
            if table == root:
                continue
            step.table = table
            match = " AND ".join(f"t.{q(column)} = CAST(k.{q(k)} AS {t})" for column, k, t in links)
            self._run(f"DELETE FROM {self._table(table)} AS t USING {keys} AS k WHERE {match}")
        step.table = root

    def _merge(self, load: LoadHandle, table: str, stage: str, names: list[str], columns: Columns) -> int:
        """Upsert the staged root rows with one ``MERGE`` on the primary key:
        a matched row takes the batch's values (null for columns the batch
        lacks, as a replaced record would), a new key is inserted."""
        key = _root_key(load, columns)
        given = {n.lower() for n in names}
        keyed = {k.lower() for k in key}
        sets = []
        for name, _ in columns.values():
            if name.lower() in keyed:
                continue
            if name.lower() in given:
                sets.append(f"{q(name)} = k.{q(name)}")
            elif name == LOAD_ID_COLUMN:
                sets.append(f"{q(name)} = {_LOAD_ID_DEFAULT}")
            else:
                sets.append(f"{q(name)} = NULL")
        listed = ", ".join(q(c) for c in names)
        values = ", ".join(f"k.{q(c)}" for c in names)
        match = " AND ".join(f"t.{q(k)} = k.{q(k)}" for k in key)
        matched = f"WHEN MATCHED THEN UPDATE SET {', '.join(sets)} " if sets else ""
        return self._run(
            f"MERGE INTO {self._table(table)} AS t USING {stage} AS k ON {match} "
            f"{matched}WHEN NOT MATCHED THEN INSERT ({listed}) VALUES ({values})"
        )

    def _write_versions(
        self, load: LoadHandle, table: str, stage: str, names: list[str], columns: Columns, batch: _Batch
    ) -> int:
        """Write the root rows of an scd2 batch (see `_scd2`): close the
        current versions of changed rows, add their new versions, and leave
        out the child rows of unchanged ones."""
        changed = self._temp_name("changed")
        key = _root_key(load, columns)
        lowered = {n.lower() for n in names}
        compared = [n for n, _ in columns.values() if not n.startswith(BOOKKEEPING_PREFIX)]
        present = [c for c in compared if c.lower() in lowered]
        absent = [c for c in compared if c.lower() not in lowered]
        target = self._table(table)
        rows = _scd2.changed_rows(target, stage, key, present, absent)
        self._run(f"CREATE TEMP TABLE {changed} ON COMMIT DROP AS {rows}")
        if ID_COLUMN in names:
            unchanged = [row[0] for row in self._rows(_scd2.unchanged_ids(stage, changed, key))]
            if unchanged:
                batch.drop(pl.Series(unchanged, dtype=pl.Int64))
        if load.scd2_close_missing:
            self._remember_keys(load, stage, key)
        for child in _batch.family(batch.existing, table):
            if child != table:
                # A child table written by merge loads gets its validity columns
                # now (its rows current since always), before versions are closed.
                self._evolve(
                    load, child, _Prepared(child, pl.DataFrame(), False, False, False), batch, Step(child)
                )
        for family_table, links in self._version_links(load, table, batch.given, batch.existing):
            for sql in _scd2.retire(self._table(family_table), links, changed, load.load_id, load.started_at):
                self._run(sql)
        listed = ", ".join(q(n) for n in names)
        versions = ", ".join(_scd2.version_columns(load.started_at))
        return self._run(
            f"INSERT INTO {target} ({listed}, {q(VALID_FROM_COLUMN)}, {q(VALID_TO_COLUMN)}) "
            f"SELECT {listed}, {versions} FROM {changed}"
        )

    def _remember_keys(self, load: LoadHandle, stage: str, key: list[str]) -> None:
        """Keep the keys an scd2 load brought, for closing the others when it ends."""
        seen = self._seen.get(load.load_id)
        if seen is None:
            seen = self._seen[load.load_id] = self._temp_name("seen")
        keys = ", ".join(q(k) for k in key)
        # Created inside the batch's transaction: a rolled-back first batch takes it along.
        self._run(f"CREATE TEMP TABLE IF NOT EXISTS {seen} AS SELECT {keys} FROM {stage} LIMIT 0")
        self._run(f"INSERT INTO {seen} SELECT {keys} FROM {stage}")

    def _version_links(
        self, load: LoadHandle, root: str, given: str, existing: Sequence[str], step: Step | None = None
    ) -> list[tuple[str, list[tuple[str, str, str]]]]:
        """Each table of the family of ``root`` (its stored name; ``given``: the
        name the batches call it, which child key columns start with) with the
        columns matching it to a root key: (its column, the key column, its
        column's type)."""
        out = []
        key = _root_key(load, self._columns(root) or {})
        for table in _batch.family(existing, root):
            columns = self._columns(table) or {}
            if table == root:
                links = key
            else:
                if step is not None:
                    step.table = table
                links = _batch.root_links(load, given, table, columns, rename=postgres_name)
            types = [_pgtypes.to_postgres(columns[link.lower()][1]) for link in links]
            out.append((table, list(zip(links, key, types, strict=True))))
        return out


class _Batch:
    """What the tables of one batch share while it is written."""

    def __init__(self, given: str, root: str, existing: list[str], contract: SchemaContract) -> None:
        self.given = given  # the root table as the batch names it
        self.root = root  # as it is stored
        self.existing = existing
        self.discard_rows = contract is SchemaContract.DISCARD_ROW
        self.dropped: pl.Series | None = None  # ids of rows left out: their children stay out too

    def drop(self, ids: pl.Series) -> None:
        ids = ids.drop_nulls()
        self.dropped = (
            ids if self.dropped is None else pl.concat([self.dropped, ids.cast(self.dropped.dtype)])
        )


class _Prepared:
    """One table of a batch, ready to write: columns renamed to their stored names, typed."""

    def __init__(self, table: str, frame: pl.DataFrame, is_root: bool, plain: bool, no_columns: bool) -> None:
        self.table = table
        self.frame = frame
        self.no_columns = no_columns  # nothing to write, not even a table to create
        self.is_root = is_root
        self.plain = plain
        try:
            self.types = _pgtypes.frame_types(frame)
        except WarehouseError as exc:
            raise WarehouseError(f"table {table!r}, {exc}") from None


def _root_key(load: LoadHandle, columns: Columns) -> list[str]:
    """The root table's names of the load's key columns."""
    return [columns[postgres_name(k).lower()][0] for k in load.primary_key or ()]


def _prepare(load: LoadHandle, table: str, frame: pl.DataFrame, *, is_root: bool, plain: bool) -> _Prepared:
    """Dedupe a keyed frame, rename its columns to their stored names, and type them."""
    frame = frame.drop(LOAD_ID_COLUMN, strict=False)  # the load id is ours to set
    no_columns = frame.width == 0
    if load.write_mode.keyed and not plain and not no_columns:
        frame = _batch.match_key(load, frame, table, is_root=is_root)
    stored = {name: postgres_name(name) for name in frame.columns}
    lowered = [name.lower() for name in stored.values()]
    if len(set(lowered)) != len(lowered):
        raise WarehouseError(
            f"table {table!r}: column names differ only by case, which the warehouse cannot hold"
        )
    if any(old != new for old, new in stored.items()):
        frame = frame.rename(stored)
    # Columns of the null type have no value yet: the column waits for a batch with a type.
    frame = frame.select(c for c, dtype in frame.schema.items() if dtype != pl.Null)
    return _Prepared(table, _pgtypes.tillflow_ids(frame), is_root, plain, no_columns)
