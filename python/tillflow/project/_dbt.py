"""``tillflow export dbt DIR``: the project as a dbt project, for a team that
moves its SQL to dbt or runs both.

- ``dbt_project.yml`` and ``profiles.yml`` (the project's warehouse:
  dbt-duckdb for a DuckDB file or the lake, dbt-postgres for PostgreSQL,
  the password left to an environment variable);
- ``models/*.sql`` as they are (tillflow's templates are dbt's: ``ref``,
  ``source``, ``config``, ``is_incremental``, ``this``, ``env_var``);
- ``models/sources.yml`` and ``models/schema.yml``: the sources' tables and
  the models, with the rules dbt has generic tests for (``not_null``,
  ``unique``, ``accepted_values``, ``relationships``) as tests, severity kept;
- ``tests/*.sql``: every other rule as a singular test, a query returning
  the rows that break it (``between``, ``matches``, ``compare``,
  ``expression``, several-column ``unique``, ``row_count``, ``freshness``,
  ``schema``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml  # type: ignore[import-untyped,unused-ignore]

from tillflow._core.errors import config_error
from tillflow.project._config import ProjectConfig, location
from tillflow.project._models import Model
from tillflow.project._sources import source_table

__all__ = ["export_dbt"]

_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "=", "!=": "<>"}


def export_dbt(project: ProjectConfig, models: Mapping[str, Model], directory: str | Path) -> list[Path]:
    """Write the project as a dbt project into ``directory`` (created when
    missing; the files written are replaced). Returns the files written.

    Raises
    ------
    ConfigError
        If a rule cannot be written as a test (a Polars expression, a frame
        as a reference).
    """
    import tillflow as tl

    root = Path(directory)

    def resolve(table: str) -> str:
        """A table a relationships rule names, as dbt reaches it: a model, or a source's table."""
        if table in models:
            return f"ref('{table}')"
        for name, config in project.sources.items():
            if table.startswith(config.table_prefix):
                return f"source('{name}', '{table.removeprefix(config.table_prefix)}')"
        return f"ref('{table}')"

    dialect = "postgres" if project.warehouse.startswith(("postgresql:", "postgres:")) else "duckdb"
    files: dict[str, str] = {}
    singular: dict[str, str] = {}
    sources: list[dict[str, Any]] = []
    for name, config in project.sources.items():
        tables: dict[str, dict[str, Any]] = {}
        wanted = [t for m in models.values() for s, t in m.sources if s == name]
        for table in [*(config.resources or []), *config.rules, *wanted]:
            entry = tables.setdefault(table, {"name": table})
            stored = source_table(config, table)
            if stored != table:
                entry["identifier"] = stored
            if dialect == "duckdb" and project.warehouse.startswith("delta:"):
                entry["meta"] = {"external_location": f"delta_scan('{_lake_uri(project, stored)}')"}
        for table, path in config.rules.items():
            relation = f"{{{{ source('{name}', '{table}') }}}}"
            rules = tl.RuleSet.from_file(path)
            _tests(rules, tables[table], relation, f"{name}__{table}", singular, dialect, resolve)
        # Tables live in the warehouse's schema, not in one named after the source (dbt's default).
        schema_name = _pg_schema(project) if dialect == "postgres" else "main"
        source: dict[str, Any] = {"name": name, "schema": schema_name, "tables": list(tables.values())}
        sources.append(source)
    schema: list[dict[str, Any]] = []
    for name, model in models.items():
        described: dict[str, Any] = {"name": name, "config": {"materialized": model.materialized}}
        if model.unique_key:
            key = model.unique_key
            described["config"]["unique_key"] = key[0] if len(key) == 1 else key
        if model.rules is not None:
            rules = tl.RuleSet.from_file(model.rules)
            _tests(rules, described, f"{{{{ ref('{name}') }}}}", name, singular, dialect, resolve)
        schema.append(described)
        files[f"models/{name}.sql"] = model.template
    files["dbt_project.yml"] = _yaml({
        "name": project.name, "version": "1.0.0", "profile": project.name, "config-version": 2,
        "model-paths": ["models"], "test-paths": ["tests"],
    })  # fmt: skip
    files["profiles.yml"] = _yaml(
        {project.name: {"target": "dev", "outputs": {"dev": _profile(project, dialect)}}}
    )
    files["models/sources.yml"] = _yaml({"version": 2, "sources": sources})
    files["models/schema.yml"] = _yaml({"version": 2, "models": schema})
    for test, sql in singular.items():
        files[f"tests/{test}.sql"] = sql
    written = []
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _tests(
    rules: Any,
    entry: dict[str, Any],
    relation: str,
    prefix: str,
    singular: dict[str, str],
    dialect: str,
    resolve: Callable[[str], str],
) -> None:
    """Put ``rules`` on ``entry`` (a source table or a model) as generic tests,
    and the rest into ``singular`` as queries of the rows that break them."""
    columns: dict[str, dict[str, Any]] = {}

    def column_tests(column: str) -> list[Any]:
        found = columns.setdefault(column, {"name": column, "data_tests": []})
        tests: list[Any] = found["data_tests"]
        return tests

    for rule in rules:
        kind, target, options = rule.kind, rule.target, rule.options
        _exportable(rule)
        when = options.get("when")
        settings: dict[str, Any] = {"severity": rule.severity} if rule.severity != "error" else {}
        if isinstance(rule.tolerance, int) and not isinstance(rule.tolerance, bool):
            settings["error_if"] = f">{rule.tolerance}"
        if when is not None:
            settings["where"] = when
        config: dict[str, Any] = {"config": settings} if settings else {}
        if "name" in options:  # a name given is the test's (dbt's own names would collide)
            config = {"name": _slug(f"{prefix}__{rule.name}"), **config}
        if kind == "not_null":
            for column in rule.columns:
                if "name" in config and len(rule.columns) > 1:
                    config = {**config, "name": _slug(f"{prefix}__{rule.name}__{column}")}
                column_tests(column).append({"not_null": config} if config else "not_null")
        elif kind == "unique" and len(rule.columns) == 1 and _dbt_counting(rule):
            column_tests(rule.columns[0]).append({"unique": config} if config else "unique")
        elif kind == "is_in" and "error_if" not in settings:  # accepted_values counts distinct values
            values = [v for v in options["values"] if v is not None]
            column_tests(target).append({"accepted_values": {"arguments": {"values": values}, **config}})
        elif kind == "relationships" and isinstance(target, str):
            to = options.get("to")
            if not isinstance(to, str):
                raise config_error(f"rule {rule.name}: to: a frame cannot be exported; name the table")
            table, _, field = to.partition(".")
            arguments = {"to": resolve(table), "field": field or options.get("field") or target}
            column_tests(target).append({"relationships": {"arguments": arguments, **config}})
        else:
            sql = _failing_rows(rule, _where(relation, when), dialect)
            header = ""
            if settings.keys() - {"where"}:
                parts = [f"{k}={v!r}" for k, v in settings.items() if k != "where"]
                header = f"{{{{ config({', '.join(parts)}) }}}}\n"
            singular[_slug(f"{prefix}__{rule.name}")] = (
                f"-- tillflow rule {rule.name} ({kind})\n{header}{sql}\n"
            )
    if columns:
        entry["columns"] = list(columns.values())


_SINGULAR = ("unique", "between", "matches", "is_in", "relationships", "compare", "expression",
              "row_count", "freshness", "schema")  # fmt: skip


def _exportable(rule: Any) -> None:
    """Refuse what the export would otherwise lose: a share tolerance, ``by=``,
    a Polars condition, or a kind with no dbt test."""
    if rule.kind != "not_null" and rule.kind not in _SINGULAR:
        raise config_error(
            f"rule {rule.name}: {rule.kind}: has no dbt test in the export (it writes not_null, unique, "
            f"accepted_values, relationships and singular tests for {', '.join(_SINGULAR[1:])})"
        )
    tol = rule.tolerance
    if tol is not None and not (isinstance(tol, int) and not isinstance(tol, bool)):
        raise config_error(
            f"rule {rule.name}: tolerance: a share ({tol!r}) has no dbt form (error_if counts rows); "
            f"give a count"
        )
    if "by" in rule.options:
        raise config_error(f"rule {rule.name}: by: grouped checks have no dbt test in the export")
    when = rule.options.get("when")
    if when is not None and not isinstance(when, str):
        raise config_error(f"rule {rule.name}: when: a Polars expression cannot be exported; use SQL text")


def _dbt_counting(rule: Any) -> bool:
    """Whether dbt's own unique test counts as the rule does (repeated keys,
    nulls skipped); otherwise a singular test says what the rule counts."""
    return rule.options.get("count", "keys") == "keys" and rule.options.get("nulls", "distinct") == "distinct"


def _where(relation: str, when: Any) -> str:
    """The relation limited to the rows ``when=`` admits."""
    if when is None:
        return relation
    return f"(select * from {relation} where {when}) as admitted"


def _failing_rows(rule: Any, relation: str, dialect: str) -> str:
    kind, target, options = rule.kind, rule.target, rule.options
    q = _quote
    if kind == "unique":
        cols = ", ".join(q(c) for c in rule.columns)
        return f"select {cols}, count(*) as n from {relation} group by {cols} having count(*) > 1"
    if kind == "between":
        parts = []
        if options.get("min") is not None:
            op = "<" if options.get("min_inclusive", True) else "<="
            parts.append(f"{q(target)} {op} {_literal(options['min'])}")
        if options.get("max") is not None:
            op = ">" if options.get("max_inclusive", True) else ">="
            parts.append(f"{q(target)} {op} {_literal(options['max'])}")
        return f"select * from {relation} where {' or '.join(parts)}"
    if kind == "matches":
        pattern = _literal(options["pattern"])
        test = (
            f"not regexp_matches({q(target)}, {pattern})"
            if dialect == "duckdb"
            else f"{q(target)} !~ {pattern}"
        )
        return f"select * from {relation} where {q(target)} is not null and {test}"
    if kind == "compare":
        left, op, right = target
        return f"select * from {relation} where not ({q(left)} {_OPS[op]} {q(right)})"
    if kind == "expression":
        if not isinstance(target, str):
            raise config_error(
                f"rule {rule.name}: expression: a Polars expression cannot be exported; use SQL text"
            )
        return f"select * from {relation} where not ({target})"
    if kind == "row_count":
        checks = []
        if target.get("min") is not None:
            checks.append(f"n < {int(target['min'])}")
        if target.get("max") is not None:
            checks.append(f"n > {int(target['max'])}")
        return f"select n from (select count(*) as n from {relation}) as c where {' or '.join(checks)}"
    if kind == "freshness":
        from tillflow._core import durations

        seconds = durations.seconds(options["max_age"]) or 0.0
        return (
            f"select max({q(target)}) as latest from {relation} "
            f"having max({q(target)}) < current_timestamp - interval '{int(seconds)} seconds'"
        )
    # schema: the columns must exist (the query fails to compile when one is missing)
    return f"select {', '.join(q(c) for c in target)} from {relation} where false"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _slug(text: str) -> str:
    return re.sub(r"\W+", "_", text).strip("_")


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _pg_schema(project: ProjectConfig) -> str:
    from tillflow.warehouse import schema_param

    return schema_param(project.warehouse)[1]


def _lake_uri(project: ProjectConfig, table: str) -> str:
    base = location(project).removeprefix("delta:").rstrip("/")
    return f"{base}/{table}"


def _profile(project: ProjectConfig, dialect: str) -> dict[str, Any]:
    if dialect == "postgres":
        from tillflow.warehouse import schema_param

        url, schema = schema_param(project.warehouse)
        parts = urlsplit(url)
        return {
            "type": "postgres",
            "host": parts.hostname or "localhost",
            "port": parts.port or 5432,
            "user": unquote(parts.username or "postgres"),
            "password": "{{ env_var('TILLFLOW_DBT_PASSWORD', '') }}",
            "dbname": parts.path.lstrip("/") or "postgres",
            "schema": schema,
            "threads": 1,
        }
    where = location(project)
    if where.startswith("delta:"):
        return {"type": "duckdb", "path": ":memory:", "extensions": ["delta"], "threads": 1}
    return {"type": "duckdb", "path": where.removeprefix("duckdb:"), "threads": 1}
