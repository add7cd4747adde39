"""The project's sources, built from their ``[sources.NAME]`` tables.

Each kind maps to the source function a Python user would call:

- ``demo = true`` (or ``{ orders = 500, seed = 7 }``): the demo shop,
  served on loopback for the length of the run;
- ``preset = "stripe"``: a vendor preset, ``options`` its parameters;
- ``spec = "specs/shop.yaml"``: a REST spec file;
- ``files = "exports/*.csv"``: file exports, ``options`` as
  [files][tillflow.sources.files] takes them;
- ``database = "${APP_DB_URL}"``: tables of a PostgreSQL or MySQL/MariaDB
  database, ``options`` as [sql_database][tillflow.sources.sql_database]
  takes them (``resources`` are its tables);
- ``logs = "/var/log/nginx/access.log*"``: web or server logs, ``options``
  as [logs][tillflow.sources.logs] takes them (``format``, ``pattern``, …);
- ``airbyte = "connectors/woocommerce.yaml"``: an Airbyte declarative
  manifest, ``options`` as [airbyte_manifest][tillflow.sources.airbyte_manifest]
  takes them (``config``: a table or a file, ``base_url_override``, …;
  ``resources`` are its streams);
- ``singer = "/opt/taps/tap-postgres/bin/tap-postgres"``: a Singer tap,
  ``options`` as [singer][tillflow.sources.singer] takes them (``config``,
  ``catalog``, …; ``resources`` are its streams).

``resources`` keeps some of a source's resources, ``rules`` attaches a rules
file to a resource, ``table_prefix`` renames its tables and
``schema_contract`` sets the contract of every resource.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tillflow._core.errors import config_error
from tillflow.exceptions import ConfigError
from tillflow.project._config import ProjectConfig, SourceConfig

__all__ = ["open_sources", "source_table"]


def source_table(config: SourceConfig, table: str) -> str:
    """The warehouse table ``source('NAME', table)`` reads."""
    return config.table_prefix + table


@contextlib.contextmanager
def open_sources(project: ProjectConfig, names: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The named sources, built and ready to load; a demo shop serves until the block ends.

    Raises
    ------
    ConfigError
        If a source's options do not fit it; the message names the source's
        line in the project file.
    """
    with contextlib.ExitStack() as stack:
        out: dict[str, Any] = {}
        for name in names:
            config = project.sources[name]
            try:
                out[name] = _build(config, project, stack)
            except ConfigError as exc:
                where = project.where("sources", name)
                text = str(exc).removeprefix("invalid config: ")
                raise config_error(f"{where}: sources.{name}: {text}") from None
            except TypeError as exc:  # an option the source function does not take
                where = project.where("sources", name, "options")
                raise config_error(f"{where}: sources.{name}.options: {exc}") from None
        yield out


def _build(config: SourceConfig, project: ProjectConfig, stack: contextlib.ExitStack) -> Any:
    import tillflow as tl
    from tillflow.sources import Source

    options = dict(config.options)
    if config.kind == "demo":
        settings: Mapping[str, Any] = config.target if isinstance(config.target, Mapping) else {}
        shop = stack.enter_context(tl.demo_shop(**settings))
        source = shop.source(**options)
    elif config.kind == "preset":
        source = tl.sources.preset(config.target).source(**options)
    elif config.kind == "spec":
        source = tl.sources.rest(config.target)
    elif config.kind == "files":
        source = tl.sources.files(str(project.root / config.target), **options)
    elif config.kind == "logs":
        source = tl.sources.logs(str(project.root / config.target), **options)
    elif config.kind in ("airbyte", "singer"):
        for key in ("config", "catalog", "ca_bundle"):  # files named relative to the project
            if isinstance(options.get(key), str):
                options[key] = str(project.root / options[key])
        if config.resources is not None:
            options["streams"] = config.resources
        if config.kind == "airbyte":
            source = tl.sources.airbyte_manifest(config.target, name=config.name, **options)
        else:
            tap = str(config.target)
            tap = str(project.root / tap) if "/" in tap else tap  # a path in the project, or a name on PATH
            source = tl.sources.singer(tap, name=config.name, **options)
    else:
        if config.resources is not None:
            options.setdefault("tables", config.resources)
        source = tl.sources.sql_database(config.target, **options)
    if config.resources is not None and config.kind not in ("database", "airbyte", "singer"):
        source = source.with_resources(*config.resources)
    if config.rules:
        from tillflow.rules import RuleSet

        known = {r.name for r in source.resources}
        for resource in config.rules:
            if resource not in known:
                raise config_error(
                    f"rules.{resource}: no resource {resource!r} in this source (it has {sorted(known)})"
                )
        source = source.with_rules(**{r: RuleSet.from_file(path) for r, path in config.rules.items()})
    if config.schema_contract is not None:
        source = source.with_schema_contract(config.schema_contract)
    if config.write_mode is not None:
        source = Source(source.name, [_with_mode(r, config.write_mode) for r in source.resources])
    if config.table_prefix:
        source = source.with_table_prefix(config.table_prefix)
    return Source(config.name, list(source.resources))


def _with_mode(resource: Any, mode: str) -> Any:
    import dataclasses

    from tillflow.sources import WRITE_MODES

    if mode not in WRITE_MODES:
        raise config_error(f"write_mode: must be one of {', '.join(WRITE_MODES)}, got {mode!r}")
    return dataclasses.replace(resource, write_mode=mode)
