"""Reading an ODCS v3.0 contract's ``schema`` into tillflow rules, one rule
set per schema object (see `tillflow.rules.contracts._odcs` for the mapping).

Each function here takes an item of the contract and the key path to it,
so that an error names where it is; the writer calls the same functions to
check that what it writes reads back as the rule it came from.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from tillflow.rules import _constructors as c
from tillflow.rules import _formats, _texts
from tillflow.rules._rule import Rule
from tillflow.rules._ruleset import RuleSet
from tillflow.rules.contracts._common import Tables, invalid, unsupported
from tillflow.rules.contracts._odcs_pattern import PatternError, to_rust
from tillflow.rules.contracts._odcs_quality import (
    FMT,
    Path,
    column_of,
    custom_meta,
    flag,
    keys,
    located,
    number,
    quality_list,
    text,
)

API_VERSIONS = ("v3.0.0", "v3.0.1", "v3.0.2")
TOP_KEYS = (
    "apiVersion",
    "kind",
    "id",
    "name",
    "version",
    "status",
    "domain",
    "dataProduct",
    "tenant",
    "description",
    "schema",
    "servers",
    "team",
    "roles",
    "slaDefaultElement",
    "slaProperties",
    "support",
    "price",
    "customProperties",
    "tags",
    "authoritativeDefinitions",
    "contractCreatedTs",
)
ELEMENT_KEYS = (
    "name",
    "physicalName",
    "physicalType",
    "description",
    "businessName",
    "tags",
    "authoritativeDefinitions",
    "customProperties",
    "quality",
)
OBJECT_KEYS = (*ELEMENT_KEYS, "logicalType", "dataGranularityDescription", "properties")
PROPERTY_KEYS = (
    *ELEMENT_KEYS,
    "logicalType",
    "logicalTypeOptions",
    "required",
    "unique",
    "primaryKey",
    "primaryKeyPosition",
    "partitioned",
    "partitionKeyPosition",
    "classification",
    "encryptedName",
    "transformSourceObjects",
    "transformLogic",
    "transformDescription",
    "examples",
    "criticalDataElement",
)
LOGICAL_TYPES = ("string", "date", "number", "integer", "object", "array", "boolean")
# The logicalType -> tillflow schema type; a date is told from a timestamp by physicalType or format.
TYPES = {"string": "string", "integer": "int", "number": "number", "boolean": "bool"}
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
OPTIONS = {
    "string": ("minLength", "maxLength", "pattern", "format"),
    "date": ("format", *_BOUNDS),
    "integer": ("multipleOf", *_BOUNDS, "format"),
    "number": ("multipleOf", *_BOUNDS, "format"),
    "boolean": (),
}
FORMATS = {
    "email": _formats.is_email,
    "uuid": _formats.is_uuid,
    "ipv4": _formats.is_ipv4,
    "ipv6": _formats.is_ipv6,
}
# tillflow's own metadata, in customProperties, per the element that carries it.
OBJECT_META = ("tillflowKey", "tillflowSampleSize", "tillflowOrder")


def read(data: Any) -> Tables:
    """``{table: RuleSet}`` from a parsed ODCS v3.0 contract."""
    if not isinstance(data, Mapping):
        raise invalid(
            FMT, [], f"expected a mapping (apiVersion, kind, schema, ...), got {type(data).__name__}"
        )
    keys(data, TOP_KEYS, [], "an ODCS v3.0 contract")
    for key in ("apiVersion", "kind", "id", "version", "status"):
        if key not in data:
            raise invalid(
                FMT, [], f"{key}: missing; a contract gives apiVersion, kind, id, version and status"
            )
    if data["apiVersion"] not in API_VERSIONS:
        raise unsupported(
            FMT,
            ["apiVersion"],
            f"apiVersion {data['apiVersion']!r}",
            f"this reader takes ODCS {', '.join(API_VERSIONS)}",
        )
    if data["kind"] != "DataContract":
        raise invalid(FMT, ["kind"], f"expected DataContract, got {data['kind']!r}")
    objects = data.get("schema")
    objects = [] if objects is None else objects
    if not isinstance(objects, list):
        raise invalid(FMT, ["schema"], f"expected a list of schema objects, got {type(objects).__name__}")
    tables: Tables = {}
    for i, obj in enumerate(objects):
        name, rules = read_object(obj, ["schema", i])
        if name in tables:
            raise invalid(FMT, ["schema", i, "name"], f"table {name!r} is described twice")
        tables[name] = rules
    return tables


def read_object(obj: Any, at: Path) -> tuple[str, RuleSet]:
    """One schema object: its table (``physicalName``, else ``name``) and rules."""
    if not isinstance(obj, Mapping):
        raise invalid(FMT, at, f"expected a schema object (a mapping), got {obj!r}")
    keys(obj, OBJECT_KEYS, at, "a schema object")
    table = text(obj.get("physicalName") or obj.get("name"), [*at, "name"], "name")
    if obj.get("logicalType", "object") != "object":
        raise invalid(FMT, [*at, "logicalType"], f"a schema object is an object, not {obj['logicalType']!r}")
    props = obj.get("properties")
    props = [] if props is None else props
    if not isinstance(props, list):
        raise invalid(FMT, [*at, "properties"], "expected a list of properties")
    pk = primary_key(props, at)
    types: dict[str, str] = {}
    rules: list[Rule] = []
    seen: set[str] = set()
    for j, prop in enumerate(props):
        column, kind, found = read_property(prop, [*at, "properties", j], len(pk) == 1)
        if column in seen:
            raise invalid(FMT, [*at, "properties", j], f"column {column!r} is described twice")
        seen.add(column)
        if kind is not None:
            types[column] = kind
        rules += found
    with located(at):
        if types:
            rules.insert(0, c.schema(types))
        if len(pk) > 1:
            rules.append(c.unique(*pk))
    rules = _distinct_names(rules + quality_list(obj.get("quality"), None, [*at, "quality"]))
    meta = custom_meta(obj.get("customProperties"), OBJECT_META, [*at, "customProperties"])
    key = meta.get("tillflowKey")
    if key is not None and pk:
        raise invalid(FMT, [*at, "customProperties"], "tillflowKey: the primary key already gives the key")
    with located(at):
        rs = RuleSet(
            reorder(rules, meta.get("tillflowOrder"), at),
            key=pk or key,
            sample_size=meta.get("tillflowSampleSize", 10),
        )
    return table, rs


def _distinct_names(rules: list[Rule]) -> list[Rule]:
    """The rules, a check said twice without a name (a primary key that is
    also ``required``, or a nullCheck of it) named ``<name>#2`` the second time."""
    count: dict[str, int] = {}
    out = []
    for rule in rules:
        count[rule.name] = count.get(rule.name, 0) + 1
        again = count[rule.name] > 1 and "name" not in rule.options
        out.append(rule.with_options(name=f"{rule.name}#{count[rule.name]}") if again else rule)
    return out


def primary_key(props: list[Any], at: Path) -> list[str]:
    """The primary key's columns, in ``primaryKeyPosition`` order."""
    found: list[tuple[int, str]] = []
    for j, prop in enumerate(props):
        if not isinstance(prop, Mapping):
            continue  # read_property says what is wrong
        where = [*at, "properties", j]
        position = prop.get("primaryKeyPosition", -1)
        if isinstance(position, bool) or not isinstance(position, int):
            raise invalid(FMT, [*where, "primaryKeyPosition"], f"expected an integer, got {position!r}")
        if flag(prop, "primaryKey", where):
            found.append((position, column_of(prop, where)))
        elif position != -1:
            raise invalid(FMT, [*where, "primaryKeyPosition"], "given for a property that is no primaryKey")
    positions = [p for p, _ in found]
    if len(found) > 1 and any(p != -1 for p in positions):
        if any(p < 1 for p in positions) or len(set(positions)) != len(positions):
            raise invalid(
                FMT, at, "primaryKeyPosition: give each primary key property its own position from 1"
            )
        found.sort()
    return [col for _, col in found]


def read_property(prop: Any, at: Path, single_pk: bool) -> tuple[str, str | None, list[Rule]]:
    """One property: its column, its tillflow type (None without logicalType)
    and the rules its attributes and quality items make."""
    if not isinstance(prop, Mapping):
        raise invalid(FMT, at, f"expected a property (a mapping), got {prop!r}")
    lt = prop.get("logicalType")
    # As the JSON schema reads it: items and nested properties go with array and object, or no type.
    nested = {None: ("items", "properties"), "array": ("items",), "object": ("properties",)}
    keys(prop, (*PROPERTY_KEYS, *nested.get(lt, ())), at, "a property")
    column = column_of(prop, at)
    if lt is not None and lt not in LOGICAL_TYPES:
        raise invalid(FMT, [*at, "logicalType"], f"expected one of {', '.join(LOGICAL_TYPES)}, got {lt!r}")
    for what in ("logicalType", "items", "properties"):
        if what in prop and (what != "logicalType" or lt in ("object", "array")):
            shape = f"logicalType {lt}" if what == "logicalType" else f"nested {what}"
            raise unsupported(
                FMT,
                [*at, what],
                f"property {column!r}: {shape}",
                "tillflow checks flat columns, not nested objects or arrays",
            )
    kind = None if lt is None else TYPES.get(lt) or date_type(prop, at)
    for key in ("partitioned", "criticalDataElement"):
        flag(prop, key, at)
    custom_meta(prop.get("customProperties"), (), [*at, "customProperties"])
    pk = flag(prop, "primaryKey", at)
    rules: list[Rule] = []
    with located(at):
        if flag(prop, "required", at) or pk:
            rules.append(c.not_null(column))
        if flag(prop, "unique", at) or (pk and single_pk):
            rules.append(c.unique(column))
    rules += option_rules(prop.get("logicalTypeOptions"), lt, column, [*at, "logicalTypeOptions"])
    rules += quality_list(prop.get("quality"), column, [*at, "quality"])
    return column, kind, rules


def date_type(prop: Mapping[str, Any], at: Path) -> str:
    """``date`` or ``datetime`` for a property of logicalType date: ODCS's
    date stands for dates, timestamps and times alike, and physicalType or
    ``logicalTypeOptions.format`` says which."""
    physical = prop.get("physicalType")
    if physical is not None:
        p = str(physical).strip().lower()
        if "timestamp" in p or "datetime" in p:
            return "datetime"
        if p.startswith("date"):
            return "date"
        why = "a time of day" if p.startswith("time") else "not a date or timestamp type"
        raise unsupported(
            FMT,
            [*at, "physicalType"],
            f"logicalType date held as {physical!r}",
            f"{why}; tillflow's schema check reads a column's date or datetime type",
        )
    options = prop.get("logicalTypeOptions")
    fmt = options.get("format") if isinstance(options, Mapping) else None
    if isinstance(fmt, str):
        letters = re.sub(r"'[^']*'", "", fmt)
        has_date, has_time = (any(ch in letters for ch in s) for s in ("yuMLdD", "HhKkmsSna"))
        if has_date:
            return "datetime" if has_time else "date"
    raise unsupported(
        FMT,
        [*at, "logicalType"],
        "logicalType date without a date or timestamp physicalType or format",
        "ODCS's date stands for dates, timestamps and times alike; say which with "
        "physicalType (date, timestamp) or logicalTypeOptions.format",
    )


def option_rules(options: Any, lt: str | None, column: str, at: Path) -> list[Rule]:
    """The rules of a property's logicalTypeOptions: bounds, lengths, a
    pattern and a format, in that order."""
    if options is None:
        return []
    if not isinstance(options, Mapping):
        raise invalid(FMT, at, f"expected a mapping, got {options!r}")
    if lt is None:
        raise invalid(FMT, at, "give the property a logicalType: its logicalTypeOptions depend on it")
    keys(options, OPTIONS[lt], at, f"logicalTypeOptions of a {lt} property")
    rules = []
    with located(at):
        if "minimum" in options or "maximum" in options:
            rules.append(_between(options, lt, column, at))
        for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if flag(options, key, at) and bound not in options:
                raise invalid(FMT, [*at, key], f"{key} without {bound}")
        if "minLength" in options or "maxLength" in options:
            lo, hi = (_count(options, k, at) for k in ("minLength", "maxLength"))
            rules.append(_texts.length_between(column, lo, hi))
        if "pattern" in options:
            try:
                pattern = to_rust(text(options["pattern"], [*at, "pattern"], "pattern"))
            except PatternError as exc:
                raise unsupported(
                    FMT, [*at, "pattern"], f"pattern {options['pattern']!r}", str(exc)
                ) from None
            rules.append(c.matches(column, pattern))
    if "multipleOf" in options:
        raise unsupported(FMT, [*at, "multipleOf"], "multipleOf", "tillflow has no multiple-of check")
    fmt = options.get("format")
    if fmt is not None and lt != "date":  # a date's format tells a date from a timestamp (date_type)
        if lt == "string" and fmt in FORMATS:
            with located([*at, "format"]):
                rules.append(FORMATS[fmt](column))
        else:
            why = (
                "a storage width, not a check of the values"
                if lt in ("integer", "number")
                else "a URI of any scheme; tillflow's is_url checks web URLs with a host"
                if fmt == "uri"
                else "tillflow checks the string formats email, uuid, ipv4 and ipv6"
            )
            raise unsupported(FMT, [*at, "format"], f"format {fmt!r}", why)
    return rules


def _between(options: Mapping[str, Any], lt: str, column: str, at: Path) -> Rule:
    bounds = {}
    for key in ("minimum", "maximum"):
        value = options.get(key)
        ok = isinstance(value, (str, dt.date)) if lt == "date" else number(value)
        if value is not None and not ok:
            want = "a date" if lt == "date" else "a number"
            raise invalid(FMT, [*at, key], f"expected {want}, got {value!r}")
        bounds[key] = value
    exclusive = [flag(options, k, at) for k in ("exclusiveMinimum", "exclusiveMaximum")]
    return c.between(
        column,
        bounds["minimum"],
        bounds["maximum"],
        min_inclusive=False if exclusive[0] else None,
        max_inclusive=False if exclusive[1] else None,
    )


def _count(options: Mapping[str, Any], key: str, at: Path) -> int | None:
    value = options.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise invalid(FMT, [*at, key], f"expected a non-negative integer, got {value!r}")
    return value


def reorder(rules: list[Rule], order: Any, at: Path) -> list[Rule]:
    """The rules in tillflowOrder's order (their names), when it is given."""
    if order is None:
        return rules
    names = [r.name for r in rules]
    if not isinstance(order, list) or sorted(map(str, order)) != sorted(names):
        raise invalid(FMT, [*at, "customProperties"], f"tillflowOrder: expected the rules' names {names}")
    by_name = {r.name: r for r in rules}
    return [by_name[n] for n in order]
