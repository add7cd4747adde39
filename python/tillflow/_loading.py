"""What a pipeline does to each batch before it is written (the write mode
a resource loads with, rows held back by rules), and the loading of a
resource group: one source process feeding several resources, each with
its own load, their shared state committed with the batch it ends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow._core.errors import config_error
from tillflow._core.signals import is_stop
from tillflow.exceptions import TillflowError

if TYPE_CHECKING:
    from tillflow._core.signals import StopGuard
    from tillflow.monitor import RunRecorder
    from tillflow.sources import Resource

__all__ = ["GroupLoad", "hold_back", "join_quarantine", "write_mode_of"]


def write_mode_of(resource: Resource, override: str | None) -> str:
    """The write mode a resource loads with: the run's, its own, or
    ``merge`` with a primary key and ``append`` without."""
    mode = override or resource.write_mode or ("merge" if resource.primary_key else "append")
    if mode in ("merge", "scd2") and not resource.primary_key:
        raise config_error(f"{resource.name}: {mode} needs a primary_key")
    return mode


def hold_back(
    checking: Any, tables: dict[str, pl.DataFrame]
) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame] | None]:
    """Split a batch: rows of the root table that broke an error rule, and
    the child rows under them, move to ``<table>__quarantine`` with the names
    of the rules they broke."""
    root, frame = next(iter(tables.items()))
    failures = checking.push(frame, want_rows=True)
    broke = failures.rules("error")
    if broke.height == 0:
        return tables, None
    bad = frame[broke["_tf_row"]].with_columns(broke["_tf_failed_rules"])
    kept = dict(tables)
    kept[root] = frame.filter(~failures.mask("error"))
    held = {f"{root}__quarantine": bad}
    # Children follow their parents (tables come parent first): a row whose
    # parent is held back is held back too, with its parent's rules.
    held_ids = bad.select("_tf_id", "_tf_failed_rules") if "_tf_id" in bad.columns else None
    for name, child in tables.items():
        if name == root or held_ids is None or "_tf_parent_id" not in child.columns:
            continue
        parents = held_ids.rename({"_tf_id": "_tf_parent_id"})
        is_under = pl.col("_tf_parent_id").is_in(parents["_tf_parent_id"].implode())
        under = child.filter(is_under)
        if under.height == 0:
            continue
        kept[name] = child.filter(~is_under)
        under = under.join(parents, on="_tf_parent_id", how="left", maintain_order="left")
        held[f"{name}__quarantine"] = under
        held_ids = pl.concat([held_ids, under.select("_tf_id", "_tf_failed_rules")])
    return kept, held


def join_quarantine(
    a: dict[str, pl.DataFrame] | None, b: dict[str, pl.DataFrame] | None
) -> dict[str, pl.DataFrame] | None:
    """Quarantined rows from the source and from the rules, table by table."""
    if not a or not b:
        return a or b
    out = dict(a)
    for name, frame in b.items():
        out[name] = pl.concat([out[name], frame], how="diagonal_relaxed") if name in out else frame
    return out


class GroupLoad:
    """Loads a resource group (a Singer tap's streams): one load per member
    resource, opened when its first rows come. The group's own state (a
    tap's STATE) is stored with the member whose rows end a batch, as
    ``{"group": …, "seq": n, "state": …}``; the next run takes the newest
    of its members' states."""

    def __init__(self, pipeline: Any, group: Any, write_mode: str | None, summary: Any,
                 recorder: RunRecorder) -> None:  # fmt: skip
        self.pipeline = pipeline
        self.wh = pipeline.warehouse
        self.group = group
        self.write_mode = write_mode
        self.summary = summary
        self.recorder = recorder
        self.loads: dict[str, Any] = {}
        self.checks: dict[str, Any] = {}
        self.roots: dict[str, str] = {}
        self.seq = 0

    def stored_state(self) -> Any:
        """The group's newest committed state, or None."""
        newest = None
        for member in self.group.members:
            held = self.wh.get_state(self.pipeline.name, member.name)
            if isinstance(held, dict) and held.get("group") == self.group.name:
                if newest is None or held.get("seq", 0) > newest.get("seq", 0):
                    newest = held
        if newest is None:
            return None
        self.seq = int(newest.get("seq", 0))
        return newest.get("state")

    def run(self, full_refresh: bool, bar: Any, guard: StopGuard) -> None:
        stored = None if full_refresh else self.stored_state()
        stream = self.group.open(stored)
        task = bar.add_task(self.group.name, total=None) if bar else None
        try:
            for batch in guard.batches(stream):
                parts, state = batch["parts"], batch["state"]
                if not parts and state is None:
                    continue
                if not parts:  # the state moved on without rows: it goes with a member's load
                    holder = self.group.members[0].name if self.group.members else self.group.name
                    parts = [{"stream": holder, "key_properties": [], "tables": {}, "records": 0}]
                for i, part in enumerate(parts):
                    last = i == len(parts) - 1
                    self._write(part, self._wrapped(state) if last and state is not None else None)
                    if task is not None:
                        bar.update(task, advance=part["records"])
                guard.check()
            for name, checking in self.checks.items():
                self._record_rules(name, checking)
        except BaseException as exc:
            stream.close()
            self._finish_all(exc)
            raise
        self._finish_all(None)

    def _wrapped(self, state: Any) -> dict[str, Any]:
        self.seq += 1
        return {"group": self.group.name, "seq": self.seq, "state": state}

    def _load_for(self, member: Resource) -> Any:
        load = self.loads.get(member.name)
        if load is None:
            self.recorder.resource(member.name)
            mode = write_mode_of(member, self.write_mode or self.group.write_mode)
            load = self.wh.begin_load(
                self.pipeline.name, member.name, mode, member.primary_key or None,
                schema_contract=member.schema_contract or "evolve", run_id=self.summary.run_id,
            )  # fmt: skip
            self.loads[member.name] = load
            if member.rules is not None:
                self.checks[member.name] = member.rules.validation(missing_columns="null")
        return load

    def _write(self, part: dict[str, Any], state: Any) -> None:
        member = self.group.member(part["stream"], part.get("key_properties") or ())
        load = self._load_for(member)
        tables, held = part["tables"], None
        checking = self.checks.get(member.name)
        if checking is not None and tables:
            self.roots.setdefault(member.name, next(iter(tables)))
            tables, held = hold_back(checking, tables)
        self.wh.write_batch(load, tables, state=state, quarantine=held)
        self.recorder.batch(member.name, tables, state)

    def _record_rules(self, name: str, checking: Any) -> None:
        report = checking.finish()
        self.summary.reports[name] = report
        results = report.to_polars()
        table = self.roots.get(name, name)
        self.wh.record_rule_results(
            results, run_id=self.loads[name].load_id, pipeline=self.pipeline.name, resource=name, table=table
        )
        self.recorder.rule_rates(table, results)

    def _finish_all(self, exc: BaseException | None) -> None:
        """Close every member's load: completed, failed or interrupted."""
        if exc is None:
            status, why = "completed", None
        elif is_stop(exc):
            status, why = "interrupted", f"interrupted: {str(exc) or type(exc).__name__}"
        else:
            status = "failed"
            why = str(exc) if isinstance(exc, TillflowError) else f"{type(exc).__name__}: {exc}"
        for load in self.loads.values():
            self.summary.loads.append(self.wh.finish_load(load, status, why))
        if isinstance(exc, TillflowError) and self.summary.loads:
            exc.load_summary = self.summary.loads[-1]  # type: ignore[attr-defined]
