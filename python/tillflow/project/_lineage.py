"""Lineage: which source loaded which table, which models read it, which
metrics read what. Every project run records the edges it used in
``_tf_lineage``; ``tillflow lineage`` draws the latest run's as a tree.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from tillflow.project._config import ProjectConfig, location, read
from tillflow.project._models import Model
from tillflow.project._sources import source_table

__all__ = ["Edge", "edges", "latest", "lineage", "record", "tree"]

Edge = tuple[str, str, str, str]  # (upstream kind, upstream, downstream kind, downstream)


def edges(
    project: ProjectConfig,
    models: Mapping[str, Model],
    loaded: Mapping[str, Iterable[str]],
    tables: Iterable[str],
    metrics: Iterable[str],
) -> list[Edge]:
    """The edges of a run: ``loaded`` maps a source to its resources' tables,
    ``tables`` are the warehouse's tables (child tables are found by name),
    ``metrics`` the metrics refreshed."""
    from tillflow.metrics import INPUTS

    present = list(tables)
    out: list[Edge] = []
    for source, roots in loaded.items():
        for root in roots:
            children = [t for t in present if t == root or t.startswith(root + "__")]
            for table in children or [root]:
                out.append(("source", source, "table", table))
    for name, model in models.items():
        for source, table in model.sources:
            out.append(("table", source_table(project.sources[source], table), "model", name))
        for ref in model.refs:
            out.append(("model", ref, "model", name))
    for metric in metrics:
        for table in INPUTS.get(metric, ()):
            if table in present:
                out.append(("model" if table in models else "table", table, "metric", metric))
    return list(dict.fromkeys(out))


def record(wh: Any, run_id: str, project: str, found: list[Edge]) -> None:
    """Append a run's edges to ``_tf_lineage``."""
    from tillflow.warehouse.journal import LINEAGE

    now = dt.datetime.now(dt.timezone.utc)
    frame = pl.DataFrame(
        [(run_id, project, *edge, now) for edge in found],
        schema=[
            "run_id",
            "project",
            "upstream_kind",
            "upstream",
            "downstream_kind",
            "downstream",
            "recorded_at",
        ],
        orient="row",
    )
    if frame.height:
        wh.write_journal({LINEAGE: frame})


def latest(wh: Any, project: str) -> list[Edge]:
    """The edges the project's latest recorded run used (none when it never ran)."""
    from tillflow.exceptions import WarehouseError
    from tillflow.warehouse.journal import LINEAGE

    try:
        frame = wh.journal(LINEAGE).filter(pl.col("project") == project)  # oldest first
    except WarehouseError:  # a warehouse made before lineage was recorded, opened read-only
        return []
    if frame.height == 0:
        return []
    last = frame["run_id"][-1]
    rows = frame.filter(pl.col("run_id") == last)
    return [
        tuple(r) for r in rows.select("upstream_kind", "upstream", "downstream_kind", "downstream").rows()
    ]


def tree(found: list[Edge]) -> str:
    """The edges as an indented tree from each source (or other root)."""
    below: dict[tuple[str, str], list[tuple[str, str]]] = {}
    has_parent: set[tuple[str, str]] = set()
    for up_kind, up, down_kind, down in found:
        below.setdefault((up_kind, up), []).append((down_kind, down))
        has_parent.add((down_kind, down))
    roots = [node for node in below if node not in has_parent]
    lines: list[str] = []

    def walk(node: tuple[str, str], depth: int, seen: frozenset[tuple[str, str]]) -> None:
        arrow = "" if depth == 0 else "-> "
        lines.append(f"{'  ' * depth}{arrow}{node[0]} {node[1]}")
        for child in below.get(node, []):
            if child not in seen:
                walk(child, depth + 1, seen | {child})

    for root in roots:
        walk(root, 0, frozenset({root}))
    return "\n".join(lines)


def lineage(path: str | os.PathLike[str] = ".") -> tuple[list[Edge], bool]:
    """The edges of the project at ``path``: those its latest run recorded in
    the warehouse, or (no run yet, or no warehouse) those its file and models
    describe, with resources standing for their tables.

    Returns
    -------
    tuple[list[Edge], bool]
        The edges, as (upstream kind, upstream, downstream kind, downstream),
        and whether they come from a recorded run.

    Raises
    ------
    ConfigError
        If the project is invalid.
    """
    import tillflow as tl
    from tillflow.exceptions import ConfigError, WarehouseError
    from tillflow.project._models import discover

    project = read(path)
    models = discover(project)
    try:
        with tl.warehouse.from_url(location(project), read_only=True) as wh:
            found = latest(wh, project.name)
    except (ConfigError, WarehouseError):
        found = []  # no warehouse yet
    if found:
        return found, True
    loaded = {name: list(s.resources or []) for name, s in project.sources.items()}
    return edges(project, models, loaded, [], []), False
