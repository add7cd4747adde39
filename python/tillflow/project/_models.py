"""SQL models: ``models/*.sql`` files, each one ``SELECT`` that becomes a
view or a table of the warehouse.

A model's SQL is a Jinja template, as dbt writes it:

- ``{{ ref('daily_orders') }}`` names another model (and makes it run first);
- ``{{ source('shop', 'orders') }}`` names a table a project source loads;
- ``{{ config(materialized='incremental', unique_key='day') }}`` sets the
  model's options (``[models.NAME]`` in ``tillflow.toml`` overrides them);
- ``{% if is_incremental() %} ... {% endif %}`` holds what only an
  incremental run adds, usually a filter against ``{{ this }}``, the model's
  own table;
- ``{{ env_var('NAME', 'default') }}`` reads the environment.

Models run in dependency order; a cycle is an error naming it.
"""

from __future__ import annotations

import dataclasses
import graphlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tillflow._core.errors import config_error
from tillflow.project._config import MATERIALIZATIONS, ModelConfig, ProjectConfig

__all__ = ["Model", "discover", "order", "render"]

MODELS_DIR = "models"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclasses.dataclass
class Model:
    """One SQL model: its file, options and what it reads."""

    name: str
    path: Path
    template: str
    materialized: str
    unique_key: list[str] | None
    rules: Path | None
    refs: list[str]  # models it reads
    sources: list[tuple[str, str]]  # (source, table) it reads

    def where(self, needle: str = "") -> str:
        """``models/x.sql:LINE`` of the first line holding ``needle``."""
        for number, line in enumerate(self.template.splitlines(), 1):
            if needle and needle in line:
                return f"{self.path}:{number}"
        return str(self.path)


class _Collect:
    """What rendering a template for discovery records."""

    def __init__(self) -> None:
        self.refs: list[str] = []
        self.sources: list[tuple[str, str]] = []
        self.config: dict[str, Any] = {}


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


def render(
    model: Model,
    *,
    relation: Callable[[str], str],
    source_table: Callable[[str, str], str],
    incremental: bool,
) -> str:
    """The model's SQL: ``ref``, ``source`` and ``this`` written as the
    warehouse's quoted table names (``relation`` quotes a table name;
    ``source_table`` maps a source and table to the loaded table's quoted name)."""
    return _render(
        model.template,
        str(model.path),
        ref=relation,
        source=source_table,
        config=lambda **_: "",
        is_incremental=lambda: incremental,
        this=relation(model.name),
    )


def _render(text: str, where: str, **context: Any) -> str:
    import jinja2

    context.setdefault("env_var", _env_var)
    try:
        return str(_environment().from_string(text).render(**context))
    except jinja2.TemplateSyntaxError as exc:
        raise config_error(f"{where}:{exc.lineno}: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise config_error(f"{where}: {exc.message}") from None


def _env_var(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise config_error(f"env_var({name!r}): the variable is not set and has no default")
    return value


def discover(project: ProjectConfig) -> dict[str, Model]:
    """The project's models: every ``models/*.sql`` file, with its options
    and what it reads; references to models or sources that do not exist,
    and options that do not fit, are errors naming the file and line.
    ``[models.NAME]`` sections name existing files."""
    folder = project.root / MODELS_DIR
    files = sorted(folder.glob("*.sql")) if folder.is_dir() else []
    models: dict[str, Model] = {}
    for path in files:
        name = path.stem
        if not _NAME.fullmatch(name):
            raise config_error(
                f"{path}: a model's file name is letters, digits and underscores (it names the table)"
            )
        models[name] = _read(path, name, project.models.get(name, ModelConfig()))
    for name in project.models:
        if name not in models:
            where = project.where("models", name)
            raise config_error(f"{where}: models.{name}: no file {MODELS_DIR}/{name}.sql in the project")
    for model in models.values():
        for ref in model.refs:
            if ref not in models:
                known = ", ".join(sorted(models)) or "none"
                raise config_error(f"{model.where(ref)}: ref({ref!r}): no model {ref!r} (models: {known})")
        for source, _table in model.sources:
            if source not in project.sources:
                known = ", ".join(sorted(project.sources)) or "none"
                raise config_error(
                    f"{model.where(source)}: source({source!r}, ...): no source {source!r} in "
                    f"{project.path.name} (sources: {known})"
                )
    order(models)  # a cycle fails here, before anything runs
    return {name: m for name, m in models.items() if project.models.get(name, ModelConfig()).enabled}


def _read(path: Path, name: str, overrides: ModelConfig) -> Model:
    text = path.read_text(encoding="utf-8")
    seen = _Collect()

    def ref(model: str) -> str:
        seen.refs.append(str(model))
        return f'"{model}"'

    def source(src: str, table: str) -> str:
        seen.sources.append((str(src), str(table)))
        return f'"{table}"'

    def config(**options: Any) -> str:
        seen.config.update(options)
        return ""

    _render(
        text, str(path), ref=ref, source=source, config=config, is_incremental=lambda: False, this=f'"{name}"'
    )
    unknown = sorted(set(seen.config) - {"materialized", "unique_key"})
    if unknown:
        raise config_error(f"{_line(path, text, 'config(')}: config({unknown[0]}=...): unknown option; "
                           f"a model takes materialized and unique_key")  # fmt: skip
    materialized = overrides.materialized or seen.config.get("materialized", "view")
    if materialized not in MATERIALIZATIONS:
        raise config_error(
            f"{_line(path, text, 'materialized')}: materialized: must be one of "
            f"{', '.join(MATERIALIZATIONS)}, got {materialized!r}"
        )
    key = overrides.unique_key if overrides.unique_key is not None else seen.config.get("unique_key")
    if isinstance(key, str):
        key = [key]
    if key is not None and not (isinstance(key, list) and key and all(isinstance(k, str) and k for k in key)):
        raise config_error(
            f"{_line(path, text, 'unique_key')}: unique_key: expected a column or a list of them"
        )
    return Model(
        name=name,
        path=path,
        template=text,
        materialized=str(materialized),
        unique_key=key,
        rules=overrides.rules,
        refs=list(dict.fromkeys(seen.refs)),
        sources=list(dict.fromkeys(seen.sources)),
    )


def _line(path: Path, text: str, needle: str) -> str:
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return f"{path}:{number}"
    return str(path)


def order(models: Mapping[str, Model]) -> list[str]:
    """Model names, each after the models it reads.

    Raises
    ------
    ConfigError
        If models read each other in a circle (the message lists it).
    """
    sorter = graphlib.TopologicalSorter({name: set(m.refs) for name, m in models.items()})
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise config_error(f"models: they read each other in a circle: {cycle}") from None
