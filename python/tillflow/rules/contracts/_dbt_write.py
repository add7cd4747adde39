"""``{table: RuleSet}`` written as a dbt ``schema.yml`` mapping: each rule
as the generic test (dbt's or dbt-utils') that checks the same, in the
modern form (``data_tests``, ``arguments``, ``config``)."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Sequence
from typing import Any

import polars as pl

from tillflow.exceptions import RuleError
from tillflow.rules._rule import Rule
from tillflow.rules._values import parse_duration, schema_type
from tillflow.rules.contracts._common import Tables, non_null_column, quote
from tillflow.rules.contracts._dbt_terms import (
    BLANK,
    DATA_TYPES,
    UNIT_SECONDS,
    UNITS,
    WARN_SUFFIX,
    relation_of,
)

__all__ = ["write"]

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_DATEPART = {unit: part for part, unit in UNITS.items()}
_PERIOD = {"m": "minute", "h": "hour", "d": "day"}
_AND_NON_NULL = re.compile(r"^\((.*)\) AND \((.*)\)$", re.S)


def write(tables: Tables) -> dict[str, Any]:
    """The ``schema.yml`` mapping: ``version: 2``, then ``models`` (tables
    with a plain name) and ``sources`` (``"source.table"``)."""
    models: list[dict[str, Any]] = []
    sources: dict[str, list[dict[str, Any]]] = {}
    for table, rules in tables.items():
        if "." in table:
            source, name = table.split(".", 1)
            if not source or not name or "." in name:
                raise RuleError(f"dbt contract: table {table!r}: a source's table is named 'source.table'")
            sources.setdefault(source, []).append(_node(name, rules.rules, source=True))
        else:
            models.append(_node(table, rules.rules, source=False))
    out: dict[str, Any] = {"version": 2}
    if models:
        out["models"] = models
    if sources:
        out["sources"] = [{"name": s, "tables": t} for s, t in sources.items()]
    return out


def _node(name: str, rules: Sequence[Rule], *, source: bool) -> dict[str, Any]:
    columns: dict[str, dict[str, Any]] = {}
    tests: list[Any] = []
    config: dict[str, Any] = {}
    partners = _partners(rules)
    skip = set(partners.values())

    def column(col: str) -> dict[str, Any]:
        return columns.setdefault(col, {"name": col} if _PLAIN.match(col) else {"name": col, "quote": True})

    for i, rule in enumerate(rules):
        if i in skip:
            continue
        if isinstance(rule.options.get("when"), pl.Expr):
            raise RuleError(
                f"rule {rule.name}: when: a Polars expression has no dbt form; give it as SQL text"
            )
        if rule.options.get("by") is not None:
            raise RuleError(f"rule {rule.name}: by: dbt's tests have no groups")
        if rule.kind == "schema":
            _contract(rule, config, column, source)
            continue
        if (
            rule.kind == "freshness"
            and source
            and "freshness" not in config
            and _freshness(rules, i, config, skip)
        ):
            continue
        for col, entry in _entries(rule, rules[partners[i]] if i in partners else None):
            if col is None:
                tests.append(entry)
            else:
                column(col).setdefault("data_tests", []).append(entry)
    if "contract" in config:
        for col, entry in columns.items():
            if "data_type" not in entry:
                raise RuleError(
                    f"dbt contract: table {name!r}: column {col} is not in the schema rule; an enforced dbt "
                    f"contract gives every column its data_type"
                )
    node: dict[str, Any] = {"name": name}
    if config:
        node["config"] = config
    if columns:
        node["columns"] = list(columns.values())
    if tests:
        node["data_tests"] = tests
    return node


def _partners(rules: Sequence[Rule]) -> dict[int, int]:
    """Error rules and the warn rule beside each (named ``<name>__warn``,
    the same check with a lower count tolerance): one test with ``error_if``
    and ``warn_if``."""
    out: dict[int, int] = {}
    for i, e in enumerate(rules):
        most = _count(e)
        if e.severity != "error" or most is None or e.kind in ("freshness", "row_count", "row_count_matches"):
            continue
        for j, w in enumerate(rules):
            count = _count(w)
            if (
                w.name == e.name + WARN_SUFFIX
                and w.severity == "warn"
                and count is not None
                and count < most
                and j not in out.values()
                and _bare(w) == _bare(e)
            ):
                out[i] = j
    return out


def _bare(rule: Rule) -> Rule:
    return rule.with_options(name=None, severity=None, tolerance=None)


def _count(rule: Rule) -> int | None:
    """A count tolerance (0 for none); None for a share, which pairs with nothing."""
    tol = rule.tolerance
    return tol if isinstance(tol, int) else 0 if tol is None else None


def _contract(rule: Rule, config: dict[str, Any], column: Any, source: bool) -> None:
    if source:
        raise RuleError(f"rule {rule.name}: dbt has contracts for models only, not for a source's tables")
    if not rule.options.get("strict") or "name" in rule.options or rule.severity != "error":
        raise RuleError(
            f"rule {rule.name}: schema: a dbt contract is strict (every column, no other), unnamed and "
            f"fails the build; give strict=True, no name and severity error"
        )
    if "contract" in config:
        raise RuleError(f"rule {rule.name}: a model has one dbt contract; it already has a schema rule")
    config["contract"] = {"enforced": True}
    for col, ty in rule.target.items():
        kind = schema_type(rule.name, col, ty)
        if kind not in DATA_TYPES:
            raise RuleError(f"rule {rule.name}: columns.{col}: {kind} is no single warehouse type; give int, "
                            f"float or decimal")  # fmt: skip
        column(col)["data_type"] = DATA_TYPES[kind]


def _age(rule: Rule, units: str) -> tuple[int, str] | None:
    """``max_age`` as a whole number of one of ``units`` (``"2d"`` -> (2, "d"))."""
    age = rule.options["max_age"]
    m = _AGE.match(age) if isinstance(age, str) else None
    if m and m.group(2) in units:
        return int(m.group(1)), m.group(2)
    seconds = parse_duration(rule.name, age)
    for unit in sorted(units, key=lambda u: -UNIT_SECONDS[u]):
        if seconds == int(seconds) and int(seconds) % UNIT_SECONDS[unit] == 0:
            return int(seconds) // UNIT_SECONDS[unit], unit
    return None


def _freshness(rules: Sequence[Rule], i: int, config: dict[str, Any], skip: set[int]) -> bool:
    """A source table's freshness rule (and its ``__warn`` rule, then added
    to ``skip``) as the table's ``freshness`` block, when it reads as one."""
    rule = rules[i]
    age = _age(rule, "mhd")
    if age is None or "name" in rule.options:
        return False
    level = "warn_after" if rule.severity == "warn" else "error_after"
    block: dict[str, Any] = {level: {"count": age[0], "period": _PERIOD[age[1]]}}
    for j, w in enumerate(rules):
        if level == "warn_after" or j <= i or w.kind != "freshness" or w.name != rule.name + WARN_SUFFIX:
            continue
        wage = _age(w, "mhd")
        if w.severity == "warn" and w.target == rule.target and wage and _seconds(wage) < _seconds(age):
            block["warn_after"] = {"count": wage[0], "period": _PERIOD[wage[1]]}
            skip.add(j)
    config["freshness"] = block
    config["loaded_at_field"] = rule.target
    return True


def _seconds(age: tuple[int, str]) -> int:
    return age[0] * UNIT_SECONDS[age[1]]


def _entries(rule: Rule, partner: Rule | None) -> list[tuple[str | None, Any]]:
    """The test(s) a rule is, each with the column it sits under (None: the model)."""
    k, t, o = rule.kind, rule.target, rule.options
    counts, column = "rows", None if k in ("expression", "freshness", "row_count_matches") else t
    args: dict[str, Any] = {}
    when = o.get("when")
    if k == "not_null":
        out: list[tuple[str | None, Any]] = []
        for col in rule.columns:
            one = Rule(
                "not_null",
                col,
                {**o, "name": f"{o['name']}[{col}]"} if "name" in o and len(rule.columns) > 1 else o,
            )
            if isinstance(rule.tolerance, (float, str)):
                share = decimal.Decimal(1) - _share(rule.tolerance)
                entry = _entry(
                    "dbt_utils.not_null_proportion", one, None, {"at_least": float(share)}, "share"
                )
            else:
                entry = _entry("not_null", one, partner, {}, "rows")
            out.append((col, entry))
        return out
    if k == "unique":
        if o.get("count", "keys") != "keys":
            raise RuleError(
                f"rule {rule.name}: count: dbt counts repeated values (count='keys'), not {o.get('count')!r}"
            )
        cols = rule.columns
        if o.get("nulls") == "equal":
            test, column, args = (
                "dbt_utils.unique_combination_of_columns",
                None,
                {"combination_of_columns": cols},
            )
            if not all(_PLAIN.match(c) for c in cols):
                args["quote_columns"] = True
        elif len(cols) == 1:
            test = "unique"
        else:
            raise RuleError(
                f"rule {rule.name}: dbt_utils.unique_combination_of_columns repeats a key with a null "
                f"(give nulls='equal'); dbt has no compound key that skips them"
            )
    elif k == "between":
        test = "dbt_utils.accepted_range"
        sides = [o.get(f"{s}_inclusive", True) for s in ("min", "max") if o.get(s) is not None]
        if len(set(sides)) > 1:
            raise RuleError(f"rule {rule.name}: accepted_range has one 'inclusive' for both bounds")
        args = {f"{s}_value": _bound(rule, o[s]) for s in ("min", "max") if o.get(s) is not None}
        if sides == [False] * len(sides):
            args["inclusive"] = False
    elif k in ("is_in", "not_in"):
        test, counts = ("accepted_values" if k == "is_in" else "dbt_utils.not_accepted_values"), "values"
        args = _values(rule)
    elif k == "relationships":
        test, args = "relationships", _reference(rule)
    elif k == "expression":
        if not isinstance(t, str):
            raise RuleError(
                f"rule {rule.name}: expression: a Polars expression has no dbt form; give SQL text"
            )
        test, args = "dbt_utils.expression_is_true", {"expression": t}
        shown = o.get("columns")
        if shown is not None:
            prefix = quote(shown[0]) + " " if len(shown) == 1 else None
            if not prefix or not t.startswith(prefix):
                raise RuleError(
                    f"rule {rule.name}: columns: expression_is_true shows no columns beyond the one it is "
                    f"on ('<column> <condition>')"
                )
            column, args = shown[0], {"expression": t[len(prefix) :]}
    elif k == "not_matches" and o.get("pattern") == BLANK:
        test = "dbt_utils.not_empty_string"
    elif k == "length_between" and o.get("min") == 1 and o.get("max") is None:
        test, args = "dbt_utils.not_empty_string", {"trim_whitespace": False}
    elif k == "row_count" and t == {"min": 1} and isinstance(when, str):
        column, when = _non_null(when)
        if column is None:
            raise RuleError(f"rule {rule.name}: row_count: dbt_utils.at_least_one counts the rows with "
                            f"a value; give when='<column> IS NOT NULL'")  # fmt: skip
        test, counts = "dbt_utils.at_least_one", "once"
    elif k == "freshness":
        age = _age(rule, "smhdw")
        if age is None:
            raise RuleError(f"rule {rule.name}: max_age: dbt_utils.recency counts whole seconds to weeks")
        test, counts = "dbt_utils.recency", "once"
        args = {"field": t, "datepart": _DATEPART[age[1]], "interval": age[0]}
    elif k == "row_count_matches":
        if not isinstance(t, str) or o.get("within"):
            raise RuleError(f"rule {rule.name}: dbt_utils.equal_rowcount compares with a table by name, "
                            f"exactly (no frame, no within=)")  # fmt: skip
        test, counts, args = "dbt_utils.equal_rowcount", "once", {"compare_model": relation_of(t)}
    elif k == "not_empty":
        raise RuleError(
            f"rule {rule.name}: not_empty trims all whitespace, dbt_utils.not_empty_string spaces only "
            f"(as SQL's trim); not_matches(column, '^ *$') is that test"
        )
    else:
        raise RuleError(
            f"rule {rule.name}: {k}: no dbt generic test (dbt's or dbt-utils') checks the same; tillflow's "
            f"project export writes it as a singular SQL test"
        )
    rule = rule.with_options(when=when)
    return [(column, _entry(test, rule, partner, args, counts))]


def _entry(test: str, rule: Rule, partner: Rule | None, args: dict[str, Any], counts: str) -> Any:
    config: dict[str, Any] = {}
    tol = rule.tolerance
    if counts == "share":
        tol = None
    elif tol is not None and not isinstance(tol, int):
        raise RuleError(
            f"rule {rule.name}: tolerance: dbt counts failures; a share ({tol!r}) has no dbt form"
        )
    elif tol and counts != "rows":
        raise RuleError(f"rule {rule.name}: tolerance: {test} counts distinct values, not rows")
    if rule.severity == "warn":
        config["severity"] = "warn"
        if tol:
            config["warn_if"] = f">{tol}"
    elif partner is not None:
        config["error_if"] = f">{tol or 0}"
        if partner.tolerance:
            config["warn_if"] = f">{partner.tolerance}"
    elif tol:
        config["error_if"] = config["warn_if"] = f">{tol}"
    if isinstance(rule.options.get("when"), str):
        config["where"] = rule.options["when"]
    body: dict[str, Any] = {}
    if "name" in rule.options:
        body["name"] = rule.options["name"]
    if args:
        body["arguments"] = args
    if config:
        body["config"] = config
    return {test: body} if body else test


def _non_null(when: str) -> tuple[str | None, str | None]:
    """The column of ``col IS NOT NULL``, alone or after ``(where) AND``."""
    col = non_null_column(when)
    if col is not None:
        return col, None
    m = _AND_NON_NULL.match(when)
    if m and non_null_column(m.group(2)) is not None:
        return non_null_column(m.group(2)), m.group(1)
    return None, None


def _share(tol: float | str) -> decimal.Decimal:
    if isinstance(tol, str):
        return decimal.Decimal(tol.strip().rstrip("%").strip()) / 100
    return decimal.Decimal(str(tol))


def _bound(rule: Rule, value: Any) -> Any:
    if isinstance(value, bool):
        raise RuleError(f"rule {rule.name}: a bound of {value!r} has no dbt form")
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        value = value.isoformat()
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise RuleError(f"rule {rule.name}: a bound of {value!r} has no dbt form")


def _values(rule: Rule) -> dict[str, Any]:
    values = list(rule.options["values"])
    if all(isinstance(v, (str, dt.date)) for v in values):
        return {"values": [v.isoformat() if isinstance(v, dt.date) else v for v in values]}
    if all(isinstance(v, (int, float, decimal.Decimal)) for v in values):
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise RuleError(f"rule {rule.name}: values: NaN and infinity have no dbt form")
        return {"values": [str(v) if isinstance(v, decimal.Decimal) else v for v in values], "quote": False}
    raise RuleError(f"rule {rule.name}: values: dbt quotes all values or none; these mix text and numbers")


def _reference(rule: Rule) -> dict[str, Any]:
    to, field = rule.options.get("to"), rule.options.get("field")
    if not isinstance(to, str):
        raise RuleError(f"rule {rule.name}: to: a frame has no dbt form; name the table as 'table.column'")
    if len(rule.columns) != 1:
        raise RuleError(f"rule {rule.name}: dbt's relationships test checks one column, not a compound key")
    table, _, column = to.partition(".")
    return {"to": f"ref('{table}')", "field": column or field or rule.columns[0]}
