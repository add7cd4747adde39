"""Upkeep of the Delta lake: merging the small files loads leave into
larger ones, and deleting the files no version needs any more.

A part of [DeltaLake][tillflow.warehouse.DeltaLake]: loads write a file or
more per table and batch, and replace, merge and compact leave files only
old versions read; [compact][tillflow.warehouse.DeltaLake.compact] and
[vacuum][tillflow.warehouse.DeltaLake.vacuum] are the lake's housekeeping,
run when its owner chooses.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tillflow.exceptions import WarehouseError
from tillflow.warehouse.lake._bookkeeping import is_bookkeeping
from tillflow.warehouse.lake._layout import encode_segment
from tillflow.warehouse.lake._tables import DeltaTables, name_of
from tillflow.warehouse.lake._writes import ZSTD

__all__ = ["DeltaUpkeep"]


class DeltaUpkeep(DeltaTables):
    """Compacting and vacuuming the lake's tables (see the module)."""

    _lock: Any
    url: str

    if TYPE_CHECKING:

        def _writable(self) -> None: ...

    def compact(self, tables: Sequence[str] | None = None, *, min_files: int = 2) -> dict[str, int]:
        """Merge small files (of ``tables``, default every user table with at
        least ``min_files`` files) with Delta's ``optimize.compact``, one
        commit per table. Returns the files removed per table; [vacuum][tillflow.warehouse.DeltaLake.vacuum]
        later deletes them.

        Parameters
        ----------
        tables
            The tables to compact; ``None`` for every user table.
        min_files
            The fewest files a table must have to be compacted (at least 2).

        Returns
        -------
        dict[str, int]
            Files removed by table, for the tables that had any.

        Raises
        ------
        WarehouseError
            If the lake is read-only or a named table does not exist.
        """
        with self._lock:
            self._writable()
            names = (
                list(tables) if tables is not None else [n for n in self._names() if not is_bookkeeping(n)]
            )
            removed = {}
            for name in names:
                target = self._table(name)
                if target is None:
                    raise WarehouseError(f"Delta lake {self.url!r} has no table {name!r}")
                if len(target.file_uris()) < max(2, min_files):
                    continue
                metrics = target.optimize.compact(writer_properties=ZSTD)
                if metrics.get("numFilesRemoved"):
                    removed[name_of(target)] = int(metrics["numFilesRemoved"])
            self._view_versions = None
            return removed

    def vacuum(self, *, retain: dt.timedelta | float = dt.timedelta(hours=1)) -> list[str]:
        """Delete the data files no version younger than ``retain`` (seconds
        or a timedelta, rounded up to whole hours as Delta counts them)
        needs: those replace, merge and compact left behind, and those of
        commits that never happened (a write that failed or was killed).
        Files younger than ``retain`` stay, so a writer in flight keeps its
        own. Returns the deleted paths, relative to the lake.

        Parameters
        ----------
        retain
            How long files stay after no version needs them: a
            ``timedelta`` or seconds (rounded up to hours).

        Returns
        -------
        list[str]
            The deleted files' paths, sorted.

        Raises
        ------
        WarehouseError
            If the lake is read-only.
        """
        keep_for = retain if isinstance(retain, dt.timedelta) else dt.timedelta(seconds=retain)
        hours = math.ceil(keep_for.total_seconds() / 3600)
        with self._lock:
            self._writable()
            deleted = []
            for name in self._names():
                target = self._table(name)
                if target is None:
                    continue
                gone = target.vacuum(
                    retention_hours=hours, dry_run=False, enforce_retention_duration=False, full=True
                )
                deleted += [f"{encode_segment(name)}/{path}" for path in gone]
            return sorted(deleted)
