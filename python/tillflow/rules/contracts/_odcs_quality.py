"""The quality items of an ODCS v3.0 contract as tillflow rules, and the
checks every part of the contract's reader shares (keys, flags, text,
tillflow's customProperties)."""

from __future__ import annotations

import decimal
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from tillflow.exceptions import RuleError
from tillflow.rules import _constructors as c
from tillflow.rules._rule import Rule
from tillflow.rules.contracts._common import Key, invalid, unsupported

FMT = "odcs"
OPERATORS = (
    "mustBe",
    "mustNotBe",
    "mustBeGreaterThan",
    "mustBeGreaterOrEqualTo",
    "mustBeLessThan",
    "mustBeLessOrEqualTo",
    "mustBeBetween",
    "mustNotBeBetween",
)
_DESCRIPTIVE = (
    "name",
    "description",
    "type",
    "dimension",
    "method",
    "severity",
    "businessImpact",
    "customProperties",
    "tags",
    "authoritativeDefinitions",
    "scheduler",
    "schedule",
)
QUALITY_KEYS = {
    "text": _DESCRIPTIVE,
    "library": (*_DESCRIPTIVE, "rule", *OPERATORS, "unit", "validValues"),
    "sql": (*_DESCRIPTIVE, "query", *OPERATORS, "unit"),
    "custom": (*_DESCRIPTIVE, "engine", "implementation"),
}
SEVERITIES = {"error": "error", "warning": "warn", "warn": "warn"}
LIBRARY = ("nullCheck", "duplicateCount", "validValues", "rowCount")
QUALITY_META = ("tillflowWhen", "tillflowTolerance")

Path = list[Key]


@contextmanager
def located(at: Path) -> Iterator[None]:
    """A RuleError raised inside (a rule's constructor refusing an argument)
    located at ``at``, so that a file's reader can name the line."""
    try:
        yield
    except RuleError as exc:
        if getattr(exc, "at", None) is None:
            raise invalid(FMT, at, str(exc)) from None
        raise


def quality_list(items: Any, column: str | None, at: Path) -> list[Rule]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise invalid(FMT, at, f"expected a list of quality items, got {type(items).__name__}")
    rules = []
    for k, item in enumerate(items):
        rule = quality_rule(item, column, [*at, k])
        if rule is not None:
            rules.append(rule)
    return rules


def quality_rule(item: Any, column: str | None, at: Path) -> Rule | None:
    """The rule of one quality item (None for a ``text`` item, which only
    describes); ``column`` is the property it sits under, if any."""
    if not isinstance(item, Mapping):
        raise invalid(FMT, at, f"expected a quality item (a mapping), got {item!r}")
    keys(item, tuple(dict.fromkeys(k for ks in QUALITY_KEYS.values() for k in ks)), at, "a quality item")
    kind = item.get("type", "library")
    if kind not in QUALITY_KEYS:
        raise invalid(FMT, [*at, "type"], f"expected text, library, sql or custom, got {kind!r}")
    for key in item:
        if key not in QUALITY_KEYS[kind]:
            raise invalid(FMT, [*at, key], f"{key} does not belong to a {kind} quality item")
    label = f" {item['name']!r}" if isinstance(item.get("name"), str) else ""
    if kind == "text":
        custom_meta(item.get("customProperties"), (), [*at, "customProperties"])
        return None
    if kind == "sql":
        raise unsupported(
            FMT,
            at,
            f"sql quality{label}",
            "an SQL query's result compared with a bound; tillflow's rules are not queries",
        )
    if kind == "custom":
        return _custom(item, at, label)
    rule = item.get("rule")
    if rule is None:
        raise invalid(FMT, at, "rule: missing; a library item names its rule, such as nullCheck")
    if rule not in LIBRARY:
        raise unsupported(
            FMT, [*at, "rule"], f"library rule {rule!r}", f"ODCS v3.0 defines {', '.join(LIBRARY)}"
        )
    if (rule == "rowCount") != (column is None):
        where = "a schema object" if rule == "rowCount" else "a property"
        raise invalid(FMT, [*at, "rule"], f"{rule} belongs under {where}")
    if ("validValues" in item) != (rule == "validValues"):
        raise invalid(FMT, [*at, "validValues"], "validValues goes with rule: validValues, and it needs them")
    opts = _options(item, at)
    with located(at):
        if rule == "rowCount":
            if item.get("unit", "rows") != "rows":
                raise invalid(FMT, [*at, "unit"], "a row count is counted in rows")
            if "tolerance" in opts:
                raise invalid(FMT, [*at, "customProperties"], "tillflowTolerance: a row count takes none")
            lo, hi = _row_bounds(item, at)
            return c.row_count(lo, hi, **opts)
        assert column is not None
        tolerance = _tolerance(item, at, opts.pop("tolerance", None))
        if rule == "nullCheck":
            return c.not_null(column, tolerance=tolerance, **opts)
        if rule == "duplicateCount":
            return c.unique(column, tolerance=tolerance, **opts)
        values = item["validValues"]
        if not isinstance(values, list):
            raise invalid(FMT, [*at, "validValues"], f"expected a list, got {values!r}")
        return c.is_in(column, values, tolerance=tolerance, **opts)


def _custom(item: Mapping[str, Any], at: Path, label: str) -> Rule:
    engine, impl = item.get("engine"), item.get("implementation")
    if engine is None or impl is None:
        raise invalid(FMT, at, "a custom quality item gives engine and implementation")
    if engine != "tillflow":
        raise unsupported(
            FMT,
            [*at, "engine"],
            f"custom quality{label} for engine {engine!r}",
            "only engine: tillflow holds a tillflow rule",
        )
    custom_meta(item.get("customProperties"), (), [*at, "customProperties"])
    if isinstance(impl, str):
        import yaml  # type: ignore[import-untyped,unused-ignore]

        try:
            impl = yaml.safe_load(impl)
        except yaml.YAMLError as exc:
            raise invalid(FMT, [*at, "implementation"], f"not YAML: {exc}") from None
    given = {k: v for k, v in _options(item, at).items() if k in ("name", "severity")}
    with located([*at, "implementation"]):
        rule = Rule.from_dict(impl)
        clash = [k for k, v in given.items() if rule.options.get(k, v) != v]
        if clash:
            raise invalid(FMT, [*at, clash[0]], f"{clash[0]}: differs from the implementation's")
        return rule.with_options(**given) if given else rule


def _options(item: Mapping[str, Any], at: Path) -> dict[str, Any]:
    """name, severity, when and tolerance of a quality item."""
    opts: dict[str, Any] = {}
    if "name" in item:
        opts["name"] = text(item["name"], [*at, "name"], "name")
    if "severity" in item:
        sev = item["severity"]
        if sev not in SEVERITIES:
            raise unsupported(FMT, [*at, "severity"], f"severity {sev!r}", "tillflow's are error and warning")
        opts["severity"] = SEVERITIES[sev]
    meta = custom_meta(item.get("customProperties"), QUALITY_META, [*at, "customProperties"])
    if "tillflowWhen" in meta:
        opts["when"] = text(meta["tillflowWhen"], [*at, "customProperties"], "tillflowWhen")
    if "tillflowTolerance" in meta:
        opts["tolerance"] = meta["tillflowTolerance"]
    return opts


Bound = tuple[Any, bool, str]  # value, inclusive, the operator that says it


def _bounds(item: Mapping[str, Any], at: Path) -> tuple[Bound | None, Bound | None]:
    """The operators as (lower, upper) bounds, each (value, inclusive,
    operator) or None; ``mustBeBetween`` includes both ends."""
    lower = upper = None
    for op in OPERATORS:
        if op not in item:
            continue
        value = item[op]
        if op in ("mustNotBe", "mustNotBeBetween"):
            raise unsupported(
                FMT,
                [*at, op],
                f"{op} {value}",
                "tillflow bounds a count from below and above, not around a gap",
            )
        pair = op.endswith("Between")
        ok = (
            isinstance(value, list)
            and len(value) == 2
            and all(number(v) for v in value)
            and value[0] < value[1]
            if pair
            else number(value)
        )
        if not ok:
            want = "two numbers, the smaller first" if pair else "a number"
            raise invalid(FMT, [*at, op], f"expected {want}, got {value!r}")
        lo: Bound | None = (value[0], True, op) if pair else (value, True, op) if op == "mustBe" else None
        hi: Bound | None = (value[1], True, op) if pair else (value, True, op) if op == "mustBe" else None
        if op.startswith("mustBeGreater"):
            lo = (value, op.endswith("EqualTo"), op)
        if op.startswith("mustBeLess"):
            hi = (value, op.endswith("EqualTo"), op)
        if (lo and lower) or (hi and upper):
            raise invalid(FMT, [*at, op], "give one lower and one upper bound at most")
        lower, upper = lower or lo, upper or hi
    return lower, upper


def _tolerance(item: Mapping[str, Any], at: Path, given: Any) -> Any:
    """The tolerance the operators allow a count of failing rows (or, with
    ``unit: percent``, their share of all rows); ``given`` is tillflowTolerance,
    which must mean the same and keeps its written form."""
    unit = item.get("unit", "rows")
    if unit not in ("rows", "percent"):
        raise unsupported(
            FMT, [*at, "unit"], f"unit {unit!r}", "tillflow counts rows or a percentage of them"
        )
    lower, upper = _bounds(item, at)
    if lower is not None and (lower[0] > 0 or not lower[1]):
        raise unsupported(
            FMT,
            [*at, lower[2]],
            f"{lower[2]} {lower[0]} failing rows",
            "tillflow bounds failing rows from above",
        )
    if upper is None and lower is not None:
        raise unsupported(FMT, at, "no upper bound on failing rows", "such a check cannot fail")
    value, inclusive, _op = upper or (0, True, "")
    if unit == "rows":
        n = math.floor(value) if inclusive else math.ceil(value) - 1
        if n < 0:
            bound = f"{'at most' if inclusive else 'fewer than'} {value} failing rows"
            raise invalid(FMT, at, f"{bound}: no count of failing rows passes")
        derived: Any = n or None
        same = given is None or (isinstance(given, int) and given == n)
    else:
        if not inclusive:
            raise unsupported(
                FMT,
                at,
                "mustBeLessThan with unit percent",
                "tillflow's share tolerance includes its bound; write mustBeLessOrEqualTo",
            )
        share = decimal.Decimal(str(value))
        text_ = format(share.normalize(), "f")
        derived = f"{text_}%" if share > 0 else None
        same = given is None or _share(given) == share / 100
    if not same:
        raise invalid(
            FMT, [*at, "customProperties"], f"tillflowTolerance {given!r} differs from the operator's"
        )
    return derived if given is None else given


def _share(tolerance: Any) -> decimal.Decimal | None:
    if isinstance(tolerance, float):
        return decimal.Decimal(str(tolerance))
    if isinstance(tolerance, str) and tolerance.strip().endswith("%"):
        try:
            return decimal.Decimal(tolerance.strip()[:-1]) / 100
        except decimal.InvalidOperation:
            return None
    return None


def _row_bounds(item: Mapping[str, Any], at: Path) -> tuple[int | None, int | None]:
    lower, upper = _bounds(item, at)
    if lower is None and upper is None:
        raise invalid(FMT, at, "rowCount needs an operator such as mustBeGreaterThan")
    lo = None if lower is None else math.ceil(lower[0]) if lower[1] else math.floor(lower[0]) + 1
    hi = None if upper is None else math.floor(upper[0]) if upper[1] else math.ceil(upper[0]) - 1
    return lo, hi


def custom_meta(props: Any, allowed: Sequence[str], at: Path) -> dict[str, Any]:
    """The tillflow entries of customProperties (the others describe)."""
    if props is None:
        return {}
    if not isinstance(props, list):
        raise invalid(FMT, at, f"expected a list of {{property, value}}, got {props!r}")
    out: dict[str, Any] = {}
    for k, entry in enumerate(props):
        if not isinstance(entry, Mapping):
            raise invalid(FMT, [*at, k], f"expected {{property, value}}, got {entry!r}")
        keys(entry, ("property", "value"), [*at, k], "a custom property")
        name = entry.get("property")
        if isinstance(name, str) and name.startswith("tillflow"):
            if name not in allowed:
                here = f"; here: {', '.join(allowed)}" if allowed else "; none belongs here"
                raise invalid(FMT, [*at, k], f"{name}: unknown tillflow property{here}")
            out[name] = entry.get("value")
    return out


def keys(item: Mapping[str, Any], allowed: Sequence[str], at: Path, what: str) -> None:
    for key in item:
        if key not in allowed:
            raise invalid(FMT, [*at, key], f"unknown key for {what}; ODCS v3.0 gives it {', '.join(allowed)}")


def flag(item: Mapping[str, Any], key: str, at: Path) -> bool:
    value = item.get(key, False)
    if not isinstance(value, bool):
        raise invalid(FMT, [*at, key], f"expected true or false, got {value!r}")
    return value


def text(value: Any, at: Path, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise invalid(FMT, at, f"{what}: expected non-empty text, got {value!r}")
    return value


def column_of(prop: Mapping[str, Any], at: Path) -> str:
    """A property's column: its physicalName, else its name."""
    text(prop.get("name"), [*at, "name"], "name")
    return text(prop.get("physicalName") or prop["name"], [*at, "name"], "name")


def number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
