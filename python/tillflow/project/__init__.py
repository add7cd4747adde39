"""Projects: one folder under git holding a shop's sources, rules, SQL
models, metrics, alerts and schedules, run by one command.

    my_shop/
    ├── tillflow.toml     sources, warehouse, rules per table, models, metrics, schedules
    ├── models/*.sql      one SELECT each, with ref() and source() as dbt writes them
    ├── rules/*.yaml      rules for a source's table or a model
    └── .env              secrets, read as ${NAME} in tillflow.toml

[init][tillflow.project.init] scaffolds one that runs against the demo shop;
[run][tillflow.project.run] runs it (``tillflow run`` from the shell), one
run per warehouse at a time; [read][tillflow.project.read] and
[check][tillflow.project.check] check it without running anything.
"""

from __future__ import annotations

from pathlib import Path

from tillflow.project._config import FILE_NAME, ProjectConfig, location, read
from tillflow.project._dbt import export_dbt
from tillflow.project._lineage import Edge, lineage
from tillflow.project._lineage import tree as lineage_tree
from tillflow.project._models import Model, discover
from tillflow.project._run import KINDS, Plan, ProjectRun, Step, plan, run
from tillflow.project._scaffold import init

__all__ = [
    "FILE_NAME",
    "KINDS",
    "Edge",
    "Model",
    "Plan",
    "ProjectConfig",
    "ProjectRun",
    "Step",
    "check",
    "export_dbt",
    "init",
    "lineage",
    "lineage_tree",
    "location",
    "plan",
    "read",
    "run",
]


def check(path: str | Path = ".") -> tuple[ProjectConfig, dict[str, Model]]:
    """Check a whole project without running it: the project file, every
    model's SQL template and references, every rules file.

    Parameters
    ----------
    path
        The project's folder, or its ``tillflow.toml``.

    Returns
    -------
    tuple[ProjectConfig, dict[str, Model]]
        The project read, and its models.

    Raises
    ------
    ConfigError
        For the first problem found, naming its file, line and key.
    RuleError
        If a rules file holds an invalid rule.
    """
    import tillflow as tl

    project = read(path)
    models = discover(project)
    for model in models.values():
        if model.rules is not None:
            tl.RuleSet.from_file(model.rules)
    for source in project.sources.values():
        for rules in source.rules.values():
            tl.RuleSet.from_file(rules)
        if source.kind == "spec":
            tl.sources.rest(source.target)
    if project.alerts is not None:
        tl.monitor.alerter_from_config(project.alerts)
    for schedule in project.schedules.values():
        for name in schedule.select:
            if name not in project.sources and name not in models and name != "metrics":
                raise tl.ConfigError(
                    f"invalid config: {project.where('schedules', schedule.name, 'select')}: "
                    f"schedules.{schedule.name}.select: no source or model {name!r}"
                )
    return project, models
