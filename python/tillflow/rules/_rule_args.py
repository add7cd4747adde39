"""A rule's arguments, checked when it is made. Here only what Python alone
can see: that the target and options are values the engine's form can be
built from (column names, bounds, accepted values, durations, types, frames,
expressions, groups). The engine then checks that form, the one place every
rule's arguments are checked (severity, tolerance, operators, patterns,
ranges, repeated columns, formats), for rules built here and read from
files alike. Column and type checks run against the data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from tillflow.exceptions import RuleError
from tillflow.rules._catalog import CATALOG
from tillflow.rules._values import (
    bound_text,
    bucket_every,
    is_column_name,
    json_value,
    parse_duration,
    schema_type,
    tolerance_spec,
)

if TYPE_CHECKING:
    from tillflow.rules._rule import Rule

__all__ = ["check_rule"]


def check_rule(rule: Rule) -> None:
    """Raises ``RuleError`` naming the rule and the argument at fault."""
    k, t, o = rule.kind, rule.target, rule.options
    name = rule.name if k != "not_null" or isinstance(t, str) or o.get("name") else k

    def fail(field: str, message: str) -> RuleError:
        return RuleError(f"rule {name}: {field}: {message}")

    if "tolerance" in o:
        tolerance_spec(name, o["tolerance"])
    if "name" in o and (not isinstance(o["name"], str) or not o["name"]):
        raise fail("name", "must be a non-empty string")
    if k in ("not_null", "unique"):
        cols = [t] if isinstance(t, str) else t
        if not isinstance(cols, (list, tuple)) or not cols or not all(is_column_name(c) for c in cols):
            raise fail(k, f"expected a column name or a list of them, got {t!r}")
    elif k in ("between", "matches", "is_in", "freshness"):
        if not is_column_name(t):
            raise fail(k, f"expected one column name, got {t!r}")
    elif k == "relationships":
        cols = [t] if isinstance(t, str) else t
        if not isinstance(cols, (list, tuple)) or not cols or not all(is_column_name(c) for c in cols):
            raise fail(k, f"expected a column name or a list of them (a compound key), got {t!r}")
    if k == "unique" and o.get("count", "keys") not in ("keys", "all", "extra"):
        raise fail("count", f"expected 'keys', 'all' or 'extra', got {o.get('count')!r}")
    if k == "unique" and o.get("nulls", "distinct") not in ("distinct", "equal"):
        raise fail("nulls", f"expected 'distinct' or 'equal', got {o.get('nulls')!r}")
    if k == "between":
        for side in ("min", "max"):
            bound_text(name, side, o.get(side))
    elif k == "matches":
        if not isinstance(o.get("pattern"), str):
            raise fail("pattern", f"expected a regex string, got {o.get('pattern')!r}")
    elif k == "is_in":
        values = o.get("values")
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise fail("values", f"expected a list of accepted values, got {values!r}")
        rule.options["values"] = list(values)
        for v in rule.options["values"]:
            json_value(v, name)
    elif k == "relationships":
        to = o.get("to")
        if to is None:
            raise fail("to", "name the reference: a frame, a Series or 'table.column'")
        if isinstance(to, str) and not re.fullmatch(r"[^.]+(\.[^.]+)?", to):
            raise fail("to", f"expected 'table' or 'table.column', got {to!r}")
        if not isinstance(to, (str, pl.DataFrame, pl.LazyFrame, pl.Series)):
            raise fail("to", f"expected a frame, a Series or 'table.column', got {type(to).__name__}")
        width = 1 if isinstance(t, str) else len(t)
        field = o.get("field")
        fields = width if field is None else 1 if isinstance(field, str) else len(field)
        if isinstance(to, str) and "." in to and width > 1:
            raise fail("to", f"a compound key names a table ('{to.split('.')[0]}') and its columns in field=")
        if isinstance(to, pl.Series) and width > 1:
            raise fail("to", "a compound key needs a frame, not a Series")
        if fields != width:
            raise fail("field", f"give one reference column per key column ({width}), got {field!r}")
    elif k == "compare":
        if not (
            isinstance(t, (list, tuple)) and len(t) == 3 and is_column_name(t[0]) and is_column_name(t[2])
        ):
            raise fail("compare", f"expected [left, op, right], got {t!r}")
    elif k == "expression":
        if not isinstance(t, (str, pl.Expr)) or (isinstance(t, str) and not t.strip()):
            raise fail("expression", f"expected SQL text or a Polars expression, got {t!r}")
        rule._expr()
    elif k == "row_count":
        if not isinstance(t, Mapping):
            raise fail("row_count", f"expected min and max, got {t!r}")
    elif k == "freshness":
        parse_duration(name, o.get("max_age"))
    elif k == "schema":
        if not isinstance(t, Mapping) or not t:
            raise fail("schema", f"expected a mapping of column to type, got {t!r}")
        for col, ty in t.items():
            schema_type(name, col, ty)

    if "when" in o and not isinstance(o["when"], (str, pl.Expr)):
        raise fail("when", f"expected SQL text or a Polars expression, got {o['when']!r}")
    if isinstance(o.get("when"), str):
        try:
            pl.sql_expr(o["when"])
        except Exception as exc:
            raise fail("when", f"not a valid SQL predicate: {exc}") from None
    if "by" in o:
        _check_by(name, fail, o["by"])
    kind = CATALOG.get(k)
    if kind is not None:
        _check_catalog(rule, kind, fail)
    from tillflow._native import check_rules

    check_rules(json.dumps({"now_us": 0, "checks": rule.checks({id(rule): "mask"}, {id(rule): "when"})}))


def _check_by(name: str, fail: Any, by: Any) -> None:
    items = [by] if isinstance(by, (str, Mapping)) else by
    if not isinstance(items, (list, tuple)) or not items:
        raise fail("by", f"expected a column name, a bucket or a list of them, got {by!r}")
    for item in items:
        if isinstance(item, Mapping):
            if set(item) != {"column", "every"} or not is_column_name(item["column"]):
                raise fail(
                    "by", f"a bucket is {{column, every}} (see tillflow.rules.bucket), got {dict(item)!r}"
                )
            bucket_every(name, item["every"])
        elif not is_column_name(item):
            raise fail("by", f"expected column names or buckets, got {item!r}")


def _check_catalog(rule: Rule, kind: Any, fail: Any) -> None:
    t, o = rule.target, rule.options
    if kind.shape == "column" and not is_column_name(t):
        raise fail(rule.kind, f"expected one column name, got {t!r}")
    if kind.shape == "columns":
        cols = [t] if isinstance(t, str) else t
        if not isinstance(cols, (list, tuple)) or not cols or not all(is_column_name(c) for c in cols):
            raise fail(rule.kind, f"expected a column name or a list of them, got {t!r}")
    if kind.shape == "pair" and not (
        isinstance(t, (list, tuple)) and len(t) == 2 and all(is_column_name(c) for c in t)
    ):
        raise fail(rule.kind, f"expected two column names, got {t!r}")
    for key in kind.required:
        if o.get(key) is None:
            raise fail(key, f"{rule.kind} needs {key}")
    if "values" in o:
        values = o["values"]
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise fail("values", f"expected a list of values, got {values!r}")
        o["values"] = list(values)
        for v in o["values"]:
            json_value(v, rule.name)
    for key in ("columns", "key", "to_key"):
        if key in o:
            cols = [o[key]] if isinstance(o[key], str) else o[key]
            if not isinstance(cols, (list, tuple)) or not cols or not all(is_column_name(c) for c in cols):
                raise fail(key, f"expected a column name or a list of them, got {o[key]!r}")
    if rule.kind == "aggregate_compare" and o.get("to") is not None and o.get("other") is not None:
        raise fail("other", "compare with another column (other=) or another table (to=), not both")
    if rule.kind == "aggregate_compare" and o.get("to") is None and o.get("to_column") is not None:
        raise fail("to_column", "names the other table's column; give the table as to=")
    to = t if kind.shape == "none" else o.get("to")
    if kind.shape == "none" and to is None:
        raise fail(rule.kind, "name the other table: a frame or a warehouse table name")
    if to is not None and not isinstance(to, (str, pl.DataFrame, pl.LazyFrame)):
        raise fail("to", f"expected a frame or a warehouse table name, got {type(to).__name__}")
    for key in ("min", "max") if rule.kind.endswith("_between") and rule.kind != "length_between" else ():
        bound_text(rule.name, key, o.get(key))
    if "weekdays" in o or "holidays" in o or rule.kind in ("no_gaps", "is_daily"):
        kind.engine(rule)  # reads the day names and dates, raising on a bad one
