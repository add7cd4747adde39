"""tillflow rules written as SodaCL checks; the mapping is told in ``_soda``."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from numbers import Number
from typing import Any

from tillflow.exceptions import RuleError
from tillflow.rules._rule import Rule
from tillflow.rules._values import parse_duration, tolerance_spec
from tillflow.rules.contracts._common import Tables
from tillflow.rules.contracts._soda_grammar import (
    Unfit,
    duration_text,
    join_columns,
    missing_sql,
    number_text,
    partial_key_sql,
    predicate_of,
    quote_name,
    share_threshold,
    split_list,
)

__all__ = ["write"]

AGGREGATES = {"min_between": "min", "max_between": "max", "mean_between": "avg", "sum_between": "sum",
              "stddev_between": "stddev"}  # fmt: skip


@dataclasses.dataclass
class _Spec:
    """A rule as a SodaCL check: the line's start, the configuration that
    says what is counted, and where it fails: as the line's threshold
    (``inline``, None when the check takes none) and as an alert (``alert``,
    None when it takes none)."""

    head: str
    config: dict[str, Any]
    inline: str | None
    alert: Any
    default_alert: Any = None  # the alert Soda assumes when none is given


def write(tables: Tables) -> dict[str, Any]:
    """``{table: RuleSet}`` as a SodaCL mapping: ``{"checks for TABLE": [...]}``.

    Raises
    ------
    RuleError
        If a rule has no SodaCL check that counts the same way; the message
        names the rule and what stands in the way.
    """
    doc: dict[str, Any] = {}
    for table, rules in tables.items():
        if re.search(r"[\s\[\]]", table):
            raise RuleError(f"soda contract: table {table!r}: a SodaCL section names a table without spaces")
        items = [one for rule in rules for one in _single(rule)]
        checks: list[Any] = []
        i = 0
        while i < len(items):
            rule = items[i]
            nxt = items[i + 1] if i + 1 < len(items) else None
            if rule.kind == "relationships" and not isinstance(rule.target, str):
                checks.append(_compound(rule, nxt))
                i += 2
                continue
            spec = _spec(rule)
            twin = _twin(rule, spec, nxt)
            checks.append(_check(rule, spec, twin))
            i += 2 if twin is not None else 1
        doc[f"checks for {table}"] = checks
    return doc


def _fail(rule: Rule, what: str) -> RuleError:
    return RuleError(f"rule {rule.name}: {what}")


def _single(rule: Rule) -> list[Rule]:
    """A several-column ``not_null`` as one rule per column, named as its checks are."""
    if rule.kind != "not_null" or isinstance(rule.target, str):
        return [rule]
    name = rule.options.get("name")
    return [Rule("not_null", col, {**rule.options, "name": None if name is None else f"{name}[{col}]"})
            for col in rule.target]  # fmt: skip


def _twin(rule: Rule, spec: _Spec, nxt: Rule | None) -> tuple[Rule, _Spec] | None:
    """The warn rule that makes one check with ``rule``, read from a check
    with both ``warn:`` and ``fail:``."""
    if nxt is None or rule.severity != "error" or nxt.severity != "warn" or nxt.name != f"{rule.name}_warn":
        return None
    if nxt.kind != rule.kind or spec.alert is None:
        return None
    try:
        other = _spec(nxt)
    except RuleError:
        return None
    if (other.head, other.config) != (spec.head, spec.config):
        return None
    return nxt, other


def _check(rule: Rule, spec: _Spec, twin: tuple[Rule, _Spec] | None) -> Any:
    cfg: dict[str, Any] = {}
    line = spec.head
    if twin is not None:
        cfg.update(spec.config)
        cfg["warn"], cfg["fail"] = twin[1].alert, spec.alert
    elif rule.severity == "warn":
        if spec.alert is None:
            raise _fail(rule, "severity: Soda cannot warn on this check; it only passes or fails")
        cfg.update(spec.config)
        cfg["warn"] = spec.alert
    else:
        if spec.inline is not None:
            line = f"{spec.head} {spec.inline}".strip()
        cfg.update(spec.config)
        if spec.inline is None and spec.alert != spec.default_alert:
            cfg["fail"] = spec.alert
    name = rule.options.get("name")
    if name is not None and name != line:
        cfg = {"name": name, **cfg}
    return {line: cfg} if cfg else line


def _spec(rule: Rule) -> _Spec:
    if "by" in rule.options:
        raise _fail(rule, "by: SodaCL judges a check over the whole dataset, not per group")
    try:
        return _SPECS[rule.kind](rule) if rule.kind in _SPECS else _unknown(rule)
    except Unfit as exc:
        raise _fail(rule, str(exc)) from None


def _unknown(rule: Rule) -> _Spec:
    raise _fail(rule, f"{rule.kind}: no SodaCL check counts the same way")


def _filter(rule: Rule) -> dict[str, Any]:
    when = rule.options.get("when")
    if when is None:
        return {}
    if not isinstance(when, str):
        raise _fail(rule, "when: a Polars expression has no SodaCL form; give it as SQL text")
    return {"filter": when}


def _counted(rule: Rule, metric: str, args: str, config: dict[str, Any]) -> _Spec:
    """A check on a count of failing rows (``metric_count``), or on their
    percentage (``metric_percent``) for a share tolerance."""
    tol = rule.tolerance
    config = {**config, **_filter(rule)}
    if tol is None or isinstance(tol, int):
        k = tol or 0
        return _Spec(f"{metric}_count({args})", config, "= 0" if k == 0 else f"< {k + 1}", f"when > {k}")
    spec = tolerance_spec(rule.name, tol)
    assert spec is not None
    inline, bad = share_threshold(spec["fraction"])
    return _Spec(f"{metric}_percent({args})", config, inline, f"when {bad}")


def _not_null(rule: Rule) -> _Spec:
    return _counted(rule, "missing", quote_name(rule.target), {})


_MISSING = re.compile(
    r"^(?P<q>\"(?:[^\"]|\"\")+\"|[A-Za-z_][A-Za-z0-9_]*) IS NOT NULL"
    r"(?: AND (?P=q) NOT IN \((?P<values>.*)\))?"
    r"(?: AND NOT regexp_like\((?P=q), '(?P<regex>(?:[^']|'')*)'\))?$",
    re.S,
)


def _missing_form(sql: str) -> tuple[str, dict[str, Any]] | None:
    """The column, missing values and missing regex of an expression
    written as a Soda missing check reads."""
    m = _MISSING.match(sql)
    if m is None:
        return None
    q = m.group("q")
    col = q[1:-1].replace('""', '"') if q.startswith('"') else q
    cfg: dict[str, Any] = {}
    if m.group("values") is not None:
        values: list[Any] = []
        for item in split_list(m.group("values")):
            if item.startswith("'") and item.endswith("'"):
                values.append(item[1:-1].replace("''", "'"))
            elif re.fullmatch(r"-?\d+", item):
                values.append(int(item))
            else:
                try:
                    values.append(float(item))
                except ValueError:
                    return None
        cfg["missing values"] = values
    if m.group("regex") is not None:
        cfg["missing regex"] = m.group("regex").replace("''", "'")
    if missing_sql(col, cfg.get("missing values"), cfg.get("missing regex")) != sql:
        return None
    return col, cfg


def _expression(rule: Rule) -> _Spec:
    if not isinstance(rule.target, str):
        raise Unfit("expression: a Polars expression has no SodaCL form; give the predicate as SQL text")
    form = _missing_form(rule.target)
    if form is not None:
        return _counted(rule, "missing", quote_name(form[0]), form[1])
    tol = rule.tolerance
    if tol is not None and not isinstance(tol, int):
        raise Unfit("tolerance: a failed rows check counts rows; give the tolerance as a count")
    condition = predicate_of(rule.target)
    when = _filter(rule).get("filter")
    if when is not None:
        condition = f"({when}) AND ({condition})"  # a failed rows check takes no filter of its own
    k = tol or 0
    return _Spec("failed rows", {"fail condition": condition}, None, f"when > {k}", "when > 0")


def _values(rule: Rule) -> list[Any]:
    values = list(rule.options["values"])
    if not values or not (
        all(isinstance(v, str) for v in values)
        or all(isinstance(v, Number) and not isinstance(v, bool) and v == v for v in values)  # no NaN
    ):
        raise Unfit("values: Soda takes a list of only text or only numbers")
    return values


def _validity(rule: Rule) -> _Spec:
    k, o = rule.kind, rule.options
    cfg: dict[str, Any]
    if k == "is_in":
        cfg = {"valid values": _values(rule)}
    elif k == "not_in":
        cfg = {"invalid values": _values(rule)}
    elif k in ("matches", "not_matches"):
        cfg = {("valid regex" if k == "matches" else "invalid regex"): o["pattern"]}
    elif k == "is_uuid":
        if o.get("version") is not None:
            raise Unfit("version: Soda's uuid format takes any version")
        cfg = {"valid format": "uuid"}
    elif k == "length_between":
        lo, hi = o.get("min"), o.get("max")
        cfg = {"valid length": lo} if lo is not None and lo == hi else {}
        if not cfg:
            cfg = {key: v for key, v in (("valid min length", lo), ("valid max length", hi)) if v is not None}
    else:  # between
        if o.get("min_inclusive") is False or o.get("max_inclusive") is False:
            raise Unfit("an open bound; Soda's valid min and valid max are inclusive")
        cfg = {}
        for key, side in (("valid min", "min"), ("valid max", "max")):
            if o.get(side) is not None:
                number_text(o[side])  # a number, or no SodaCL form
                cfg[key] = float(o[side]) if not isinstance(o[side], (int, float)) else o[side]
    return _counted(rule, "invalid", quote_name(rule.target), cfg)


def _unique(rule: Rule) -> _Spec:
    if rule.options.get("count", "keys") != "keys":
        raise Unfit(
            f"count: Soda's duplicate_count counts the keys that repeat, not {rule.options['count']!r}"
        )
    if rule.options.get("nulls", "distinct") != "distinct":
        raise Unfit("nulls: Soda's duplicate_count leaves out rows with a null in the key")
    cols = [rule.target] if isinstance(rule.target, str) else list(rule.target)
    return _counted(rule, "duplicate", ", ".join(quote_name(c) for c in cols), {})


def _plain(rule: Rule) -> None:
    """Checks that only pass or fail on any failing row: no tolerance, no filter."""
    if rule.tolerance is not None:
        raise Unfit("tolerance: Soda's check fails on any failing row")
    if rule.options.get("when") is not None:
        raise Unfit("when: Soda's check takes no filter")


def _relationships(rule: Rule) -> _Spec:
    _plain(rule)
    to, field = rule.options["to"], rule.options.get("field")
    if not isinstance(to, str):
        raise Unfit("to: a frame has no SodaCL form; name the table as 'table.column'")
    cols = [rule.target] if isinstance(rule.target, str) else list(rule.target)
    table, _, col = to.partition(".")
    fields = [col] if col else ([field] if isinstance(field, str) else list(field or cols))
    line = f"values in {join_columns(cols)} must exist in {_table(table)} {join_columns(fields)}"
    return _Spec(line, {}, "", None)


def _compound(rule: Rule, nxt: Rule | None) -> Any:
    """A compound ``relationships`` with the rule that fails a key with only
    some columns null: Soda's reference check does both."""
    expected = partial_key_sql(list(rule.target))
    if not (
        nxt is not None
        and nxt.kind == "expression"
        and nxt.target == expected
        and nxt.name == f"{rule.name}_partial_key"
        and nxt.severity == rule.severity
        and {k: v for k, v in nxt.options.items() if k != "name"}
        == {k: v for k, v in rule.options.items() if k in ("severity", "when")}
    ):
        raise _fail(
            rule,
            "Soda's reference check also fails a row whose key is only partly null, which relationships "
            f"lets pass; follow it with expression({expected!r}, name='{rule.name}_partial_key')",
        )
    return _check(rule, _spec(rule), None)


def _row_count(rule: Rule) -> _Spec:
    t = rule.target
    lo, hi = t.get("min"), t.get("max")
    a, b = (None if v is None else number_text(v) for v in (lo, hi))
    if lo is not None and hi is not None:
        inline, bad = (
            (f"= {a}", f"!= {a}") if lo == hi else (f"between {a} and {b}", f"not between {a} and {b}")
        )
    elif lo is not None:
        inline, bad = ("> 0" if lo == 1 else f">= {a}"), f"< {a}"
    elif hi is not None:
        inline, bad = f"<= {b}", f"> {b}"
    else:
        raise Unfit("row_count: no bound; a SodaCL check needs a threshold")
    return _Spec("row_count", _filter(rule), inline, f"when {bad}")


def _row_count_matches(rule: Rule) -> _Spec:
    if rule.options.get("when") is not None:
        raise Unfit("when: Soda's row_count same as takes no filter")
    if not isinstance(rule.target, str):
        raise Unfit("to: a frame has no SodaCL form; name the warehouse table")
    if rule.options.get("within"):
        raise Unfit("within: Soda's row_count same as wants equal counts")
    return _Spec(f"row_count same as {_table(rule.target)}", {}, "", None)


def _table(name: str) -> str:
    if re.search(r"[\s()\[\],\"`]", name):
        raise Unfit(f"{name!r}: SodaCL names another table as a plain word")
    return name


def _freshness(rule: Rule) -> _Spec:
    age = rule.options["max_age"]
    text = age if isinstance(age, str) and re.fullmatch(r"(?:\d+[dhm])+", age) else None
    text = text or duration_text(parse_duration(rule.name, age))
    return _Spec(f"freshness({quote_name(rule.target)})", {}, f"< {text}", f"when > {text}")


def _schema(rule: Rule) -> _Spec:
    columns = dict(rule.target)
    key = "when mismatching columns" if rule.options.get("strict") else "when wrong column type"
    return _Spec("schema", {}, None, {key: columns})


def _aggregate(rule: Rule) -> _Spec:
    o = rule.options
    lo, hi = o.get("min"), o.get("max")
    lo_in, hi_in = o.get("min_inclusive", True), o.get("max_inclusive", True)
    a, b = (None if v is None else number_text(v) for v in (lo, hi))
    if lo is not None and hi is not None:
        if lo == hi and lo_in and hi_in:
            inline, bad = f"= {a}", f"!= {a}"
        else:
            left, right = ("" if lo_in and hi_in else "[" if lo_in else "("), (
                "" if lo_in and hi_in else "]" if hi_in else ")")  # fmt: skip
            inline = f"between {left}{a} and {b}{right}"
            bad = f"not {inline}"
    elif lo is not None:
        inline, bad = (f">= {a}", f"< {a}") if lo_in else (f"> {a}", f"<= {a}")
    elif hi is not None:
        inline, bad = (f"<= {b}", f"> {b}") if hi_in else (f"< {b}", f">= {b}")
    else:
        raise Unfit(f"{rule.kind}: no bound; a SodaCL check needs a threshold")
    return _Spec(f"{AGGREGATES[rule.kind]}({quote_name(rule.target)})", _filter(rule), inline, f"when {bad}")


_SPECS: Mapping[str, Any] = {
    "not_null": _not_null,
    "expression": _expression,
    **dict.fromkeys(
        ("is_in", "not_in", "matches", "not_matches", "is_uuid", "length_between", "between"), _validity
    ),
    "unique": _unique,
    "relationships": _relationships,
    "row_count": _row_count,
    "row_count_matches": _row_count_matches,
    "freshness": _freshness,
    "schema": _schema,
    **dict.fromkeys(AGGREGATES, _aggregate),
}
