"""Writing tillflow rules as an ODCS v3.0.2 contract (see
`tillflow.rules.contracts._odcs` for the mapping).

Each rule takes the first form that reads back as exactly that rule: a
property attribute (``required``, ``unique``, ``primaryKey``,
``logicalType``, ``logicalTypeOptions``), then a library quality item, then
a ``custom`` item with ``engine: tillflow`` holding the rule's file form.
The writer tries each form by reading it back with the reader, so what the
contract says is what tillflow checks.
"""

from __future__ import annotations

import decimal
import functools
import uuid
from collections.abc import Callable
from typing import Any

from tillflow.exceptions import RuleError
from tillflow.rules import _constructors as c
from tillflow.rules._catalog import CATALOG
from tillflow.rules._rule import Rule
from tillflow.rules._ruleset import RuleSet
from tillflow.rules._values import to_plain
from tillflow.rules.contracts._common import Tables
from tillflow.rules.contracts._odcs_pattern import is_portable
from tillflow.rules.contracts._odcs_quality import quality_rule
from tillflow.rules.contracts._odcs_read import FORMATS, option_rules, read_object

API_VERSION = "v3.0.2"
# tillflow schema type -> (logicalType, physicalType)
LOGICAL = {
    "int": ("integer", None),
    "number": ("number", None),
    "string": ("string", None),
    "bool": ("boolean", None),
    "date": ("date", "date"),
    "datetime": ("date", "timestamp"),
}
_PROPERTY_ORDER = (
    "name",
    "primaryKey",
    "primaryKeyPosition",
    "logicalType",
    "physicalType",
    "logicalTypeOptions",
    "required",
    "unique",
    "quality",
)
_COLUMN_KINDS = ("not_null", "unique", "between", "matches", "is_in", "relationships", "freshness")
_LIBRARY = {
    "not_null": "nullCheck",
    "unique": "duplicateCount",
    "is_in": "validValues",
    "row_count": "rowCount",
}
_SEVERITY = {"error": "error", "warn": "warning"}
_GROUP = {"minimum": "between", "maximum": "between", "exclusiveMinimum": "between",
          "exclusiveMaximum": "between", "minLength": "length", "maxLength": "length",
          "pattern": "pattern", "format": "format"}  # fmt: skip


def write(tables: Tables, *, id: str | None = None, name: str | None = None) -> dict[str, Any]:
    """An ODCS v3.0.2 contract (a mapping) with one schema object per table.

    Raises
    ------
    RuleError
        If a rule holds what no file can (a Polars expression, a frame);
        the message names the rule.
    """
    doc: dict[str, Any] = {"apiVersion": API_VERSION, "kind": "DataContract"}
    seed = "tillflow:" + (name or "") + ":" + "\x1f".join(tables)
    doc["id"] = id if id is not None else str(uuid.uuid5(uuid.NAMESPACE_URL, seed))
    if name is not None:
        doc["name"] = name
    doc["version"] = "1.0.0"
    doc["status"] = "active"
    doc["schema"] = [_Object(table, rules).build() for table, rules in tables.items()]
    return doc


class _Object:
    """One table's schema object, built rule by rule."""

    def __init__(self, table: str, rules: RuleSet) -> None:
        self.table, self.rs = table, rules
        self.props: dict[str, dict[str, Any]] = {}
        self.types: dict[str, str] = {}  # column -> logicalType
        self.quality: list[dict[str, Any]] = []
        self.meta: list[dict[str, Any]] = []

    def build(self) -> dict[str, Any]:
        for rule in self.rs.rules:
            rule.to_dict()  # names the rule that no file can hold
        rest = list(self.rs.rules)
        rest = self._schema(rest)
        rest = self._key(rest)
        for rule in rest:
            if not (self._attribute(rule) or self._library(rule)):
                self._custom(rule)
        if self.rs.sample_size != 10:
            self.meta.append({"property": "tillflowSampleSize", "value": self.rs.sample_size})
        obj = self._object()
        names = [r.name for r in self.rs.rules]
        if [r.name for r in read_object(obj, [])[1].rules] != names:
            self.meta.append({"property": "tillflowOrder", "value": names})
            obj = self._object()
        back = read_object(obj, [])[1]
        if back != self.rs:  # every form was read back on its own: this would be a bug
            raise RuleError(f"odcs contract: table {self.table!r}: the contract reads back as {back.rules}")
        return obj

    def _object(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"name": self.table}
        if self.props:
            rank = {k: i for i, k in enumerate(_PROPERTY_ORDER)}
            obj["properties"] = [
                dict(sorted(p.items(), key=lambda kv: rank[kv[0]])) for p in self.props.values()
            ]
        if self.quality:
            obj["quality"] = self.quality
        if self.meta:
            obj["customProperties"] = self.meta
        return obj

    def _prop(self, column: str) -> dict[str, Any]:
        return self.props.setdefault(column, {"name": column})

    def _schema(self, rules: list[Rule]) -> list[Rule]:
        """The first schema rule, as each column's logicalType (and physicalType
        for dates and timestamps), when it reads back the same."""
        for i, rule in enumerate(rules):
            if rule.kind != "schema":
                continue
            types: dict[str, Any] = rule.target if isinstance(rule.target, dict) else {}
            if all(t in LOGICAL for t in types.values()) and _same(functools.partial(c.schema, types), rule):
                for column, t in types.items():
                    logical, physical = LOGICAL[t]
                    prop = self._prop(column)
                    prop["logicalType"] = self.types[column] = logical
                    if physical:
                        prop["physicalType"] = physical
                return rules[:i] + rules[i + 1 :]
            break
        return rules

    def _key(self, rules: list[Rule]) -> list[Rule]:
        """The key as primaryKey properties when the rules hold what a primary
        key means (each column not null, the key unique), else tillflowKey."""
        key = list(self.rs.key)
        if not key:
            return rules
        wanted = [c.not_null(k) for k in key] + [c.unique(*key)]
        found = [next((r for r in rules if r == w), None) for w in wanted]
        if any(f is None for f in found):
            self.meta.append({"property": "tillflowKey", "value": key})
            return rules
        for position, column in enumerate(key, 1):
            prop = self._prop(column)
            prop["primaryKey"] = True
            if len(key) > 1:
                prop["primaryKeyPosition"] = position
        return [r for r in rules if not any(r is f for f in found)]

    def _attribute(self, rule: Rule) -> bool:
        """``required``, ``unique`` or a logicalTypeOption of the rule's column."""
        column = rule.target if isinstance(rule.target, str) else None
        if column is None or rule.kind == "expression":
            return False
        prop = self.props.get(column, {"name": column})
        if rule.kind in ("not_null", "unique"):
            attr = "required" if rule.kind == "not_null" else "unique"
            if attr in prop or not _same(lambda: getattr(c, rule.kind)(column), rule):
                return False
            self._prop(column)[attr] = True
            return True
        options = _options_of(rule)
        lt = self.types.get(column)
        current = prop.get("logicalTypeOptions", {})
        # Options of one group make one rule: a second rule of that group cannot join them.
        if not options or {_GROUP[k] for k in current} & {_GROUP[k] for k in options}:
            return False
        if not _same(lambda: option_rules(options, lt, column, []), [rule]):
            return False
        self._prop(column)["logicalTypeOptions"] = {**current, **options}
        return True

    def _library(self, rule: Rule) -> bool:
        """A library quality item: nullCheck, duplicateCount, validValues or rowCount."""
        if rule.kind not in _LIBRARY or "by" in rule.options:
            return False
        column = None if rule.kind == "row_count" else rule.target
        if not (column is None or isinstance(column, str)):
            return False
        o = rule.options
        item: dict[str, Any] = {"rule": _LIBRARY[rule.kind]}
        if rule.kind == "is_in":
            item["validValues"] = to_plain(list(o["values"]))
        meta: list[dict[str, Any]] = []
        if rule.kind == "row_count":
            item.update(_row_operators(rule.target))
        else:
            item.update(_tolerance_operators(o.get("tolerance"), meta))
        if "name" in o:
            item["name"] = o["name"]
        if "severity" in o and o["severity"] in _SEVERITY:
            item["severity"] = _SEVERITY[o["severity"]]
        if isinstance(o.get("when"), str):
            meta.insert(0, {"property": "tillflowWhen", "value": o["when"]})
        if meta:
            item["customProperties"] = meta
        if not _same(lambda: quality_rule(item, column, []), rule):
            return False
        self._place(item, column)
        return True

    def _custom(self, rule: Rule) -> None:
        item = {"type": "custom", "engine": "tillflow", "implementation": rule.to_dict()}
        column = _column_of(rule)
        try:
            back = quality_rule(item, column, [])
        except RuleError as exc:
            raise RuleError(f"rule {rule.name}: its rules-file entry does not read back: {exc}") from None
        if back != rule:
            raise RuleError(f"rule {rule.name}: its rules-file entry reads back as {back!r}")
        self._place(item, column)

    def _place(self, item: dict[str, Any], column: str | None) -> None:
        if column is None:
            self.quality.append(item)
        else:
            self._prop(column).setdefault("quality", []).append(item)


def _options_of(rule: Rule) -> dict[str, Any]:
    """The logicalTypeOptions that would say ``rule`` (empty when none would)."""
    o = rule.options
    if rule.kind == "between":
        out: dict[str, Any] = {}
        for side in ("min", "max"):
            if side in o:
                out[f"{side}imum"] = to_plain(o[side])
            if o.get(f"{side}_inclusive") is False:
                out[f"exclusive{side.capitalize()}imum"] = True
        return out
    if rule.kind == "length_between":
        return {k: o[s] for k, s in (("minLength", "min"), ("maxLength", "max")) if s in o}
    if rule.kind == "matches" and isinstance(o.get("pattern"), str) and is_portable(o["pattern"]):
        return {"pattern": o["pattern"]}
    for fmt, build in FORMATS.items():
        if rule.kind == build.__name__:
            return {"format": fmt}
    return {}


def _tolerance_operators(tolerance: Any, meta: list[dict[str, Any]]) -> dict[str, Any]:
    """The operator (and unit) that allows ``tolerance`` failing rows; a
    fraction's exact form goes to tillflowTolerance."""
    if tolerance is None:
        return {}
    if isinstance(tolerance, int):
        return {"mustBeLessOrEqualTo": tolerance}
    try:
        if isinstance(tolerance, float):
            share = decimal.Decimal(str(tolerance)) * 100
            meta.append({"property": "tillflowTolerance", "value": tolerance})
        else:
            share = decimal.Decimal(str(tolerance).strip().rstrip("%"))
    except decimal.InvalidOperation:
        return {}
    return {"mustBeLessOrEqualTo": _number(share), "unit": "percent"}


def _row_operators(bounds: Any) -> dict[str, Any]:
    lo, hi = bounds.get("min"), bounds.get("max")
    if lo is not None and hi is not None:
        return {"mustBe": lo} if lo == hi else {"mustBeBetween": [lo, hi]}
    if lo is not None:
        return {"mustBeGreaterOrEqualTo": lo}
    return {} if hi is None else {"mustBeLessOrEqualTo": hi}


def _number(value: decimal.Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _column_of(rule: Rule) -> str | None:
    """The column a rule is about, when it checks one, to put it under that property."""
    kind = CATALOG.get(rule.kind)
    single = rule.kind in _COLUMN_KINDS or (kind is not None and kind.shape == "column")
    return rule.target if single and isinstance(rule.target, str) else None


def _same(build: Callable[[], Any], expected: Any) -> bool:
    """Whether ``build()`` makes ``expected`` (False when it raises)."""
    try:
        return bool(build() == expected)
    except RuleError:
        return False
