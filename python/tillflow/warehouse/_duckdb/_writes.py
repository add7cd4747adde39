"""How the DuckDB warehouse writes one table of a batch: creating and
evolving it under the load's schema contract, deleting what a merge or an
scd2 change replaces, and inserting the rows, all inside the batch's
transaction (see `WarehouseBase`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb as _duckdb

from tillflow.warehouse import _batch, _scd2
from tillflow.warehouse._base import Batch
from tillflow.warehouse._batch import ID_COLUMN, Staged, Step
from tillflow.warehouse._reads import BOOKKEEPING_PREFIX
from tillflow.warehouse._schema import Change, insert_columns, plan_changes
from tillflow.warehouse._staging import DuckDBStaging
from tillflow.warehouse.loads import LOAD_ID_COLUMN, LoadHandle, WriteMode
from tillflow.warehouse.sql import quote_identifier

__all__ = ["DuckDBWrites"]


class DuckDBWrites(DuckDBStaging):
    """The per-table half of a DuckDB batch (see the module)."""

    _seen: dict[str, str]  # load id -> temp table of the keys an scd2 load brought

    def _columns(self, table: str) -> dict[str, tuple[str, str]] | None:  # pragma: no cover
        raise NotImplementedError

    def _family(self, root: str) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    def _all_tables(self) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    def _write_staged(self, load: LoadHandle, item: Staged, step: Step, dropped: str | None) -> int:
        """Write one table of a batch; returns the rows written. ``dropped``
        is the batch's temporary table of the row ids a ``discard_row``
        contract left out (their child rows go too)."""
        if item.view is None:
            return 0
        columns = self._evolve(load, item.table, item.columns, step, plain=item.plain)
        step.column = None
        select, fits = insert_columns(item.columns, columns, load.schema_contract)
        source = self._kept(item, fits, dropped)
        try:
            versioned = load.write_mode is WriteMode.SCD2 and not item.plain
            if versioned and item.is_root:
                return self._write_versions(load, item, source, select, columns, dropped)
            if load.write_mode is WriteMode.MERGE and item.is_root:
                self._delete_merged(load, item.table, source, columns, step)
            if versioned:
                select += _scd2.version_columns(load.started_at)
            select.append(f"? AS {quote_identifier(LOAD_ID_COLUMN)}")
            try:
                inserted = self._rows(
                    f"INSERT INTO {quote_identifier(item.table)} BY NAME SELECT {', '.join(select)} "
                    f"FROM {quote_identifier(source)}",
                    [load.load_id],
                )
            except _duckdb.Error:
                step.failed_insert = (item.view, item.columns, columns)  # diagnosed after the rollback
                raise
        finally:
            if source != item.view:
                self._drop("VIEW", source)
        return int(inserted[0][0]) if inserted else item.rows

    def _evolve(
        self, load: LoadHandle, table: str, incoming: list[tuple[str, str]], step: Step, *, plain: bool
    ) -> dict[str, tuple[str, str]]:
        """Create the table or add and widen its columns, as the load's schema
        contract allows (see `plan_changes`); every change goes to
        ``_tf_schema_changes`` in the batch's transaction. Returns the
        table's columns after the change."""
        columns = self._columns(table)
        bookkeeping = _batch.bookkeeping_columns(load, plain=plain)
        changes = plan_changes(table, columns, incoming, load.schema_contract, bookkeeping=bookkeeping)
        qtable = quote_identifier(table)
        if columns is None:
            defs = [f"{quote_identifier(n)} {t}" for n, t in [*incoming, *bookkeeping]]
            self._run(f"CREATE TABLE {qtable} ({', '.join(defs)})")
        for c in changes:
            step.column = c.column
            if columns is not None and c.column is not None:
                column = quote_identifier(c.column)
                if c.change == "column_added":
                    self._run(f"ALTER TABLE {qtable} ADD COLUMN {column} {c.new_type}")
                else:
                    self._run(f"ALTER TABLE {qtable} ALTER COLUMN {column} SET DATA TYPE {c.new_type}")
            self._record_change(load, table, c)
        return self._columns(table) or {}

    def _record_change(self, load: LoadHandle, table: str, c: Change) -> None:
        if c.column in _batch.OWN_COLUMNS:
            return
        self._run(
            "INSERT INTO _tf_schema_changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, now())",
            [load.load_id, load.pipeline, load.resource, table, c.column, c.change, c.old_type, c.new_type],
        )

    def _delete_merged(
        self, load: LoadHandle, root: str, view: str, columns: dict[str, tuple[str, str]], step: Step
    ) -> None:
        """Delete the root rows the batch replaces, and every child row hanging under them."""
        key = load.primary_key or ()
        keys_sql = ", ".join(
            f"CAST({quote_identifier(k)} AS {columns[k.lower()][1]}) AS {quote_identifier(k)}" for k in key
        )
        distinct_keys = f"(SELECT DISTINCT {keys_sql} FROM {quote_identifier(view)})"
        match = " AND ".join(f"tgt.{quote_identifier(columns[k.lower()][0])} IS NOT DISTINCT FROM "
                             f"k.{quote_identifier(k)}" for k in key)  # fmt: skip
        deleted = self._duck.execute(
            f"DELETE FROM {quote_identifier(root)} AS tgt USING {distinct_keys} AS k WHERE {match}"
        ).fetchone()
        if not deleted or deleted[0] == 0:
            # Children are only ever written with their root row, so no root
            # row replaced means no child row to replace either.
            return
        for child in self._family(root):
            if child.lower() == root.lower():
                continue
            step.table = child
            child_columns = self._columns(child) or {}
            conditions = [
                f"tgt.{quote_identifier(link)} IS NOT DISTINCT FROM "
                f"CAST(k.{quote_identifier(k)} AS {child_columns[link.lower()][1]})"
                for link, k in zip(_batch.root_links(load, root, child, child_columns), key, strict=True)
            ]
            self._run(
                f"DELETE FROM {quote_identifier(child)} AS tgt USING {distinct_keys} AS k "
                f"WHERE {' AND '.join(conditions)}"
            )
        step.table, step.column = root, None

    def _write_versions(
        self,
        load: LoadHandle,
        item: Staged,
        source: str,
        select: list[str],
        columns: dict[str, tuple[str, str]],
        dropped: str | None,
    ) -> int:
        """Write the root rows of an scd2 batch (see `_scd2`): close the
        current versions of changed rows, add their new versions, and put the
        ids of unchanged rows into ``dropped`` so their child rows stay out."""
        self._views += 1
        incoming, changed = f"__tf_incoming_{self._views}", f"__tf_changed_{self._views}"
        table = quote_identifier(item.table)
        key = [columns[k.lower()][0] for k in load.primary_key or ()]
        names = {name.lower() for name, _ in item.columns}
        compared = [name for name, _ in columns.values() if not name.startswith(BOOKKEEPING_PREFIX)]
        present = [c for c in compared if c.lower() in names]
        absent = [c for c in compared if c.lower() not in names]
        try:
            self._run(
                f"CREATE TEMP TABLE {incoming} AS SELECT {', '.join(select)} FROM {quote_identifier(source)}"
            )
            self._run(
                f"CREATE TEMP TABLE {changed} AS {_scd2.changed_rows(table, incoming, key, present, absent)}"
            )
            if dropped is not None and ID_COLUMN in names:
                unchanged = _scd2.unchanged_ids(incoming, changed, key)
                self._run(f"INSERT INTO {dropped} SELECT CAST(id AS VARCHAR) FROM ({unchanged})")
            if load.scd2_close_missing:
                self._remember_keys(load, incoming, key)
            for child in self._family(item.table):
                if child.lower() != item.table.lower():
                    # A child table written by merge loads gets its validity columns
                    # now (its rows current since always), before versions are closed.
                    self._evolve(load, child, [], Step(child), plain=False)
            for target, links in self._version_links(load, item.table):
                for sql in _scd2.retire(
                    quote_identifier(target), links, changed, load.load_id, load.started_at
                ):
                    self._run(sql)
            versions = ", ".join(_scd2.version_columns(load.started_at))
            inserted = self._rows(
                f"INSERT INTO {table} BY NAME SELECT *, {versions}, ? AS {quote_identifier(LOAD_ID_COLUMN)} "
                f"FROM {changed}",
                [load.load_id],
            )
        finally:
            self._drop("TABLE", incoming, changed)
        return int(inserted[0][0]) if inserted else 0

    def _remember_keys(self, load: LoadHandle, incoming: str, key: list[str]) -> None:
        """Keep the keys an scd2 load brought, for closing the others when it ends."""
        seen = self._seen.get(load.load_id)
        keys = ", ".join(quote_identifier(k) for k in key)
        if seen is None:
            self._views += 1
            seen = self._seen[load.load_id] = f"__tf_seen_{self._views}"
        # Created inside the batch's transaction: a rolled-back first batch takes it along.
        self._run(f"CREATE TEMP TABLE IF NOT EXISTS {seen} AS SELECT {keys} FROM {incoming} LIMIT 0")
        self._run(f"INSERT INTO {seen} SELECT {keys} FROM {incoming}")

    def _version_links(self, load: LoadHandle, root: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
        return _batch.version_links(load, root, self._family(root), lambda t: self._columns(t) or {})

    def _close_missing(self, batch: Batch) -> None:
        """Close the current versions of the keys the load did not bring (all
        of them when it brought none)."""
        load, root = batch.load, batch.root
        seen = self._seen.get(load.load_id)
        if self._columns(root) is None:
            return
        empty = seen is None
        if seen is None:  # no batch: every current version is gone from the source
            seen = "__tf_seen_none"
            key = ", ".join(quote_identifier(k) for k in load.primary_key or ())
            self._run(
                f"CREATE OR REPLACE TEMP TABLE {seen} AS SELECT {key} FROM {quote_identifier(root)} LIMIT 0"
            )
        for table, links in self._version_links(load, root):
            self._run(_scd2.close_missing(quote_identifier(table), links, seen, load.started_at))
        if empty:
            self._run(f"DROP TABLE {seen}")

    def _delete_where(self, batch: Batch, where: Mapping[str, Sequence[Any]]) -> None:
        """Delete the rows of the root table, its child tables and its
        quarantine table whose column holds one of the values; tables
        without the column hold no such row."""
        root, step = batch.root, batch.step
        for table in _batch.replaced_by_file(self._all_tables(), root):
            step.table = table
            columns = self._columns(table) or {}
            for column, values in where.items():
                found = columns.get(column.lower())
                if found is None or not values:
                    continue
                step.column = found[0]
                self._run(
                    f"DELETE FROM {quote_identifier(table)} "
                    f"WHERE list_contains(?, CAST({quote_identifier(found[0])} AS VARCHAR))",
                    [[str(v) for v in values]],
                )
        step.table, step.column = root, None
