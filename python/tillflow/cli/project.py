"""``tillflow init``, ``tillflow run`` of a project, ``tillflow validate-project``
and ``tillflow schedule``: a project folder (``tillflow.toml``) from the shell."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from tillflow._core import exits


def add_commands(sub: Any) -> None:
    init = sub.add_parser(
        "init", help="create a project (tillflow.toml, models/, rules/) that runs on the demo shop"
    )
    init.add_argument("directory", nargs="?", default=".", type=Path, help="where (default: here)")
    init.add_argument("--name", default=None, help="the project's name (default: the folder's)")
    init.set_defaults(func=_init)

    check = sub.add_parser(
        "validate-project",
        help="check tillflow.toml, the models and the rules files without running anything",
    )
    check.add_argument(
        "project", nargs="?", default=".", type=Path, help="the project folder (default: here)"
    )
    check.set_defaults(func=_validate_project)

    lineage = sub.add_parser(
        "lineage", help="source -> table -> model -> metric, as the project's latest run used them"
    )
    lineage.add_argument(
        "project", nargs="?", default=".", type=Path, help="the project folder (default: here)"
    )
    lineage.add_argument("--json", action="store_true", help="the edges as JSON")
    lineage.set_defaults(func=_lineage)

    export = sub.add_parser("export", help="write the project in another tool's form: dbt")
    export.add_argument("format", choices=("dbt",))
    export.add_argument("directory", type=Path, help="where the dbt project goes")
    export.add_argument("--project", default=".", type=Path, help="the project folder (default: here)")
    export.set_defaults(func=_export)

    schedule = sub.add_parser("schedule", help="print crontab lines for the project's [schedules]")
    schedule.add_argument(
        "project", nargs="?", default=".", type=Path, help="the project folder (default: here)"
    )
    schedule.set_defaults(func=_schedule)


def add_run_options(run: argparse.ArgumentParser) -> None:
    """The options ``tillflow run`` takes for a project."""
    run.add_argument(
        "--select", nargs="+", default=None, metavar="NAME",
        help="project: run these sources or models (with the models and sources they read), or 'metrics'",
    )  # fmt: skip
    run.add_argument("--json", action="store_true", help="project: print the run's summary as JSON")
    run.add_argument(
        "--wait", nargs="?", type=float, const=float("inf"), default=None, metavar="SECONDS",
        help="wait for a running run of the same warehouse (for SECONDS, or until it ends) instead of "
        "exiting 75",
    )  # fmt: skip


def is_project(target: Path | None) -> bool:
    """Whether ``tillflow run TARGET`` means a project: no target (a
    ``tillflow.toml`` here), a folder, or a ``tillflow.toml``."""
    from tillflow.project import FILE_NAME

    if target is None:
        return True
    return target.is_dir() or target.name == FILE_NAME


def run_project(args: argparse.Namespace) -> int:
    import tillflow as tl

    if args.warehouse is not None or args.pipeline is not None or args.write_mode is not None:
        from tillflow._core.errors import config_error

        raise config_error(
            "--warehouse, --pipeline and --write-mode are for a spec; a project sets them in tillflow.toml"
        )
    result = tl.project.run(
        args.spec or Path("."),
        select=args.select,
        full_refresh=args.full_refresh,
        wait=args.wait,
        progress=not args.quiet and not args.json,
    )
    print(result.to_json() if args.json else result)
    return exits.OK if result.status == "ok" else exits.NEGATIVE


def _init(args: argparse.Namespace) -> int:
    import tillflow as tl

    path = tl.project.init(args.directory, name=args.name)
    print(f"created {path} with models/, rules/ and .env.example")
    here = "" if args.directory == Path(".") else f"cd {shlex.quote(str(args.directory))} && "
    print(f"run it: {here}tillflow run")
    return exits.OK


def _validate_project(args: argparse.Namespace) -> int:
    import tillflow as tl

    project, models = tl.project.check(args.project)
    print(
        f"{project.path}: ok ({len(project.sources)} sources, {len(models)} models, "
        f"{len(project.schedules)} schedules)"
    )
    return exits.OK


def _lineage(args: argparse.Namespace) -> int:
    import json

    import tillflow as tl

    found, recorded = tl.project.lineage(args.project)
    if args.json:
        keys = ("upstream_kind", "upstream", "downstream_kind", "downstream")
        print(json.dumps([dict(zip(keys, edge, strict=True)) for edge in found], indent=2))
        return exits.OK
    project = tl.project.read(args.project)
    origin = "the latest run" if recorded else f"{project.path.name} (no run recorded yet)"
    print(f"# lineage of {project.name}, from {origin}")
    print(tl.project.lineage_tree(found))
    return exits.OK


def _export(args: argparse.Namespace) -> int:
    import tillflow as tl
    from tillflow.project import export_dbt

    project, models = tl.project.check(args.project)
    written = export_dbt(project, models, args.directory)
    print(f"wrote a dbt project of {len(written)} files to {args.directory} (profile {project.name!r})")
    return exits.OK


def _schedule(args: argparse.Namespace) -> int:
    import tillflow as tl

    project, _models = tl.project.check(args.project)
    if not project.schedules:
        print(f"# {project.path} has no [schedules]", file=sys.stderr)
    tillflow = shlex.quote(sys.argv[0] if sys.argv and sys.argv[0].endswith("tillflow") else "tillflow")
    for schedule in project.schedules.values():
        parts = [tillflow, "run", shlex.quote(str(project.root))]
        if schedule.select:
            parts += ["--select", *map(shlex.quote, schedule.select)]
        if schedule.full_refresh:
            parts.append("--full-refresh")
        print(f"# {schedule.name}")
        log = shlex.quote(str(project.root / "tillflow.log"))
        print(f"{schedule.cron} {' '.join(parts)} --quiet >> {log} 2>&1")
    return exits.OK
