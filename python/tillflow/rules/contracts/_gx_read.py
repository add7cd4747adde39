"""Reading a Great Expectations suite (0.x or 1.x) into rules; the mapping
and what is passed over are described in `tillflow.rules.contracts._gx`."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tillflow.exceptions import RuleError
from tillflow.rules._constructors import compare, expression, is_in, row_count
from tillflow.rules._crosses import distinct_across
from tillflow.rules._measures import contains_values, row_count_matches
from tillflow.rules._rule import Rule
from tillflow.rules._ruleset import RuleSet
from tillflow.rules.contracts import _common
from tillflow.rules.contracts._common import Key, Tables
from tillflow.rules.contracts._gx_table import (
    AGGREGATES,
    DESCRIPTIVE_KWARGS,
    EXPECTATION_KEYS_0X,
    EXPECTATION_KEYS_1X,
    FMT,
    GREATER,
    GREATER_0X,
    OFF_OK,
    PAIR_EQUAL,
    SUITE_KEYS_0X,
    SUITE_KEYS_1X,
    UNSUPPORTED,
    all_present,
    any_present,
    condition_sql,
    join_when,
    pair_name,
    present,
    sum_name,
)

__all__ = ["looks_like", "read"]


def looks_like(data: Any) -> bool:
    """A suite: an ``expectations`` list beside a 1.x ``name`` or a 0.x
    ``expectation_suite_name``."""
    return (
        isinstance(data, Mapping)
        and isinstance(data.get("expectations"), list)
        and ("name" in data or "expectation_suite_name" in data)
    )


def read(data: Any, table: str | None = None) -> Tables:
    """The suite's rules as ``{table: RuleSet}``; see `tillflow.rules.contracts._gx`."""
    if not looks_like(data):
        raise _common.invalid(
            FMT, [], "expected a GX suite: 'expectations' with 'name' (1.x) or 'expectation_suite_name' (0.x)"
        )
    v1 = "name" in data
    if v1 and "expectation_suite_name" in data:
        raise _common.invalid(FMT, [], "a suite has 'name' (1.x) or 'expectation_suite_name' (0.x), not both")
    for key in data:
        if key not in (SUITE_KEYS_1X if v1 else SUITE_KEYS_0X):
            raise _common.invalid(FMT, [key], "unknown key of a GX suite")
    for key in ("suite_parameters", "evaluation_parameters"):
        if data.get(key):
            raise _common.unsupported(FMT, [key], key, "parameters are filled in when the suite runs")
    name = table or data.get("name" if v1 else "expectation_suite_name")
    if not isinstance(name, str) or not name:
        raise _common.invalid(FMT, [], "name the table (table=...): the suite's name is empty")
    rules: list[Rule] = []
    for i, item in enumerate(data["expectations"]):
        rules += _expectation(item, ["expectations", i], v1)
    return {name: RuleSet(_distinct_names(rules))}


def _distinct_names(rules: list[Rule]) -> list[Rule]:
    """Rules named apart: a name met again gets ``_2``, ``_3``, ... ."""
    seen: set[str] = set()
    out = []
    for rule in rules:
        if rule.name in seen:
            n = 2
            while f"{rule.name}_{n}" in seen:
                n += 1
            rule = rule.with_options(name=f"{rule.name}_{n}")
        seen.add(rule.name)
        out.append(rule)
    return out


def _expectation(item: Any, at: list[Key], v1: bool) -> list[Rule]:
    if not isinstance(item, Mapping):
        raise _common.invalid(FMT, at, f"expected an expectation (a mapping), got {item!r}")
    type_key = "type" if v1 else "expectation_type"
    for key in item:
        if key not in (EXPECTATION_KEYS_1X if v1 else EXPECTATION_KEYS_0X):
            raise _common.invalid(FMT, [*at, key], "unknown key of an expectation")
    etype = item.get(type_key)
    if not isinstance(etype, str) or not etype:
        raise _common.invalid(FMT, [*at, type_key], f"expected the expectation's name, got {etype!r}")
    kwargs = item.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise _common.invalid(FMT, [*at, "kwargs"], f"expected a mapping, got {kwargs!r}")
    severity = _severity(item.get("severity"), [*at, "severity"])
    name = _meta_name(item.get("meta"), [*at, "meta"])
    handler = _HANDLERS.get(GREATER if etype == GREATER_0X else etype)
    if handler is None:
        why = UNSUPPORTED.get(etype, "tillflow has no rule that counts it the same way")
        raise _common.unsupported(FMT, at, etype, why)
    args = _Args(etype, kwargs, at)
    try:
        rules = handler(args)
        args.finish()
        if name is not None:
            rules = [
                rule.with_options(name=name if len(rules) == 1 else f"{name}[{rule.kind}]") for rule in rules
            ]
        return [rule.with_options(severity=severity) for rule in rules] if severity else rules
    except RuleError as exc:
        if getattr(exc, "at", None) is not None:
            raise
        raise _common.invalid(FMT, at, f"{etype}: {exc}") from None


def _severity(value: Any, at: list[Key]) -> str | None:
    if value is None or value == "critical":
        return None
    if value == "warning":
        return "warn"
    if value == "info":
        raise _common.unsupported(FMT, at, "severity 'info'", "tillflow's severities are error and warn")
    raise _common.invalid(FMT, at, f"expected 'critical', 'warning' or 'info', got {value!r}")


def _meta_name(meta: Any, at: list[Key]) -> str | None:
    if meta is None:
        return None
    if not isinstance(meta, Mapping):
        raise _common.invalid(FMT, at, f"expected a mapping, got {meta!r}")
    name = meta.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise _common.invalid(FMT, [*at, "name"], f"expected a rule name, got {name!r}")
    return name


class _Args:
    """An expectation's kwargs, each taken once; what is left at the end
    is named in an error (or passed over when it only describes)."""

    def __init__(self, etype: str, kwargs: Mapping[str, Any], at: list[Key]) -> None:
        self.etype, self.kw, self.at = etype, dict(kwargs), at
        self.seen: set[str] = set()

    def where(self, key: str) -> list[Key]:
        return [*self.at, "kwargs", key]

    def get(self, key: str) -> Any:
        self.seen.add(key)
        value = self.kw.get(key)
        if isinstance(value, Mapping) and "$PARAMETER" in value:
            raise _common.unsupported(
                FMT, self.where(key), f"{key} {dict(value)!r}", "a suite parameter is known only when GX runs"
            )
        return value

    def column(self, key: str = "column") -> str:
        value = self.get(key)
        if not isinstance(value, str) or not value:
            raise _common.invalid(FMT, self.where(key), f"expected a column name, got {value!r}")
        return value

    def columns(self, least: int) -> list[str]:
        value = self.get("column_list")
        if (
            not isinstance(value, list)
            or len(value) < least
            or not all(isinstance(c, str) and c for c in value)
        ):
            raise _common.invalid(
                FMT, self.where("column_list"), f"expected {least}+ column names, got {value!r}"
            )
        return value

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if value is not None and not isinstance(value, bool):
            raise _common.invalid(FMT, self.where(key), f"expected true or false, got {value!r}")
        return bool(value)

    def choice(self, key: str, options: Sequence[str]) -> str:
        value = self.get(key)
        if value is None:
            return options[0]
        if value not in options:
            raise _common.invalid(
                FMT, self.where(key), f"expected one of {', '.join(options)}, got {value!r}"
            )
        return str(value)

    def condition(self) -> str | None:
        cond = {k: self.get(k) for k in ("row_condition", "condition_parser")}
        return condition_sql(cond, [*self.at, "kwargs"])

    def tolerance(self) -> str | None:
        mostly = self.get("mostly")
        return None if mostly is None else _common.fraction_of(mostly, FMT, self.where("mostly"))

    def finish(self) -> None:
        for key, value in self.kw.items():
            if key in self.seen or key in DESCRIPTIVE_KWARGS:
                continue
            if key in OFF_OK:
                if not value or (key == "profiler_config" and not self.kw.get("auto")):
                    continue
                raise _common.unsupported(FMT, self.where(key), f"{key} {value!r}", OFF_OK[key])
            raise _common.invalid(FMT, self.where(key), f"unknown argument of {self.etype}")


# -- values


def _bound(a: _Args, key: str, integral: bool = False) -> Any:
    value = a.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _common.invalid(FMT, a.where(key), f"expected a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _common.invalid(FMT, a.where(key), f"expected a finite number, got {value!r}")
    if integral:
        if isinstance(value, str) or value != int(value):
            raise _common.unsupported(FMT, a.where(key), f"{key} {value!r}", "a count is a whole number")
        return int(value)
    if isinstance(value, str) and not _iso(value):
        raise _common.unsupported(FMT, a.where(key), f"{key} {value!r}", "bounds are numbers or ISO dates")
    return value


def _iso(text: str) -> bool:
    for parse in (dt.date.fromisoformat, dt.datetime.fromisoformat):
        try:
            parse(text)
            return True
        except ValueError:
            pass
    return False


def _bounds(a: _Args, integral: bool = False, needed: bool = True) -> dict[str, Any]:
    lo, hi = _bound(a, "min_value", integral), _bound(a, "max_value", integral)
    if needed and lo is None and hi is None:
        raise _common.invalid(FMT, [*a.at, "kwargs"], "give min_value, max_value or both")
    strict_min, strict_max = a.flag("strict_min"), a.flag("strict_max")
    if integral:  # whole numbers: a strict bound is the next one in
        return {
            "min": None if lo is None else lo + strict_min,
            "max": None if hi is None else hi - strict_max,
        }
    return {"min": lo, "max": hi, "min_inclusive": False if strict_min else None,
            "max_inclusive": False if strict_max else None}  # fmt: skip


def _value_set(a: _Args, key: str = "value_set") -> list[Any]:
    values = a.get(key)
    if not isinstance(values, list):
        raise _common.invalid(FMT, a.where(key), f"expected a list of values, got {values!r}")
    for v in values:
        if v is None or not isinstance(v, (str, int, float)):
            raise _common.unsupported(
                FMT, a.where(key), f"value {v!r}", "values are text, numbers or booleans"
            )
    return values


def _patterns(a: _Args, key: str) -> str:
    value = a.get(key)
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not value or not all(isinstance(p, str) for p in value):
        raise _common.invalid(FMT, a.where(key), f"expected regular expressions, got {value!r}")
    return value[0] if len(value) == 1 else "|".join(f"(?:{p})" for p in value)


# -- the expectations

Handler = Callable[[_Args], list[Rule]]


def _every_row(kind: str) -> Handler:
    """Not-null and null count every row: mostly is a share of them all."""

    def build(a: _Args) -> list[Rule]:
        return [Rule(kind, a.column(), {"tolerance": a.tolerance(), "when": a.condition()})]

    return build


def _values(kind: str, options: Callable[[_Args], dict[str, Any]]) -> Handler:
    """A column map: nulls are left out, and mostly is a share of the rest."""

    def build(a: _Args) -> list[Rule]:
        column, cond, tol = a.column(), a.condition(), a.tolerance()
        opts = options(a)
        when = join_when(cond, present(column) if tol else None)
        return [Rule(kind, column, {**opts, "tolerance": tol, "when": when})]

    return build


def _lengths(a: _Args) -> dict[str, Any]:
    if a.etype == "expect_column_value_lengths_to_equal":
        n = _bound(a, "value", integral=True)
        if n is None:
            raise _common.invalid(FMT, a.where("value"), "expected a length")
        return {"min": n, "max": n}
    return _bounds(a, integral=True)


def _regex_list(a: _Args) -> dict[str, Any]:
    pattern = _patterns(a, "regex_list")
    if a.etype.endswith("_to_match_regex_list"):
        match_on = a.choice("match_on", ("any", "all"))
        if match_on == "all" and len(a.kw["regex_list"]) > 1:
            raise _common.unsupported(
                FMT, a.where("match_on"), "match_on 'all'", "tillflow's pattern rules take one pattern"
            )
    return {"pattern": pattern}


def _aggregate(kind: str, options: Callable[[_Args], dict[str, Any]]) -> Handler:
    def build(a: _Args) -> list[Rule]:
        column, cond = a.column(), a.condition()
        return [Rule(kind, column, {**options(a), "when": cond})]

    return build


def _distinct_set(a: _Args) -> list[Rule]:
    column, cond, values = a.column(), a.condition(), _value_set(a)
    if a.etype == "expect_column_distinct_values_to_contain_set":
        return [contains_values(column, values, when=cond)]
    if not values and a.etype == "expect_column_distinct_values_to_be_in_set":
        raise _common.unsupported(FMT, a.where("value_set"), "an empty value_set", "GX then passes any data")
    rules = [is_in(column, values, when=cond)]
    if a.etype == "expect_column_distinct_values_to_equal_set":
        rules.append(contains_values(column, values, when=cond))
    return rules


def _ratio(a: _Args) -> dict[str, Any]:
    for key in ("strict_min", "strict_max"):
        if a.flag(key):
            raise _common.unsupported(FMT, a.where(key), key, "distinct_ratio's bounds are inclusive")
    lo, hi = _bound(a, "min_value"), _bound(a, "max_value")
    if lo is None and hi is None:
        raise _common.invalid(FMT, [*a.at, "kwargs"], "give min_value, max_value or both")
    return {"min": lo, "max": hi}


def _row_count(a: _Args) -> list[Rule]:
    cond = a.condition()
    if a.etype == "expect_table_row_count_to_equal":
        n = _bound(a, "value", integral=True)
        if n is None:
            raise _common.invalid(FMT, a.where("value"), "expected a row count")
        return [row_count(n, n, when=cond)]
    bounds = _bounds(a, integral=True)
    return [row_count(bounds["min"], bounds["max"], when=cond)]


def _other_table(a: _Args) -> list[Rule]:
    other = a.get("other_table_name")
    if not isinstance(other, str) or not other:
        raise _common.invalid(FMT, a.where("other_table_name"), f"expected a table name, got {other!r}")
    if a.condition() is not None:
        raise _common.unsupported(FMT, a.where("row_condition"), "row_condition", "on a count of two tables")
    return [row_count_matches(other)]


def _pair(a: _Args) -> list[Rule]:
    left, right, cond, tol = a.column("column_A"), a.column("column_B"), a.condition(), a.tolerance()
    op = "=" if a.etype == PAIR_EQUAL else ">=" if a.flag("or_equal") else ">"
    ignore = a.choice("ignore_row_if", ("both_values_are_missing", "either_value_is_missing", "neither"))
    if ignore == "either_value_is_missing":  # compare lets a row with a missing value pass
        when = join_when(cond, all_present([left, right]) if tol else None)
        return [compare(left, "==" if op == "=" else op, right, tolerance=tol, when=when)]
    # A row with one value missing fails in GX: its comparison is false, never null.
    text = f"COALESCE({_common.quote(left)} {op} {_common.quote(right)}, FALSE)"
    filter_ = any_present([left, right]) if ignore == "both_values_are_missing" else None
    return [expression(text, name=pair_name(left, op, right), tolerance=tol, when=join_when(cond, filter_))]


def _compound_unique(a: _Args) -> list[Rule]:
    columns, cond, tol = a.columns(1), a.condition(), a.tolerance()
    ignore = a.choice("ignore_row_if", ("all_values_are_missing", "any_value_is_missing", "never"))
    target: Any = columns[0] if len(columns) == 1 else columns
    opts: dict[str, Any] = {"count": "all", "tolerance": tol}
    if ignore == "any_value_is_missing":  # unique skips a key with a null, as GX skips the row
        return [
            Rule("unique", target, {**opts, "when": join_when(cond, all_present(columns) if tol else None)})
        ]
    # Otherwise missing values are a key like any other, as pandas' duplicated() and GROUP BY group them.
    filter_ = any_present(columns) if ignore == "all_values_are_missing" else None
    return [Rule("unique", target, {**opts, "nulls": "equal", "when": join_when(cond, filter_)})]


def _within_record(a: _Args) -> list[Rule]:
    columns, cond, tol = a.columns(2), a.condition(), a.tolerance()
    ignore = a.choice("ignore_row_if", ("all_values_are_missing", "any_value_is_missing", "never"))
    if ignore == "any_value_is_missing":
        return [distinct_across(*columns, tolerance=tol, when=join_when(cond, all_present(columns)))]
    if ignore == "all_values_are_missing" and len(columns) == 2:
        when = join_when(cond, any_present(columns) if tol else None)
        return [distinct_across(*columns, tolerance=tol, when=when)]
    raise _common.unsupported(
        FMT,
        a.where("ignore_row_if"),
        f"ignore_row_if {ignore!r} with {len(columns)} columns",
        "GX counts two missing values of a row as equal; distinct_across compares the present ones",
    )


def _sum(a: _Args) -> list[Rule]:
    columns, cond, tol = a.columns(1), a.condition(), a.tolerance()
    total = a.get("sum_total")
    if isinstance(total, bool) or not isinstance(total, (int, float)) or not math.isfinite(total):
        raise _common.invalid(FMT, a.where("sum_total"), f"expected a number, got {total!r}")
    ignore = a.choice("ignore_row_if", ("all_values_are_missing", "any_value_is_missing", "never"))
    filter_ = {"all_values_are_missing": any_present(columns), "any_value_is_missing": all_present(columns)}
    added = " + ".join(_common.quote(c) for c in columns)
    text = f"COALESCE({added} = {total!r}, FALSE)"  # a missing value makes the sum missing: the row fails
    when = join_when(cond, filter_.get(ignore))
    return [expression(text, name=sum_name(columns), tolerance=tol, when=when)]


_HANDLERS: dict[str, Handler] = {
    "expect_column_values_to_not_be_null": _every_row("not_null"),
    "expect_column_values_to_be_null": _every_row("is_null"),
    "expect_column_values_to_be_unique": _values("unique", lambda a: {"count": "all"}),
    "expect_column_values_to_be_between": _values("between", _bounds),
    "expect_column_values_to_be_in_set": _values("is_in", lambda a: {"values": _value_set(a)}),
    "expect_column_values_to_not_be_in_set": _values("not_in", lambda a: {"values": _value_set(a)}),
    "expect_column_values_to_match_regex": _values("matches", lambda a: {"pattern": _patterns(a, "regex")}),
    "expect_column_values_to_not_match_regex": _values(
        "not_matches", lambda a: {"pattern": _patterns(a, "regex")}
    ),
    "expect_column_values_to_match_regex_list": _values("matches", _regex_list),
    "expect_column_values_to_not_match_regex_list": _values("not_matches", _regex_list),
    "expect_column_value_lengths_to_be_between": _values("length_between", _lengths),
    "expect_column_value_lengths_to_equal": _values("length_between", _lengths),
    "expect_column_values_to_be_json_parseable": _values("is_json", lambda a: {}),
    "expect_column_values_to_match_json_schema": _values("matches_json_schema", lambda a: _schema(a)),
    "expect_column_values_to_be_increasing": _values(
        "increasing", lambda a: {"strict": a.flag("strictly") or None}
    ),
    "expect_column_values_to_be_decreasing": _values(
        "decreasing", lambda a: {"strict": a.flag("strictly") or None}
    ),
    "expect_column_distinct_values_to_be_in_set": _distinct_set,
    "expect_column_distinct_values_to_contain_set": _distinct_set,
    "expect_column_distinct_values_to_equal_set": _distinct_set,
    "expect_column_unique_value_count_to_be_between": _aggregate(
        "distinct_count", lambda a: _bounds(a, integral=True)
    ),
    "expect_column_proportion_of_unique_values_to_be_between": _aggregate("distinct_ratio", _ratio),
    **{etype: _aggregate(kind, _bounds) for etype, kind in AGGREGATES.items()},
    "expect_table_row_count_to_be_between": _row_count,
    "expect_table_row_count_to_equal": _row_count,
    "expect_table_row_count_to_equal_other_table": _other_table,
    GREATER: _pair,
    PAIR_EQUAL: _pair,
    "expect_compound_columns_to_be_unique": _compound_unique,
    "expect_select_column_values_to_be_unique_within_record": _within_record,
    "expect_multicolumn_values_to_be_unique": _within_record,
    "expect_multicolumn_sum_to_equal": _sum,
}


def _schema(a: _Args) -> dict[str, Any]:
    schema = a.get("json_schema")
    if not isinstance(schema, Mapping):
        raise _common.invalid(FMT, a.where("json_schema"), f"expected a JSON Schema object, got {schema!r}")
    return {"schema": dict(schema)}
