"""How a batch spread over several Delta tables still commits all or nothing.

Delta commits one table at a time. Every commit tillflow makes carries a
*stamp* in its commit metadata and as an application transaction
(``txn``): the load's app id (its pipeline and resource) and the batch's
sequence number. A batch commits its data tables first, then its schema
changes, and last its row of ``_tf_state`` (the source state, the load's
running row counts and the sequence number). That last commit is the
batch's commit point: a batch whose ``_tf_state`` commit never happened is
not committed, whatever else it wrote.

Readers honour the commit point: a table whose ``txn`` for an app is ahead
of that app's committed sequence is read at the version before the first
such commit (see `uncommitted_since`). The next load of the same
pipeline and resource rolls those commits back (`roll_back`), and so
does a batch that fails part way. Other tools reading the Delta tables
directly see a killed batch's commits until that next load.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.transaction import CommitProperties, Transaction

from tillflow.exceptions import WarehouseError

__all__ = ["Log", "Stamp", "app_id", "roll_back", "uncommitted_since"]

APP_KEY = "tillflow.app"
SEQ_KEY = "tillflow.seq"
LOAD_KEY = "tillflow.load"


def app_id(pipeline: str, resource: str) -> str:
    """The application id of a pipeline's resource: unambiguous for any names."""
    return "tillflow:" + json.dumps([pipeline, resource], ensure_ascii=False)


@dataclasses.dataclass(frozen=True)
class Stamp:
    """Who commits: a load's app id, the batch's sequence number and the load id."""

    app: str
    seq: int
    load_id: str

    def properties(self) -> CommitProperties:
        return CommitProperties(
            custom_metadata={APP_KEY: self.app, SEQ_KEY: str(self.seq), LOAD_KEY: self.load_id},
            app_transactions=[Transaction(self.app, self.seq)],
        )


class Log:
    """A table's commit metadata, read from its ``_delta_log`` files through
    pyarrow's file system: only the newest commits a question needs (and
    without holding the GIL while the store answers, which some
    ``deltalake`` calls do)."""

    def __init__(self, fs: pafs.FileSystem, table_path: str) -> None:
        self.fs = fs
        self.folder = f"{table_path}/_delta_log"

    def info(self, version: int) -> dict[str, Any]:
        """The ``commitInfo`` of ``version`` (empty when it has none)."""
        with self.fs.open_input_stream(f"{self.folder}/{version:020d}.json") as handle:
            for line in handle.read().decode().splitlines():
                action = json.loads(line) if line.strip() else {}
                if "commitInfo" in action:
                    return dict(action["commitInfo"])
        return {}


def uncommitted_since(table: DeltaTable, log: Log, committed: Mapping[str, int]) -> int | None:
    """The first version of ``table`` written by a batch that never reached
    its commit point, or None when every commit is committed. ``committed``
    maps each app id to its committed sequence number."""
    ahead = {app: seq for app, seq in committed.items() if (table.transaction_version(app) or 0) > seq}
    # An app's commits are sequential: its uncommitted ones are its newest,
    # down to its last commit at or below the committed number (which may be
    # the rollback of an earlier attempt at the same numbers).
    first = None
    version = table.version()
    while ahead and version >= 0:
        entry = log.info(version)
        app = entry.get(APP_KEY)
        if app in ahead:
            if int(entry.get(SEQ_KEY, 0)) > ahead[app]:
                first = version
            else:
                del ahead[app]
        version -= 1
    return first


def roll_back(table: DeltaTable, log: Log, name: str, app: str, committed: int) -> bool:
    """Undo the commits ``app`` made to ``table`` after its sequence
    ``committed``. Returns False when nothing is left to keep (the table was
    created by those commits: the caller removes it)."""
    first = uncommitted_since(table, log, {app: committed})
    if first is None:
        return True
    foreign = [v for v in range(first, table.version() + 1) if log.info(v).get(APP_KEY) != app]
    if foreign:
        raise WarehouseError(
            f"table {name!r} holds commits of an unfinished batch of {app} (versions from {first}) "
            f"with other writers' commits after them (version {foreign[0]}): tillflow cannot undo "
            f"only its own; one writer at a time may load a table"
        )
    if first == 0:
        return False
    table.restore(
        first - 1,
        commit_properties=CommitProperties(
            custom_metadata={APP_KEY: app, SEQ_KEY: str(committed), "tillflow.rolled_back": str(first)},
            app_transactions=[Transaction(app, committed)],
        ),
    )
    return True
