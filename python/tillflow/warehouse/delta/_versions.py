"""How the Delta lake writes an scd2 batch (see :mod:`tillflow.warehouse._scd2`):
the changed rows found in DuckDB against the table's current versions,
the versions they replace closed (or deleted, when this load wrote them)
by a ``deltalake`` merge, and the new versions appended."""

from __future__ import annotations

import pyarrow as pa

from tillflow.warehouse import _batch, _scd2
from tillflow.warehouse._batch import ID_COLUMN, Staged
from tillflow.warehouse._staging import Columns
from tillflow.warehouse.delta._bookkeeping import to_arrow
from tillflow.warehouse.delta._commits import Stamp
from tillflow.warehouse.delta._writes import DeltaWrites, delta_ident, merger
from tillflow.warehouse.loads import LOAD_ID_COLUMN, VALID_TO_COLUMN, LoadHandle
from tillflow.warehouse.sql import quote_identifier as _q

__all__ = ["DeltaVersions"]


class DeltaVersions(DeltaWrites):
    """The scd2 half of the lake's writes."""

    _seen: dict[str, pa.Table]  # load id -> the keys an scd2 load brought

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
        """Write the root rows of an scd2 batch (see :mod:`tillflow.warehouse._scd2`):
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
            self._run(f"DROP TABLE IF EXISTS {incoming}")
            self._run(f"DROP TABLE IF EXISTS {changed}")

    def _retire(self, load: LoadHandle, root: str, changed: str, key: list[str], stamp: Stamp) -> None:
        """For each changed key: delete the versions this load already wrote,
        close the current ones, in the root table and every child table."""
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
        """Each table of the root's family with the columns matching it to a
        root key: (its column, the key column, its column's type)."""
        out = []
        for table in self._family(root):
            target = self._table(table)
            columns = self._columns_of(target) if target is not None else {}
            if table.lower() == root.lower():
                links = [columns[k.lower()][0] for k in load.primary_key or ()]
            else:
                links = _batch.root_links(load, root, table, columns)
            types = [columns[link.lower()][1] for link in links]
            out.append((table, list(zip(links, load.primary_key or (), types, strict=True))))
        return out
