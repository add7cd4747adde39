"""Writing rules as a Great Expectations suite (1.x, or 0.x on request);
the mapping is described in `tillflow.rules.contracts._gx`."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from typing import Any

import polars as pl

from tillflow.exceptions import RuleError
from tillflow.rules._rule import Rule
from tillflow.rules.contracts import _common
from tillflow.rules.contracts._common import Tables
from tillflow.rules.contracts._gx_table import (
    AGGREGATES,
    FMT,
    GREATER,
    GREATER_0X,
    PAIR_EQUAL,
    all_present,
    any_present,
    fail,
    gx_condition,
    ident,
    pair_name,
    present,
    split_when,
    sum_name,
)

__all__ = ["write"]

_KINDS = {kind: etype for etype, kind in AGGREGATES.items()}
_IDENT = r'(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_]*))'
_PAIR = re.compile(rf"^COALESCE\({_IDENT} (>|>=|=) {_IDENT}, FALSE\)$")
_SUM = re.compile(rf"^COALESCE\(({_IDENT}(?: \+ {_IDENT})*) = ([+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?), FALSE\)$")
_SIMPLE = {
    "not_null": "expect_column_values_to_not_be_null",
    "is_null": "expect_column_values_to_be_null",
    "between": "expect_column_values_to_be_between",
    "is_in": "expect_column_values_to_be_in_set",
    "not_in": "expect_column_values_to_not_be_in_set",
    "matches": "expect_column_values_to_match_regex",
    "not_matches": "expect_column_values_to_not_match_regex",
    "length_between": "expect_column_value_lengths_to_be_between",
    "is_json": "expect_column_values_to_be_json_parseable",
    "matches_json_schema": "expect_column_values_to_match_json_schema",
    "increasing": "expect_column_values_to_be_increasing",
    "decreasing": "expect_column_values_to_be_decreasing",
}


def write(tables: Tables, *, version: str = "1") -> dict[str, Any]:
    """One table's rules as a GX suite mapping; see `tillflow.rules.contracts._gx`."""
    if version not in ("1", "0"):
        raise RuleError(f"gx contract: version: expected '1' (GX 1.x) or '0' (0.x), got {version!r}")
    if len(tables) != 1:
        raise RuleError(
            f"gx contract: a GX suite holds one table's expectations, got {len(tables)} tables "
            f"({', '.join(tables)}); write each one with table=..."
        )
    ((name, ruleset),) = tables.items()
    items = [item for rule in ruleset.rules for item in _expectations(rule, version)]
    if version == "0":
        return {"data_asset_type": None, "expectation_suite_name": name, "expectations": items,
                "ge_cloud_id": None, "meta": {}}  # fmt: skip
    return {"name": name, "id": None, "expectations": items, "meta": {}, "notes": None}


def _expectations(rule: Rule, version: str) -> list[dict[str, Any]]:
    for key in ("by", "when", "tolerance"):
        value = rule.options.get(key)
        if key == "by" and value is not None:
            raise fail(rule, "by: GX judges a whole batch, not groups")
        if isinstance(value, pl.Expr):
            raise fail(rule, f"{key}: a Polars expression has no GX form")
    built = _build(rule)
    out = []
    for etype, kwargs, default_name in built:
        meta: dict[str, Any] = {}
        given = rule.options.get("name")
        if given is not None and (given != default_name or len(built) > 1):
            meta["name"] = given if len(built) == 1 else f"{given}[{kwargs.get('column')}]"
        elif given is None and default_name is not None:
            meta["name"] = rule.name  # the reader would otherwise name it default_name
        if version == "0":
            if kwargs.get("condition_parser") == "great_expectations":  # its 0.x name
                kwargs["condition_parser"] = "great_expectations__experimental__"
            item: dict[str, Any] = {"expectation_type": GREATER_0X if etype == GREATER else etype}
        else:
            item = {"type": etype}
        item.update(kwargs=kwargs, meta=meta)
        if rule.severity == "warn":
            if version == "0":
                raise fail(rule, "severity: a GX 0.x suite has no severity; write version='1'")
            item["severity"] = "warning"
        out.append(item)
    return out


def _build(rule: Rule) -> list[tuple[str, dict[str, Any], str | None]]:
    """``(expectation, kwargs, the name the reader gives it unless meta names one)``."""
    k, t, o = rule.kind, rule.target, rule.options
    if k == "not_null":  # GX counts every row: mostly is a share of all of them
        return [
            ("expect_column_values_to_not_be_null", _common_kw(rule, c, "rows"), None) for c in rule.columns
        ]
    if k in _SIMPLE:
        kw, spec = _common_kw(rule, t, "rows" if k == "is_null" else "values"), _specific(rule)
        lengths = k == "length_between" and "value" in spec
        return [("expect_column_value_lengths_to_equal" if lengths else _SIMPLE[k], {**kw, **spec}, None)]
    if k == "unique":
        return [_unique(rule)]
    if k == "compare":
        return [_compare(rule)]
    if k == "expression":
        return [_expression(rule)]
    if k == "distinct_across":
        return [_within_record(rule)]
    if k in _KINDS or k in ("distinct_count", "distinct_ratio", "contains_values"):
        return [_aggregate(rule)]
    if k == "row_count":
        kw = _common_kw(rule, None, "aggregate")
        if t.get("min") is None and t.get("max") is None:
            raise fail(rule, "row_count: GX needs a bound")
        if t.get("min") is not None and t.get("min") == t.get("max"):
            return [("expect_table_row_count_to_equal", {**kw, "value": t["min"]}, None)]
        return [
            ("expect_table_row_count_to_be_between", {**kw, **_range(rule, t.get("min"), t.get("max"))}, None)
        ]
    if k == "row_count_matches":
        if not isinstance(t, str) or o.get("within") or o.get("when") is not None:
            raise fail(rule, "row_count_matches: GX compares with a table by name, exactly and unfiltered")
        return [("expect_table_row_count_to_equal_other_table", {"other_table_name": t}, None)]
    raise fail(rule, f"{k}: no GX expectation checks it the same way")


def _common_kw(rule: Rule, column: str | None, family: str, filters: tuple[str, ...] = ()) -> dict[str, Any]:
    """``column``, ``mostly`` and the row condition, for a rule whose GX
    denominator is every row (``rows``), the non-null values (``values``)
    or, with ``filters``, the rows one of them admits; ``aggregate`` takes
    no tolerance."""
    if family == "values" and column is not None:
        filters = (present(column),)
    cond, matched = split_when(rule.options.get("when"), filters)
    kw: dict[str, Any] = {} if column is None else {"column": column}
    tol = rule.tolerance
    if tol is not None:
        if family == "aggregate":
            raise fail(rule, "tolerance: GX judges this once for the whole batch")
        if filters and matched is None:
            counted = "the non-null values" if family == "values" else "the rows"
            raise fail(
                rule, f"tolerance: GX's mostly is a share of {counted} it checks; give when={filters[0]!r}"
            )
        kw["mostly"] = _common.mostly_of(rule, FMT)
    if cond is not None:
        kw["row_condition"], kw["condition_parser"] = gx_condition(rule, cond)
    return kw


def _number(rule: Rule, key: str, value: Any, values: bool = False) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise fail(rule, f"{key}: {value!r} has no GX form")
    if value is None or (isinstance(value, (int, float, str)) and (values or not isinstance(value, bool))):
        return value
    if isinstance(value, decimal.Decimal) and float(value) == value:
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise fail(rule, f"{key}: {value!r} has no exact GX form")


def _range(rule: Rule, lo: Any, hi: Any, strict: bool = True) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if lo is not None:
        kw["min_value"] = _number(rule, "min", lo)
    if hi is not None:
        kw["max_value"] = _number(rule, "max", hi)
    for side in ("min", "max"):
        if rule.options.get(f"{side}_inclusive") is False:
            if not strict:
                raise fail(rule, f"{side}_inclusive: GX's bounds here are inclusive")
            kw[f"strict_{side}"] = True
    return kw


def _specific(rule: Rule) -> dict[str, Any]:
    k, o = rule.kind, rule.options
    if k == "between":
        return _range(rule, o.get("min"), o.get("max"))
    if k in ("is_in", "not_in"):
        return {"value_set": [_number(rule, "values", v, True) for v in o["values"]]}
    if k in ("matches", "not_matches"):
        return {"regex": o["pattern"]}
    if k == "length_between":
        if o.get("min") is not None and o.get("min") == o.get("max"):
            return {"value": o["min"]}
        return _range(rule, o.get("min"), o.get("max"))
    if k == "matches_json_schema":
        return {"json_schema": o["schema"]}
    if k in ("increasing", "decreasing") and o.get("strict"):
        return {"strictly": True}
    return {}


def _unique(rule: Rule) -> tuple[str, dict[str, Any], str | None]:
    if rule.options.get("count") != "all":
        raise fail(rule, "count: GX counts every copy of a repeated key; use count='all'")
    cols, nulls = rule.columns, rule.options.get("nulls", "distinct")
    if len(cols) == 1 and nulls == "distinct":
        return ("expect_column_values_to_be_unique", _common_kw(rule, cols[0], "values"), None)
    if nulls == "distinct":  # a key with a null is skipped, as GX skips a row with any value missing
        kw = _common_kw(rule, None, "filter", (all_present(cols),))
        kw = {"column_list": cols, **kw, "ignore_row_if": "any_value_is_missing"}
        return ("expect_compound_columns_to_be_unique", kw, None)
    if nulls != "equal":
        raise fail(rule, f"nulls: {nulls!r} has no GX form")
    cond, matched = split_when(rule.options.get("when"), (any_present(cols),))
    kw = _common_kw(rule.with_options(when=cond), None, "rows")
    if matched is None:
        kw["ignore_row_if"] = "never"
    return ("expect_compound_columns_to_be_unique", {"column_list": cols, **kw}, None)


def _compare(rule: Rule) -> tuple[str, dict[str, Any], str | None]:
    left, op, right = rule.target
    if op in ("<", "<="):
        left, op, right = right, ">" if op == "<" else ">=", left
    if op not in (">", ">=", "=="):
        raise fail(rule, f"compare: GX has no expectation for {op!r}")
    kw = _common_kw(rule, None, "filter", (all_present([left, right]),))
    kw = {"column_A": left, "column_B": right, **kw}
    if op == ">=":
        kw["or_equal"] = True
    kw["ignore_row_if"] = "either_value_is_missing"
    return (PAIR_EQUAL if op == "==" else GREATER, kw, None)


def _expression(rule: Rule) -> tuple[str, dict[str, Any], str | None]:
    text = rule.target
    if rule.options.get("columns") is not None:
        raise fail(rule, "columns: GX has no place for the columns shown beside failing rows")
    m = _PAIR.match(text) if isinstance(text, str) else None
    if m:
        left, op, right = ident(m, 1), m.group(3), ident(m, 4)
        cond, matched = split_when(rule.options.get("when"), (any_present([left, right]),))
        kw = {"column_A": left, "column_B": right, **_common_kw(rule.with_options(when=cond), None, "rows")}
        if op == ">=":
            kw["or_equal"] = True
        if matched is None:
            kw["ignore_row_if"] = "neither"
        return (PAIR_EQUAL if op == "=" else GREATER, kw, pair_name(left, op, right))
    m = _SUM.match(text) if isinstance(text, str) else None
    if m:
        cols = [ident(c, 1) for c in re.finditer(_IDENT, m.group(1))]
        total = float(m.group(6)) if re.search(r"[.e]", m.group(6)) else int(m.group(6))
        filters = {any_present(cols): None, all_present(cols): "any_value_is_missing"}
        cond, matched = split_when(rule.options.get("when"), tuple(filters))
        kw = {
            "column_list": cols,
            **_common_kw(rule.with_options(when=cond), None, "rows"),
            "sum_total": total,
        }
        kw["ignore_row_if"] = filters[matched] if matched is not None else "never"
        if kw["ignore_row_if"] is None:
            del kw["ignore_row_if"]
        return ("expect_multicolumn_sum_to_equal", kw, sum_name(cols))
    raise fail(rule, "expression: GX has no expectation for a predicate")


def _within_record(rule: Rule) -> tuple[str, dict[str, Any], str | None]:
    cols = rule.columns
    cond, matched = split_when(rule.options.get("when"), (all_present(cols), any_present(cols)))
    etype = "expect_select_column_values_to_be_unique_within_record"
    if matched == all_present(cols):
        kw = _common_kw(rule.with_options(when=cond), None, "rows")
        return (etype, {"column_list": cols, **kw, "ignore_row_if": "any_value_is_missing"}, None)
    if len(cols) != 2:
        raise fail(rule, "distinct_across: GX counts missing values as equal; give when= all columns present")
    kw = _common_kw(rule, None, "filter", (any_present(cols),))
    return (etype, {"column_list": cols, **kw}, None)


def _aggregate(rule: Rule) -> tuple[str, dict[str, Any], str | None]:
    k, t, o = rule.kind, rule.target, rule.options
    if not isinstance(t, str):
        raise fail(rule, f"{k}: GX's expectation takes one column")
    kw = _common_kw(rule, t, "aggregate")
    if k == "contains_values":
        values = [_number(rule, "values", v, True) for v in o["values"]]
        return ("expect_column_distinct_values_to_contain_set", {**kw, "value_set": values}, None)
    if k == "distinct_count":
        return (
            "expect_column_unique_value_count_to_be_between",
            {**kw, **_range(rule, o.get("min"), o.get("max"))},
            None,
        )
    if k == "distinct_ratio":
        return ("expect_column_proportion_of_unique_values_to_be_between",
                {**kw, **_range(rule, o.get("min"), o.get("max"), strict=False)}, None)  # fmt: skip
    return (_KINDS[k], {**kw, **_range(rule, o.get("min"), o.get("max"))}, None)
