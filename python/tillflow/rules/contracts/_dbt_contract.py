"""What a dbt model contract and a source's freshness become: constraints,
column types and ``freshness`` blocks read into rules, gathered per table
by `Table`, which keeps every rule's name unique."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from tillflow.exceptions import RuleError
from tillflow.rules._rule import Rule
from tillflow.rules.contracts._common import Key, invalid, unsupported
from tillflow.rules.contracts._dbt_terms import (
    FMT,
    PERIODS,
    UNIT_SECONDS,
    WARN_SUFFIX,
    is_template,
    relation,
    schema_type_of,
)

__all__ = ["At", "Table", "constraints", "freshness", "keys", "rule", "schema"]

_CONSTRAINT_KEYS = {"type", "expression", "name", "columns", "to", "to_columns", "warn_unenforced",
                    "warn_unsupported"}  # fmt: skip
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

At = list[Key]


class Table:
    """The rules of one table as they are read, each name kept unique."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.key: list[str] | None = None

    def add(self, rule: Rule, *, once: bool = False) -> Rule:
        """Add ``rule`` (under a new name when its name is taken); with
        ``once``, a rule equal to one already there is not added again (a
        constraint that repeats a test)."""
        if once and any(rule == other for other in self.rules):
            return rule
        names = {other.name for other in self.rules}
        if rule.name in names:
            n = 2
            while f"{rule.name}_{n}" in names:
                n += 1
            rule = rule.with_options(name=f"{rule.name}_{n}")
        self.rules.append(rule)
        return rule


def keys(node: Mapping[str, Any], at: At, allowed: set[str], what: str) -> None:
    for key in node:
        if key not in allowed:
            raise invalid(FMT, [*at, key], f"unknown property of a {what}")


def rule(kind: str, target: Any, options: Mapping[str, Any], at: At) -> Rule:
    try:
        return Rule(kind, target, options)
    except RuleError as exc:
        raise invalid(FMT, at, str(exc)) from None


# -- a model contract: constraints and column types


def constraints(table: Table, items: Any, at: At, column: str | None) -> None:
    if items is None:
        return
    if not isinstance(items, list):
        raise invalid(FMT, at, f"expected a list of constraints, got {items!r}")
    for i, item in enumerate(items):
        cat: At = [*at, i]
        if not isinstance(item, Mapping):
            raise invalid(FMT, cat, f"expected a constraint such as {{type: not_null}}, got {item!r}")
        keys(item, cat, _CONSTRAINT_KEYS, "constraint")
        kind = str(item.get("type", "")).lower()
        if column is not None:
            if "columns" in item:
                raise invalid(FMT, [*cat, "columns"], "a column's constraint names no columns")
            cols = [column]
        else:
            cols = item.get("columns") or []
            if not isinstance(cols, list) or not all(isinstance(c, str) and c for c in cols):
                raise invalid(FMT, [*cat, "columns"], f"expected a list of columns, got {cols!r}")
            if not cols and kind != "check":
                raise invalid(FMT, cat, f"a model's {kind} constraint names its columns")
        key: Any = cols[0] if len(cols) == 1 else cols
        if kind in ("not_null", "primary_key"):
            for c in cols:
                table.add(rule("not_null", c, {}, cat), once=True)
        if kind in ("unique", "primary_key"):
            table.add(rule("unique", key, {"count": "keys"}, cat), once=True)
        if kind == "primary_key":
            if table.key is not None and table.key != cols:
                raise invalid(FMT, cat, f"a second primary key ({cols}); the first was {table.key}")
            table.key = cols
        elif kind == "check":
            text = item.get("expression")
            if not isinstance(text, str) or not text.strip() or is_template(text):
                raise unsupported(
                    FMT, [*cat, "expression"], f"check {text!r}", "tillflow reads an SQL condition"
                )
            table.add(rule("expression", text, {}, cat), once=True)
        elif kind == "foreign_key":
            table.add(_foreign_key(item, cols, key, cat), once=True)
        elif kind == "custom":
            raise unsupported(FMT, cat, "custom constraint", "it is the warehouse's DDL")
        elif kind not in ("not_null", "unique", "primary_key"):
            kinds = "not_null, unique, primary_key, foreign_key, check or custom"
            raise invalid(FMT, [*cat, "type"], f"expected {kinds}, got {item.get('type')!r}")


def _foreign_key(item: Mapping[str, Any], cols: list[str], key: Any, at: At) -> Rule:
    found = relation(item.get("to"))
    if found is None or found[1] is not None:
        why = "a source's table" if found else "tillflow reads to: ref('model') with to_columns"
        raise unsupported(FMT, [*at, "to"] if "to" in item else at, "foreign_key", why)
    fields = item.get("to_columns")
    if (
        not isinstance(fields, list)
        or len(fields) != len(cols)
        or not all(isinstance(f, str) for f in fields)
    ):
        raise invalid(FMT, [*at, "to_columns"], f"expected one column for each of {cols}, got {fields!r}")
    if len(cols) == 1:
        return rule("relationships", key, {"to": f"{found[0]}.{fields[0]}"}, at)
    return rule("relationships", key, {"to": found[0], "field": fields}, at)


def schema(table: Table, columns: Sequence[tuple[int, Mapping[str, Any]]], at: At) -> None:
    types = {}
    for j, column in columns:
        cat: At = [*at, "columns", j]
        given = column.get("data_type")
        if given is None:
            raise invalid(FMT, cat, f"column {column['name']}: an enforced contract needs its data_type")
        ty = schema_type_of(given)
        if ty is None:
            raise unsupported(
                FMT, [*cat, "data_type"], f"data_type {given!r}", "no tillflow schema type is it"
            )
        types[column["name"]] = ty
    if not types:
        raise invalid(FMT, [*at, "config", "contract"], "an enforced contract lists no columns")
    table.add(rule("schema", types, {"strict": True}, at))


# -- source freshness


def freshness(table: Table, settings: Mapping[str, tuple[Any, At]]) -> None:
    block, at = settings.get("freshness", (None, []))
    if block is None:
        return
    if not isinstance(block, Mapping):
        raise invalid(FMT, at, f"expected warn_after and error_after, got {block!r}")
    levels: dict[str, tuple[str, int]] = {}
    for key in block:
        if key not in ("warn_after", "error_after", "filter"):
            raise invalid(
                FMT, [*at, key], "unknown freshness property; it has warn_after, error_after, filter"
            )
    for key in ("error_after", "warn_after"):
        after = block.get(key)
        if after is None or (isinstance(after, Mapping) and after.get("count") is None):
            continue
        count, period = (
            (after.get("count"), after.get("period")) if isinstance(after, Mapping) else (None, None)
        )
        if isinstance(count, bool) or not isinstance(count, int) or count < 1 or period not in PERIODS:
            raise invalid(FMT, [*at, key], f"expected {{count: N, period: minute|hour|day}}, got {after!r}")
        levels[key] = (f"{count}{period[0]}", count * UNIT_SECONDS[period[0]])
    if not levels:
        return
    if block.get("filter") is not None:
        raise unsupported(
            FMT, [*at, "filter"], "freshness filter", "tillflow's freshness reads the whole table"
        )
    query, qat = settings.get("loaded_at_query", (None, at))
    if query is not None:
        raise unsupported(FMT, qat, "loaded_at_query", "tillflow reads the newest value of a column")
    field, fat = settings.get("loaded_at_field", (None, at))
    if field is None:
        raise unsupported(
            FMT, at, "freshness without loaded_at_field", "dbt then reads the warehouse's metadata"
        )
    if not isinstance(field, str) or not _PLAIN.match(field):
        raise unsupported(FMT, fat, f"loaded_at_field {field!r}", "an SQL expression, not a column")
    error, warn = levels.get("error_after"), levels.get("warn_after")
    first = table.add(rule("freshness", field, {"max_age": error[0]}, at)) if error else None
    if warn is not None and (error is None or warn[1] < error[1]):
        name = first.name + WARN_SUFFIX if first else None
        table.add(rule("freshness", field, {"max_age": warn[0], "severity": "warn", "name": name}, at))
