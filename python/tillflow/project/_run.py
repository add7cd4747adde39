"""Running a project: its sources, then its models in dependency order with
their rules, then the shop's metrics, under the warehouse's run lock.

A step that fails is recorded and the run goes on with what does not need
it: a source that fails skips the models reading its tables; a model that
fails, or breaks an error-severity rule, skips the models downstream of it.
Rows of a source that break its rules are quarantined as in any pipeline,
so its table stays fit for the models.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tillflow._core.errors import config_error
from tillflow.exceptions import TillflowError
from tillflow.project import _lineage as lineage
from tillflow.project._config import ProjectConfig, location, read
from tillflow.project._models import Model, discover, order, render
from tillflow.project._sources import open_sources, source_table

__all__ = ["ProjectRun", "Step", "plan", "run"]

METRICS_STEP = "metrics"
#: Every kind of step, in the order a run takes them.
KINDS = ("source", "model", "metrics", "publish", "backup")


@dataclasses.dataclass
class Step:
    """One step of a project run."""

    name: str
    kind: str  # one of KINDS
    status: str = "ok"  # "ok", "failed" or "skipped"
    rows: int | None = None
    seconds: float = 0.0
    message: str = ""
    #: What a source's loads warned of (a text column that is mostly a null marker).
    warnings: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ProjectRun:
    """What a project run did, step by step."""

    project: str
    warehouse: str
    started_at: dt.datetime
    steps: list[Step] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    run_id: str = ""

    @property
    def status(self) -> str:
        """``ok`` when every step ran, else ``failed``."""
        return "ok" if all(s.status == "ok" for s in self.steps) else "failed"

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON-ready data (``tillflow run --json`` prints it)."""
        return {
            "project": self.project,
            "run_id": self.run_id,
            "warehouse": self.warehouse,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "seconds": round(self.seconds, 3),
            "steps": [dataclasses.asdict(s) for s in self.steps],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def raise_for_failures(self) -> None:
        """Raise when a step failed or was skipped.

        Raises
        ------
        StepsFailed
            Naming each step that did not run, and why; ``run`` is this run.
        """
        from tillflow.exceptions import StepsFailed

        bad = [s for s in self.steps if s.status != "ok"]
        if bad:
            what = "; ".join(f"{s.kind} {s.name} {s.status}: {s.message}" for s in bad)
            raise StepsFailed(f"project {self.project}: {what}", run=self)

    def __str__(self) -> str:
        lines = [f"project {self.project}: {self.status} in {self.seconds:.2f}s"]
        for s in self.steps:
            rows = f" {s.rows:,} rows" if s.rows is not None else ""
            note = f" ({s.message})" if s.message else ""
            lines.append(f"  {s.kind:<7} {s.name:<24} {s.status:<8}{rows}{note}")
            lines += [f"    warning: {w}" for w in s.warnings]
        return "\n".join(lines)


@dataclasses.dataclass
class Plan:
    """What a run will do: sources, models in order, and whether metrics refresh."""

    sources: list[str]
    models: list[str]
    metrics: bool


def plan(project: ProjectConfig, models: dict[str, Model], select: Sequence[str] | None) -> Plan:
    """The steps ``select`` (source names, model names, ``metrics``) needs:
    a model brings the models it reads and the sources they read. Nothing
    selected runs everything."""
    ordered = order(models)
    if not select:
        return Plan(list(project.sources), ordered, project.metrics.enabled)
    known = [*project.sources, *models, METRICS_STEP]
    wanted_models: set[str] = set()
    wanted_sources: set[str] = set()
    for name in select:
        if name in project.sources:
            wanted_sources.add(name)
        elif name in models:
            _upstream(name, models, wanted_models)
        elif name != METRICS_STEP:
            raise config_error(f"--select: no source or model {name!r} (known: {', '.join(known)})")
    for name in wanted_models:
        wanted_sources.update(source for source, _table in models[name].sources)
    return Plan(
        [s for s in project.sources if s in wanted_sources],
        [m for m in ordered if m in wanted_models],
        METRICS_STEP in select and project.metrics.enabled,
    )


def _upstream(name: str, models: dict[str, Model], into: set[str]) -> None:
    if name in into:
        return
    into.add(name)
    for ref in models[name].refs:
        _upstream(ref, models, into)


def run(
    path: str | os.PathLike[str] = ".",
    *,
    select: Sequence[str] | None = None,
    full_refresh: bool = False,
    wait: float | None = None,
    progress: bool = False,
    kinds: Sequence[str] = KINDS,
) -> ProjectRun:
    """Run the project at ``path`` (its folder or its ``tillflow.toml``).

    Parameters
    ----------
    path
        The project's folder, or its file.
    select
        Sources, models or ``metrics`` to run, with what they need; ``None`` runs all.
    full_refresh
        Reload sources from scratch and rebuild incremental models.
    wait
        Seconds to wait for a running run of the same warehouse; ``None``
        takes the project's ``warehouse.lock_timeout``.
    progress
        Show progress bars.
    kinds
        Which kinds of step run: ``source``, ``model``, ``metrics``, and
        the project's ``publish`` and ``backup`` at the end (an orchestrator
        runs the sources as tasks of their own, then the models with
        ``kinds=["model"]``).

    Returns
    -------
    ProjectRun
        Each step's outcome; ``status`` is ``failed`` when any step failed
        ([raise_for_failures][tillflow.project.ProjectRun.raise_for_failures]
        turns that into an exception).

    Raises
    ------
    ConfigError
        If the project file, a model or a rules file is invalid (nothing ran).
    RunLocked
        If another run of the warehouse is running past ``wait``.
    """
    import tillflow as tl
    from tillflow.warehouse import from_url, run_lock

    project = read(path)
    models = discover(project)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise config_error(f"kinds: unknown {unknown[0]!r}; use {', '.join(KINDS)}")
    steps = plan(project, models, select)
    steps = Plan(
        steps.sources if "source" in kinds else [],
        steps.models if "model" in kinds else [],
        steps.metrics and "metrics" in kinds,
    )
    rules = {}
    for name in steps.models:
        file = models[name].rules
        if file is not None:
            rules[name] = tl.RuleSet.from_file(file)
    alerts = project.alerts
    if alerts is not None:
        tl.monitor.alerter_from_config(alerts)  # a bad alerts file fails before anything runs
    from tillflow.warehouse.loads import new_load_id

    where = location(project)
    result = ProjectRun(project.name, where, dt.datetime.now(dt.timezone.utc), run_id=new_load_id()[0])
    started = time.perf_counter()
    with run_lock(where, project_root=project.root, wait=project.lock_timeout if wait is None else wait):
        with from_url(where) as wh, open_sources(project, steps.sources) as sources:
            failed_tables = _load(project, sources, wh, result, full_refresh, progress, alerts)
            _models(project, models, steps.models, rules, wh, result, failed_tables, full_refresh)
            if steps.metrics:
                _metrics(project, wh, result)
            ran = {s.name for s in result.steps if s.status == "ok"}
            loaded = {n: [r.name for r in sources[n].resources] for n in steps.sources if n in ran}
            metrics = (project.metrics.only or tl.metrics.METRICS) if METRICS_STEP in ran else []
            used = {n: models[n] for n in steps.models if n in ran}
            lineage.record(
                wh, result.run_id, project.name, lineage.edges(project, used, loaded, wh.tables(), metrics)
            )
        # Still under the run lock, with the warehouse closed: nothing writes while it is copied.
        _upkeep(project, where, result, kinds)
    result.seconds = time.perf_counter() - started
    return result


def _load(
    project: ProjectConfig,
    sources: dict[str, Any],
    wh: Any,
    result: ProjectRun,
    full_refresh: bool,
    progress: bool,
    alerts: Path | None,
) -> set[str]:
    """Load each source; returns the tables of the sources that failed."""
    import tillflow as tl

    failed: set[str] = set()
    for name, source in sources.items():
        step = Step(name, "source")
        clock = time.perf_counter()
        monitor = tl.monitor.Monitor.from_config(wh, alerts)
        try:
            summary = tl.pipeline(name, source, wh, monitor=monitor).run(
                full_refresh=full_refresh, progress=progress
            )
            step.rows, step.warnings = summary.total_rows, summary.warnings
        except TillflowError as exc:
            step.status, step.message = "failed", f"{type(exc).__name__}: {exc}"
            done = getattr(exc, "run_summary", None)
            step.warnings = done.warnings if done is not None else []
            failed.update(r.name for r in source.resources)
        step.seconds = time.perf_counter() - clock
        result.steps.append(step)
    return failed


def _models(
    project: ProjectConfig,
    models: dict[str, Model],
    names: list[str],
    rules: dict[str, Any],
    wh: Any,
    result: ProjectRun,
    failed_tables: set[str],
    full_refresh: bool,
) -> None:
    from tillflow.project._materialize import materialize, relation_exists
    from tillflow.warehouse import PostgresWarehouse
    from tillflow.warehouse.sql import quote_identifier

    stopped: dict[str, str] = {}  # model -> why the models downstream of it do not run

    def relation(name: str) -> str:
        if isinstance(wh, PostgresWarehouse):
            return f"{quote_identifier(wh.schema)}.{quote_identifier(name)}"
        return quote_identifier(name)

    def table_of(source: str, table: str) -> str:
        return relation(source_table(project.sources[source], table))

    for name in names:
        model = models[name]
        step = Step(name, "model")
        result.steps.append(step)
        blocked = [r for r in model.refs if r in stopped] + [
            f"{s}.{t}" for s, t in model.sources if _under(source_table(project.sources[s], t), failed_tables)
        ]
        if blocked:
            step.status, step.message = "skipped", f"upstream {blocked[0]} failed"
            stopped[name] = step.message
            continue
        clock = time.perf_counter()
        try:
            incremental = (
                model.materialized == "incremental" and not full_refresh and relation_exists(wh, name)
            )
            sql = render(model, relation=relation, source_table=table_of, incremental=incremental)
            step.rows = materialize(
                wh, name, sql, model.materialized, model.unique_key, full_refresh=full_refresh
            )
            if name in rules:
                report = rules[name].validate(wh.query(f"SELECT * FROM {relation(name)}"), warehouse=wh)
                from tillflow.warehouse.loads import new_load_id

                wh.record_rule_results(report.to_polars(), run_id=new_load_id()[0], pipeline=project.name,
                                       resource=name, table=name)  # fmt: skip
                if not report.passed:
                    step.status, step.message = "failed", f"rules: {report.summary()}"
        except TillflowError as exc:
            step.status, step.message = "failed", f"{type(exc).__name__}: {exc}"
        step.seconds = time.perf_counter() - clock
        if step.status != "ok":
            stopped[name] = step.message


def _under(table: str, roots: set[str]) -> bool:
    """Whether ``table`` is one of ``roots`` or a child table of one."""
    return any(table == root or table.startswith(root + "__") for root in roots)


def _metrics(project: ProjectConfig, wh: Any, result: ProjectRun) -> None:
    import tillflow as tl

    step = Step(METRICS_STEP, "metrics")
    clock = time.perf_counter()
    if not project.metrics.explicit and "orders" not in {t.lower() for t in wh.tables()}:
        # A project that loads no shop (logs, an app database) has no metrics to refresh.
        step.message = "no orders table: the shop's metrics read orders (set [metrics] to configure them)"
        result.steps.append(step)
        return
    try:
        names = project.metrics.only or tl.metrics.METRICS
        tz = project.metrics.timezone or project.timezone
        frames = tl.metrics.refresh(wh, names, tz=tz, day_start=project.metrics.day_start)
        step.rows = sum(f.height for f in frames.values())
        step.message = f"{len(frames)} metrics tables"
    except TillflowError as exc:
        step.status, step.message = "failed", f"{type(exc).__name__}: {exc}"
    step.seconds = time.perf_counter() - clock
    result.steps.append(step)


def _upkeep(project: ProjectConfig, where: str, result: ProjectRun, kinds: Sequence[str]) -> None:
    """The project's ``[publish]`` snapshot and ``[backup]``, each a step of its own."""
    from tillflow.warehouse import backup, publish

    todo: list[tuple[str, Any]] = []
    if project.publish is not None and "publish" in kinds:
        out = project.publish
        todo.append(("publish", lambda: publish(where, out.to, format=out.format, locked=True)))  # type: ignore[arg-type]
    if project.backup is not None and "backup" in kinds:
        keep = project.backup
        todo.append(("backup", lambda: backup(where, keep.to, keep=keep.keep, locked=True)))
    for name, call in todo:
        step = Step(name, name)
        clock = time.perf_counter()
        try:
            made = call()
            step.rows = sum(made.tables.values())
            step.message = f"{made.path}: {len(made.tables)} tables"
        except TillflowError as exc:
            step.status, step.message = "failed", f"{type(exc).__name__}: {exc}"
        step.seconds = time.perf_counter() - clock
        result.steps.append(step)
