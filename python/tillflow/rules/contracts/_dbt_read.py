"""A dbt ``schema.yml`` read into ``{table: RuleSet}``: what each item
becomes, and what is passed over, is told in
`tillflow.rules.contracts._dbt`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from tillflow.rules._rule import Rule
from tillflow.rules._ruleset import RuleSet
from tillflow.rules.contracts._common import Tables, invalid, unsupported
from tillflow.rules.contracts._dbt_contract import At, Table, constraints, freshness, keys, rule, schema
from tillflow.rules.contracts._dbt_terms import (
    CONFIG_KEYS,
    FMT,
    TEST_KEYS,
    WARN_SUFFIX,
    is_template,
    threshold,
)
from tillflow.rules.contracts._dbt_tests import NOT_EXACT, SPECS, Args, Spec

__all__ = ["read"]

_NODES = ("models", "seeds", "snapshots")
_PASSED_TOP = ("analyses", "exposures", "metrics", "semantic_models", "saved_queries", "groups", "macros",
               "unit_tests", "data_tests", "functions")  # fmt: skip
_DESCRIBE = {"description", "docs", "meta", "tags", "config"}
_NODE_KEYS = _DESCRIBE | {"name", "columns", "data_tests", "tests", "constraints", "access", "group",
                          "latest_version", "versions", "deprecation_date", "time_spine", "identifier",
                          "quoting", "external", "loaded_at_field", "loaded_at_query", "freshness",
                          "relation", "event_time"}  # fmt: skip
_SOURCE_KEYS = _DESCRIBE | {"name", "database", "schema", "loader", "loaded_at_field", "loaded_at_query",
                            "freshness", "quoting", "tables", "overrides", "event_time"}  # fmt: skip
_COLUMN_KEYS = _DESCRIBE | {"name", "data_type", "quote", "data_tests", "tests", "constraints",
                            "policy_tags", "granularity", "dimension", "entity"}  # fmt: skip
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read(data: Any) -> Tables:
    """The rules of a parsed ``schema.yml``, per model, seed, snapshot and
    source table (``"source.table"``), in the order the file lists them."""
    if not isinstance(data, Mapping):
        raise invalid(FMT, [], f"expected a schema.yml mapping, got {type(data).__name__}")
    for key in data:
        if key not in ("version", "sources", *_NODES, *_PASSED_TOP):
            raise invalid(FMT, [key], "unknown top-level key; a schema.yml has version, models, sources, "
                          "seeds and snapshots")  # fmt: skip
    if "version" in data and data["version"] != 2:
        raise invalid(FMT, ["version"], f"expected 2, got {data['version']!r}")
    tables: dict[str, Table] = {}

    def new(name: str, at: At) -> Table:
        if name in tables:
            raise invalid(FMT, at, f"{name!r} is listed twice")
        tables[name] = Table()
        return tables[name]

    for kind in _NODES:
        for i, node in _items(data, kind, []):
            _node(new, node, [kind, i], {})
    for i, source in _items(data, "sources", []):
        at: At = ["sources", i]
        name = _name(source, at)
        keys(source, at, _SOURCE_KEYS, "source")
        config = _config(source, at)
        if config.get("enabled", True) is False:
            continue
        if source.get("overrides") is not None:
            raise unsupported(
                FMT, [*at, "overrides"], "source overrides", "they change another package's source"
            )
        inherited = _settings(source, config, at)
        for j, table in _items(source, "tables", at):
            _node(new, table, [*at, "tables", j], inherited, source=name)
    return {name: RuleSet(t.rules, key=t.key) for name, t in tables.items()}


def _items(holder: Mapping[str, Any], key: str, at: At) -> list[tuple[int, Mapping[str, Any]]]:
    value = holder.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(FMT, [*at, key], f"expected a list, got {type(value).__name__}")
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise invalid(FMT, [*at, key, i], f"expected a mapping with a name, got {item!r}")
    return list(enumerate(value))


def _name(node: Mapping[str, Any], at: At) -> str:
    name = node.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(FMT, at, f"name: expected a name, got {name!r}")
    return name


def _config(node: Mapping[str, Any], at: At) -> Mapping[str, Any]:
    config = node.get("config")
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise invalid(FMT, [*at, "config"], f"expected a mapping, got {config!r}")
    enabled = config.get("enabled", True)
    if is_template(enabled):
        raise unsupported(
            FMT, [*at, "config", "enabled"], f"enabled {enabled!r}", "Jinja is rendered only by dbt"
        )
    if not isinstance(enabled, bool):
        raise invalid(FMT, [*at, "config", "enabled"], f"expected true or false, got {enabled!r}")
    return config


def _settings(node: Mapping[str, Any], config: Mapping[str, Any], at: At) -> dict[str, tuple[Any, At]]:
    """A source's or source table's freshness settings, with where each is
    written (under ``config:`` since dbt 1.9/1.10, or at the top level)."""
    out: dict[str, tuple[Any, At]] = {}
    for key in ("freshness", "loaded_at_field", "loaded_at_query"):
        if key in config:
            out[key] = (config[key], [*at, "config", key])
        elif key in node:
            out[key] = (node[key], [*at, key])
    return out


def _node(new: Callable[[str, At], Table], node: Mapping[str, Any], at: At,
          inherited: Mapping[str, tuple[Any, At]], source: str | None = None) -> None:  # fmt: skip
    name = _name(node, at)
    keys(node, at, _NODE_KEYS, "table" if source else "model")
    config = _config(node, at)
    if config.get("enabled", True) is False:
        return
    if node.get("versions"):
        raise unsupported(FMT, [*at, "versions"], "model versions", "each version is a table of its own")
    table = new(f"{source}.{name}" if source else name, at)
    contract = config.get("contract") or {}
    if not isinstance(contract, Mapping) or not isinstance(contract.get("enforced", False), bool):
        raise invalid(FMT, [*at, "config", "contract"], f"expected {{enforced: true}}, got {contract!r}")
    enforced = contract.get("enforced", False) and source is None
    columns = _items(node, "columns", at)
    for j, column in columns:
        cat: At = [*at, "columns", j]
        col = _name(column, cat)
        keys(column, cat, _COLUMN_KEYS, "column")
        _tests(table, column, cat, col)
        if enforced:
            constraints(table, column.get("constraints"), [*cat, "constraints"], col)
    _tests(table, node, at, None)
    if enforced:
        constraints(table, node.get("constraints"), [*at, "constraints"], None)
        schema(table, columns, at)
    if source is not None:
        freshness(table, {**inherited, **_settings(node, config, at)})


# -- tests


def _tests(table: Table, holder: Mapping[str, Any], at: At, column: str | None) -> None:
    if "data_tests" in holder and "tests" in holder:
        raise invalid(FMT, [*at, "tests"], "both tests and data_tests are given; dbt takes one (tests is the "
                      "old name of data_tests)")  # fmt: skip
    key = "tests" if "tests" in holder else "data_tests"
    entries = holder.get(key)
    if entries is None:
        return
    if not isinstance(entries, list):
        raise invalid(FMT, [*at, key], f"expected a list of tests, got {entries!r}")
    for i, entry in enumerate(entries):
        _test(table, entry, [*at, key, i], column)


def _test(table: Table, entry: Any, at: At, column: str | None) -> None:
    if isinstance(entry, str):
        test, body, bat = entry, {}, at
    elif isinstance(entry, Mapping) and "test_name" in entry:
        test, body, bat = entry["test_name"], {k: v for k, v in entry.items() if k != "test_name"}, at
    elif isinstance(entry, Mapping) and len(entry) == 1:
        test, body = next(iter(entry.items()))
        bat = [*at, test]
        body = {} if body is None else body
    else:
        raise invalid(FMT, at, f"expected a test name or {{test: {{arguments: ...}}}}, got {entry!r}")
    if not isinstance(test, str) or not test:
        raise invalid(FMT, at, f"expected a test name, got {test!r}")
    if not isinstance(body, Mapping):
        raise invalid(FMT, bat, f"expected the test's arguments and config, got {body!r}")
    args, config, place = _body(body, bat)
    enabled = config.get("enabled", True)
    if not isinstance(enabled, bool):
        if is_template(enabled):
            raise unsupported(FMT, place["enabled"], f"enabled {enabled!r}", "Jinja is rendered only by dbt")
        raise invalid(FMT, place["enabled"], f"enabled: expected true or false, got {enabled!r}")
    if not enabled:
        return
    spec = SPECS.get(test)
    if spec is None:
        why = NOT_EXACT.get(test) or (
            "tillflow reads dbt's four tests and dbt-utils' (dbt_utils.accepted_range, ...), not custom ones"
        )
        raise unsupported(FMT, at, f"test {test}", why)
    if "column_name" in body:
        given = body["column_name"]
        if column is not None or not isinstance(given, str):
            raise invalid(FMT, [*bat, "column_name"], "column_name is for a model's test, naming one column")
        if not _PLAIN.match(given):
            raise unsupported(FMT, [*bat, "column_name"], f"column_name {given!r}", "an SQL expression")
        column = given
    if spec.scope == "column" and column is None:
        raise invalid(FMT, at, f"{test} tests a column: put it under the column, or give column_name")
    if spec.scope == "model" and column is not None:
        raise invalid(FMT, at, f"{test} tests the model: put it under the model's data_tests")
    for key in args:
        if key not in spec.args:
            takes = f"it takes {', '.join(spec.args)}" if spec.args else "it takes none"
            raise invalid(FMT, place[key], f"{key}: unknown argument of {test}; {takes}")
    for key in spec.required:
        if key not in args:
            raise invalid(FMT, bat, f"{test} needs the argument {key}")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise invalid(FMT, [*bat, "name"], f"expected a test name, got {name!r}")
    levels = _levels(test, spec, config, place, at)
    where = _where(config, place)
    kind, target, options = spec.build(column, Args(test, args, place))
    own = options.pop("when", None)
    when = f"({where}) AND ({own})" if where and own else where or own
    if where and kind == "freshness":
        raise unsupported(FMT, place["where"], f"{test} where", "tillflow's freshness reads the whole table")
    first: Rule | None = None
    for severity, count in levels:
        opts = {**options, "when": when, "severity": "warn" if severity == "warn" else None}
        if spec.counts == "rows" and count:
            opts["tolerance"] = count
        opts["name"] = name if first is None else first.name + WARN_SUFFIX
        added = table.add(rule(kind, target, opts, at))
        first = first or added


def _body(body: Mapping[str, Any], at: At) -> tuple[dict[str, Any], dict[str, Any], dict[str, At]]:
    """A test's arguments and config, and where each is written: config
    keys may also sit at the top level or under ``arguments:`` (older
    files), and arguments at the top level (before dbt 1.10.5)."""
    place: dict[str, At] = {}
    config = body.get("config") or {}
    if not isinstance(config, Mapping):
        raise invalid(FMT, [*at, "config"], f"expected a mapping, got {config!r}")
    config = dict(config)
    for key in config:
        place[key] = [*at, "config", key]
        if key not in CONFIG_KEYS:
            raise invalid(FMT, place[key], f"unknown test config; dbt's are {', '.join(CONFIG_KEYS)}")
    args: dict[str, Any] = {}
    arguments = body.get("arguments") or {}
    if not isinstance(arguments, Mapping):
        raise invalid(FMT, [*at, "arguments"], f"expected a mapping, got {arguments!r}")
    given = [(key, value, [*at, "arguments", key]) for key, value in arguments.items()]
    given += [(key, value, [*at, key]) for key, value in body.items() if key not in TEST_KEYS]
    for key, value, where in given:
        if key in place:
            raise invalid(
                FMT, where, f"{key} is given twice (see {'.'.join(map(str, place[key][len(at) :]))})"
            )
        (config if key in CONFIG_KEYS else args)[key] = value
        place[key] = where
    return args, config, place


def _levels(
    test: str, spec: Spec, config: Mapping[str, Any], place: Mapping[str, At], at: At
) -> list[tuple[str, int]]:
    """The severities a test can end in, each with the count of failures it
    is reached above. dbt judges ``error_if`` first (unless the severity is
    warn), then ``warn_if``; ``limit`` caps the count."""
    severity = config.get("severity", "error")
    if not isinstance(severity, str) or severity.lower() not in ("warn", "error"):
        raise invalid(FMT, place.get("severity", at), f"severity: expected warn or error, got {severity!r}")
    limit = config.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise invalid(FMT, place["limit"], f"limit: expected a whole number, got {limit!r}")
    if spec.counts == "once":
        limit = 1 if limit is None else min(limit, 1)
    calc = config.get("fail_calc")
    if calc is not None:
        own = "sum(coalesce(diff_count,0))" if spec.counts == "difference" else "count(*)"
        if re.sub(r"\s", "", str(calc)).lower() != own:
            raise unsupported(
                FMT, place["fail_calc"], f"fail_calc {calc!r}", f"tillflow counts as {own} does"
            )
    if "sql_header" in config:
        raise unsupported(FMT, place["sql_header"], "sql_header", "tillflow runs no SQL before a check")

    def above(key: str) -> int | None:
        condition = config.get(key, "!=0")
        count = threshold(condition) if isinstance(condition, str) else None
        if count is None:
            raise unsupported(
                FMT, place.get(key, at), f"{key} {condition!r}",
                "a tolerance passes up to a number of failures: write '>N', '>=N' or '!=0'",
            )  # fmt: skip
        return None if limit is not None and count >= limit else count

    if severity.lower() == "warn":
        levels = [("warn", above("warn_if"))]
    else:
        error, warn = above("error_if"), above("warn_if")
        levels = [("error", error)]
        if warn is not None and (error is None or warn < error):
            levels.append(("warn", warn))
    out = [(s, n) for s, n in levels if n is not None]
    if not out:
        raise unsupported(FMT, at, f"test {test}", "its error_if, warn_if and limit leave it no way to fail")
    given = place.get("error_if") or place.get("warn_if") or at
    if spec.counts == "values" and any(n for _s, n in out):
        raise unsupported(FMT, given, f"{test} with error_if/warn_if", "it counts distinct values, not rows")
    if spec.counts == "difference" and any(n for _s, n in out):
        raise unsupported(FMT, given, f"{test} with error_if/warn_if", "row_count_matches allows a fraction")
    return out


def _where(config: Mapping[str, Any], place: Mapping[str, At]) -> str | None:
    where = config.get("where")
    if where is None:
        return None
    if not isinstance(where, str) or not where.strip():
        raise invalid(FMT, place["where"], f"where: expected an SQL condition, got {where!r}")
    if is_template(where):
        raise unsupported(FMT, place["where"], f"where {where!r}", "Jinja is rendered only by dbt")
    return where
