"""The lake's tables as ``deltalake`` sees them: found by listing the
lake's folder, opened once and kept up to date, their columns in DuckDB's
type names, and each read at its committed version (see `_commits`)."""

from __future__ import annotations

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from tillflow.warehouse._staging import Columns, DuckDBStaging
from tillflow.warehouse.lake._bookkeeping import STATE
from tillflow.warehouse.lake._commits import Log, roll_back, uncommitted_since
from tillflow.warehouse.lake._layout import Location, decode_segment

__all__ = ["DeltaTables", "add_actions", "name_of", "rows_in"]


class DeltaTables(DuckDBStaging):
    """Finding, opening and reading the lake's Delta tables."""

    _where: Location
    _open: dict[str, DeltaTable]  # lowercase name -> the newest version, kept up to date
    _schemas: dict[tuple[str, int], Columns]
    _view_versions: dict[str, int] | None
    _committed_at: tuple[int, dict[str, int]] | None = None  # _tf_state's version and what it says

    def _names(self) -> list[str]:
        return sorted(self._where.table_names())

    def _table(self, name: str) -> DeltaTable | None:
        """``name``'s newest version (names match case-insensitively), or None."""
        key = name.lower()
        table = self._open.get(key)
        if table is not None:
            try:
                table.update_incremental()
                return table
            except (TableNotFoundError, DeltaError, OSError):
                del self._open[key]
        found = [n for n in self._where.table_names() if n.lower() == key]
        if not found:
            return None
        try:
            table = DeltaTable(self._where.table_uri(found[0]), storage_options=self._where.options or None)
        except TableNotFoundError:
            return None
        self._open[key] = table
        return table

    def _log(self, name: str) -> Log:
        return Log(self._where.fs, self._where.table_path(name))

    def _columns_of(self, table: DeltaTable) -> Columns:
        """A table version's columns as DuckDB names their types."""
        key = (table.table_uri, table.version())
        if key not in self._schemas:
            schema = pa.schema(table.schema().to_arrow())
            view = self._register(schema.empty_table())
            try:
                rows = self._rows(f"DESCRIBE SELECT * FROM {view}")
            finally:
                self._duck.unregister(view)
            self._schemas[key] = {n.lower(): (n, t) for n, t, *_ in rows}
        return self._schemas[key]

    def _committed(self) -> dict[str, int]:
        """Each pipeline resource's committed batch number."""
        state = self._table(STATE)
        if state is None:
            return {}
        version = state.version()
        if self._committed_at is None or self._committed_at[0] != version:  # read once per commit
            rows = state.to_pyarrow_table(columns=["app", "seq"]).to_pylist()
            self._committed_at = (version, {row["app"]: int(row["seq"] or 0) for row in rows})
        return dict(self._committed_at[1])

    def _readable(self) -> dict[str, DeltaTable]:
        """Every table at its committed version (a killed or running batch's
        commits left out); tables only such a batch made are left out."""
        committed = self._committed()
        out = {}
        for name in self._names():
            table = self._table(name)
            if table is None:
                continue
            first = uncommitted_since(table, self._log(name), committed) if committed else None
            if first == 0:
                continue
            if first is not None:
                table = DeltaTable(self._where.table_uri(name), version=first - 1,
                                   storage_options=self._where.options or None)  # fmt: skip
            out[name] = table
        return out

    def _recover(self, app: str, committed: int) -> None:
        """Roll back every commit ``app`` made after its committed batch."""
        for name in self._names():
            table = self._table(name)
            if table is None or (table.transaction_version(app) or 0) <= committed:
                continue
            if not roll_back(table, self._log(name), name, app, committed):
                self._open.pop(name.lower(), None)
                self._where.drop(name)
        self._view_versions = None


def add_actions(table: DeltaTable) -> pa.Table:
    """The table version's data files (path, size, rows, partition values) as Arrow."""
    return pa.table(table.get_add_actions(flatten=True))


def rows_in(table: DeltaTable) -> int:
    return int(sum(add_actions(table).column("num_records").to_pylist()))


def name_of(table: DeltaTable) -> str:
    return decode_segment(table.table_uri.rstrip("/").rsplit("/", 1)[-1])
