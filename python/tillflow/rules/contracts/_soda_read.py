"""SodaCL checks read into tillflow rules; the mapping is told in ``_soda``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from numbers import Number
from typing import Any

from tillflow.exceptions import RuleError
from tillflow.rules import _constructors as c
from tillflow.rules import _measures as m
from tillflow.rules import _texts as t
from tillflow.rules._rule import Rule
from tillflow.rules._ruleset import RuleSet
from tillflow.rules.contracts._common import Key, Tables, invalid, unsupported
from tillflow.rules.contracts._soda_grammar import (
    Unfit,
    Zone,
    Zones,
    complement,
    count_range,
    count_tolerance,
    duration_text,
    interval_of,
    missing_sql,
    parse_metric,
    parse_reference,
    parse_threshold,
    partial_key_sql,
    predicate_of,
    share_of,
)

__all__ = ["looks_like", "read"]

FMT = "soda"
CHECKS = re.compile(r"^checks for\s+(\S+?)(?:\s+\[([^\]]+)\])?\s*$")
FILTER = re.compile(r"^filter\s+(\S+?)\s+\[([^\]]+)\]\s*$")
# Keys that steer Soda Cloud or failed-row samples, not what passes.
DESCRIPTIVE = ("identity", "attributes", "samples limit", "samples columns", "collect failed rows")
VALIDITY = ("valid values", "invalid values", "valid format", "invalid format", "valid regex",
            "invalid regex", "valid min", "valid max", "valid length", "valid min length",
            "valid max length")  # fmt: skip
MISSING = ("missing values", "missing regex", "missing format")
AGGREGATES = {"min": "min_between", "max": "max_between", "avg": "mean_between", "sum": "sum_between",
              "stddev": "stddev_between", "stddev_samp": "stddev_between"}  # fmt: skip
NOT_EXACT = {
    "stddev_pop": "tillflow's stddev is the sample standard deviation",
    "variance": "tillflow has no variance check (a bound on the standard deviation is not exact in floats)",
    "var_pop": "tillflow has no variance check",
    "var_samp": "tillflow has no variance check (a bound on the standard deviation is not exact in floats)",
    "percentile": "Soda's percentile is discrete (percentile_disc), tillflow's quantile interpolates",
    "percentile_disc": "Soda's percentile is discrete, tillflow's quantile interpolates",
    "avg_length": "tillflow has no check on the mean length",
    "valid_count": "tillflow counts failing rows, not valid ones",
    "valid_percent": "tillflow counts failing rows, not valid ones",
    "distribution_difference": "a distribution check needs a reference distribution and Soda Scientific",
}
SECTIONS = ("for each dataset", "for each table", "for each column", "configurations for", "variables",
            "automated monitoring", "profile columns", "discover datasets", "discover tables",
            "sample datasets", "sample tables", "checks", "reconciliation")  # fmt: skip


def looks_like(data: Any) -> bool:
    """Whether ``data`` has a ``checks for TABLE`` section."""
    return isinstance(data, Mapping) and any(isinstance(k, str) and CHECKS.match(k) for k in data)


def read(data: Any) -> Tables:
    """The rules of a SodaCL checks file, per ``checks for`` table."""
    if not isinstance(data, Mapping):
        raise invalid(
            FMT, [], f"expected a mapping of 'checks for TABLE' sections, got {type(data).__name__}"
        )
    filters: dict[tuple[str, str], str] = {}
    for key, value in data.items():
        m_ = FILTER.match(key) if isinstance(key, str) else None
        if m_:
            where = value.get("where") if isinstance(value, Mapping) else None
            if not isinstance(where, str) or not where.strip() or set(value) != {"where"}:
                raise invalid(FMT, [key], "a dataset filter is {where: SQL condition}")
            filters[(m_.group(1), m_.group(2).strip())] = where.strip()
    out: dict[str, list[Rule]] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise invalid(FMT, [str(key)], f"{key!r} is not a SodaCL section")
        m_ = CHECKS.match(key)
        if m_ is None:
            if FILTER.match(key):
                continue
            if key.startswith(SECTIONS):
                raise unsupported(FMT, [key], f"section '{key}'", "it holds no checks of one table")
            raise invalid(FMT, [key], f"{key!r} is not a SodaCL section ('checks for TABLE')")
        table, part = m_.group(1), m_.group(2)
        where = None
        if part is not None:
            where = filters.get((table, part.strip()))
            if where is None:
                raise invalid(FMT, [key], f"the filter [{part}] is not declared ('filter {table} [{part}]')")
        if not isinstance(value, list):
            raise invalid(FMT, [key], "a checks section is a list of checks")
        rules = out.setdefault(table, [])
        names = {r.name for r in rules}
        for i, item in enumerate(value):
            got = _item(item, [key, i], where)
            if any(r.name in names for r in got):
                # Soda names a check by its line unless told otherwise; so does tillflow, on a clash.
                got = _item(item, [key, i], where, by_line=True)
            for rule in got:
                if rule.name in names:
                    raise invalid(FMT, [key, i], f"two checks are named {rule.name!r}; give one a name:")
                names.add(rule.name)
                rules.append(rule)
    return {table: RuleSet(rules) for table, rules in out.items()}


class _Check:
    """One check item: its line, its configuration, where it is, and the
    configuration keys read so far (the rest are errors)."""

    def __init__(
        self, raw: str, cfg: Mapping[str, Any], at: list[Key], where: str | None, by_line: bool
    ) -> None:
        self.raw, self.line = raw, " ".join(raw.split())  # the key as written (for the path), and as read
        self.cfg, self.at, self.where, self.by_line = cfg, at, where, by_line
        self.used: set[str] = set(DESCRIPTIVE)

    def get(self, key: str, kind: type | tuple[type, ...] = object) -> Any:
        self.used.add(key)
        value = self.cfg.get(key)
        if value is not None and not isinstance(value, kind):
            raise self.invalid(f"{key}: expected {getattr(kind, '__name__', 'a value')}, got {value!r}", key)
        return value

    def invalid(self, what: str, key: str | None = None) -> RuleError:
        return invalid(FMT, self.path(key), f"{self.line}: {what}")

    def unsupported(self, why: str, key: str | None = None, item: str | None = None) -> RuleError:
        return unsupported(FMT, self.path(key), item or self.line, why)

    def path(self, key: str | None = None) -> list[Key]:
        return self.at if key is None or not self.cfg else [*self.at, self.raw, key]

    def done(self) -> None:
        for key in self.cfg:
            if key not in self.used:
                raise self.invalid(f"{key}: not a configuration this check takes", key)

    def when(self, filter_ok: bool = True) -> str | None:
        given = self.get("filter", str) if filter_ok else None
        parts = [p.strip() for p in (self.where, given) if p and p.strip()]
        return parts[0] if len(parts) == 1 else (f"({parts[0]}) AND ({parts[1]})" if parts else None)

    def alerts(self, threshold: str | None, durations: bool = False) -> tuple[Zones | None, Zones | None]:
        """Where the check fails, and where it warns."""
        fail_text, warn_text = self.get("fail"), self.get("warn")
        if threshold is not None:
            if fail_text is not None or warn_text is not None:
                raise self.invalid("a threshold in the line and warn:/fail: as well; Soda uses only the line")
            return complement(self._zones(threshold, durations, None)), None
        fail = None if fail_text is None else self._alert(fail_text, "fail", durations)
        warn = None if warn_text is None else self._alert(warn_text, "warn", durations)
        if fail is None and warn is None:
            raise self.invalid("no threshold; give one in the line or as fail: when ...")
        return fail, warn

    def _alert(self, text: Any, key: str, durations: bool) -> Zones:
        if not isinstance(text, str) or not text.strip().startswith("when "):
            raise self.invalid(f"{key}: expected 'when' and a threshold, such as 'when > 5'", key)
        return self._zones(text.strip()[5:], durations, key)

    def _zones(self, text: str, durations: bool, key: str | None) -> Zones:
        try:
            return parse_threshold(text, durations)
        except Unfit as exc:
            if str(exc).startswith("${"):
                raise self.unsupported(str(exc), key) from None
            raise self.invalid(str(exc), key) from None

    def rules(
        self, fail: Zones | None, warn: Zones | None, make: Callable[[Zones, dict[str, Any]], Rule]
    ) -> list[Rule]:
        """The error rule for ``fail`` and the warn rule for ``warn``; with
        both, the warn rule is named after the error rule with ``_warn``."""
        name = self.get("name", str) or (self.line if self.by_line else None)
        out: list[Rule] = []
        try:
            if fail is not None:
                out.append(make(fail, {"name": name}))
            if warn is not None:
                wname = f"{out[0].name}_warn" if out else name
                out.append(make(warn, {"name": wname, "severity": "warn"}))
        except (Unfit, RuleError) as exc:  # a RuleError: a pattern or SQL tillflow cannot run
            raise self.unsupported(str(exc)) from None
        self.done()
        return out


def _item(item: Any, at: list[Key], where: str | None, by_line: bool = False) -> list[Rule]:
    cfg: Any
    if isinstance(item, str):
        line, cfg = item, {}
    elif isinstance(item, Mapping) and len(item) == 1 and isinstance(next(iter(item)), str):
        line, cfg = next(iter(item.items()))
        if cfg is None:
            cfg = {}
        if not isinstance(cfg, Mapping):
            raise invalid(FMT, at, f"{line}: its configuration must be a mapping, got {cfg!r}")
    else:
        raise invalid(
            FMT, at, f"a check is a line, or a one-key mapping of a line to its configuration; got {item!r}"
        )
    ck = _Check(line, cfg, at, where, by_line)
    line = ck.line
    if line == "attributes":
        return []  # the dataset's attributes, for Soda Cloud
    if line == "schema":
        return _schema(ck)
    if line == "failed rows":
        return _failed_rows(ck)
    if line.startswith("freshness using "):
        raise ck.unsupported("the deprecated form with a NOW variable; write freshness(column) < 1d")
    if line in ("group by", "group evolution") or line.startswith(("change ", "anomaly ")):
        raise ck.unsupported("it compares the data with earlier scans or per group, not as it is")
    if line.startswith("row_count same as"):
        return _row_count_same(ck)
    if line.startswith("values in"):
        return _reference(ck)
    try:
        metric, args, threshold = parse_metric(line)
    except Unfit as exc:
        raise ck.invalid(str(exc)) from None
    for key in ck.cfg:
        if key.endswith((" query", " expression", " sql_file")):
            raise ck.unsupported("a user-defined metric (SQL run by Soda)", key)
    if metric in NOT_EXACT:
        raise ck.unsupported(NOT_EXACT[metric])
    if metric == "freshness":
        return _freshness(ck, args, threshold)
    fail, warn = ck.alerts(threshold)
    if metric == "row_count":
        _args(ck, args, 0)
        when = ck.when()

        def rows(z: Zones, o: dict[str, Any]) -> Rule:
            lo, hi = count_range(z)
            return c.row_count(min=lo, max=hi, when=when, **o)

        return ck.rules(fail, warn, rows)
    if metric in ("missing_count", "missing_percent"):
        return _missing(ck, _args(ck, args, 1)[0], metric.endswith("percent"), fail, warn)
    if metric in ("invalid_count", "invalid_percent"):
        return _invalid(ck, _args(ck, args, 1)[0], metric.endswith("percent"), fail, warn)
    if metric in ("duplicate_count", "duplicate_percent"):
        cols, share = _args(ck, args, -1), metric.endswith("percent")
        _no_config(ck, VALIDITY + MISSING, "Soda's duplicate count ignores it")
        when = ck.when()
        return ck.rules(fail, warn, lambda z, o: c.unique(*cols, count="keys", tolerance=_tol(z, share),
                                                          when=when, **o))  # fmt: skip
    if metric in AGGREGATES or metric in ("min_length", "max_length"):
        col = _args(ck, args, 1)[0]
        _no_config(ck, VALIDITY + MISSING, "Soda then leaves missing and invalid values out of the metric")
        when = ck.when()
        if metric in AGGREGATES:
            kind = AGGREGATES[metric]
            return ck.rules(
                fail, warn, lambda z, o: Rule(kind, col, {**_bounds(interval_of(z)), "when": when, **o})
            )
        return ck.rules(fail, warn, lambda z, o: _length(metric, col, z, when, o))
    raise ck.unsupported("not a SodaCL metric tillflow knows (a user-defined metric needs its own query)")


def _args(ck: _Check, args: list[Any], n: int) -> list[str]:
    if (n >= 0 and len(args) != n) or (n < 0 and not args) or not all(isinstance(a, str) for a in args):
        want = "no argument" if n == 0 else "one column" if n == 1 else "one or more columns"
        raise ck.invalid(f"expected {want} in brackets")
    return args


def _no_config(ck: _Check, keys: Sequence[str], why: str) -> None:
    for key in keys:
        if key in ck.cfg:
            raise ck.unsupported(why, key, f"{ck.line}: {key}")


def _tol(zones: Zones, share: bool) -> float | int | None:
    return share_of(zones) if share else (count_tolerance(zones) or None)


def _bounds(z: Zone) -> dict[str, Any]:
    return {
        "min": z.lo,
        "max": z.hi,
        "min_inclusive": False if z.lo is not None and not z.lo_in else None,
        "max_inclusive": False if z.hi is not None and not z.hi_in else None,
    }


def _length(metric: str, col: str, zones: Zones, when: str | None, o: dict[str, Any]) -> Rule:
    lo, hi = count_range(zones)
    if metric == "max_length" and lo is None and hi is not None:
        return t.length_between(col, max=hi, when=when, **o)
    if metric == "min_length" and hi is None and lo is not None:
        return t.length_between(col, min=lo, when=when, **o)
    side = "at most" if metric == "max_length" else "at least"
    raise Unfit(f"only {metric} kept {side} a length bounds every value, as a length rule does")


def _values(ck: _Check, key: str) -> list[Any]:
    values = ck.get(key, list)
    if not values or not (
        all(isinstance(v, str) for v in values)
        or all(isinstance(v, Number) and not isinstance(v, bool) for v in values)
    ):
        raise ck.invalid(f"{key}: a list of only strings or only numbers, as Soda takes", key)
    return values


def _missing(ck: _Check, col: str, share: bool, fail: Zones | None, warn: Zones | None) -> list[Rule]:
    ck.used.update((*VALIDITY, "include null"))  # Soda's missing count reads none of them
    _no_config(ck, ("missing format",), "Soda's formats are its own patterns")
    values = _values(ck, "missing values") if "missing values" in ck.cfg else None
    regex = ck.get("missing regex", str)
    when = ck.when()
    if values is None and regex is None:
        return ck.rules(fail, warn, lambda z, o: c.not_null(col, tolerance=_tol(z, share), when=when, **o))
    sql = missing_sql(col, values, regex)
    return ck.rules(fail, warn, lambda z, o: c.expression(sql, tolerance=_tol(z, share), when=when, **o))


def _invalid(ck: _Check, col: str, share: bool, fail: Zones | None, warn: Zones | None) -> list[Rule]:
    if ck.get("include null", bool):
        _no_config(ck, ("include null",), "it counts nulls as invalid too")
    _no_config(ck, ("missing regex", "missing format"), "a validity check leaving out values by a pattern")
    missing = _values(ck, "missing values") if "missing values" in ck.cfg else []
    keys = frozenset(k for k in VALIDITY if k in ck.cfg)
    kind, opts = _validity(ck, keys, missing)
    when = ck.when()
    return ck.rules(
        fail, warn, lambda z, o: Rule(kind, col, {**opts, "tolerance": _tol(z, share), "when": when, **o})
    )


def _validity(ck: _Check, keys: frozenset[str], missing: list[Any]) -> tuple[str, dict[str, Any]]:
    if not keys:
        raise ck.invalid("names no valid or invalid values; Soda counts nothing invalid then")
    if missing and keys not in ({"valid values"}, {"invalid values"}):
        raise ck.unsupported("missing values alongside ranges, lengths or patterns", "missing values")
    if keys == {"valid values"}:
        values = _values(ck, "valid values")
        return "is_in", {"values": values + [v for v in missing if v not in values]}
    if keys == {"invalid values"}:
        return "not_in", {"values": [v for v in _values(ck, "invalid values") if v not in missing]}
    if keys <= {"valid min", "valid max"}:
        lo, hi = (ck.get(k, (int, float)) for k in ("valid min", "valid max"))
        if isinstance(lo, bool) or isinstance(hi, bool):
            raise ck.invalid("valid min and valid max are numbers")
        if lo is not None and hi is not None and lo > hi:
            raise ck.invalid("valid min is above valid max")
        return "between", {"min": lo, "max": hi}
    if keys <= {"valid min length", "valid max length"} or keys == {"valid length"}:
        lo, hi, n = (ck.get(k, int) for k in ("valid min length", "valid max length", "valid length"))
        if any(isinstance(v, bool) for v in (lo, hi, n)):
            raise ck.invalid("lengths are whole numbers")
        return "length_between", {"min": n if n is not None else lo, "max": n if n is not None else hi}
    if keys == {"valid regex"} or keys == {"invalid regex"}:
        key = next(iter(keys))
        pattern = ck.get(key, str)
        return ("matches" if key == "valid regex" else "not_matches"), {"pattern": pattern}
    if keys == {"valid format"}:
        fmt = ck.get("valid format", str)
        if fmt == "uuid":
            return "is_uuid", {}
        raise ck.unsupported(_FORMAT_WHY.get(fmt, "tillflow has no validator for it"), "valid format",
                             f"valid format: {fmt}")  # fmt: skip
    if keys == {"invalid format"}:
        fmt = ck.get("invalid format", str)
        raise ck.unsupported("tillflow has no check that fails values of a format", "invalid format",
                             f"invalid format: {fmt}")  # fmt: skip
    raise ck.unsupported(f"{', '.join(sorted(keys))} together: Soda counts a value once when it breaks any, "
                         "tillflow rules count each alone")  # fmt: skip


_FORMAT_WHY = {
    "email": "Soda's email format is its own pattern (a top-level domain of 2 to 4 ASCII letters, Latin "
    "letters only), not the HTML standard tillflow's is_email follows",
    "ip address": "Soda's pattern takes any four groups of 1 to 3 digits (999.1.1.1 too); tillflow's is_ipv4 "
    "takes only addresses",
    "ipv4 address": "Soda's pattern takes any four groups of 1 to 3 digits (999.1.1.1 too); tillflow's "
    "is_ipv4 takes only addresses",
    "ipv6 address": "Soda's pattern differs from the address syntax tillflow's is_ipv6 follows",
    "phone number": "Soda's pattern is its own, not E.164 (tillflow's is_e164)",
    "credit card number": "Soda's pattern checks digits and groups, tillflow's is_card_number the Luhn sum",
}


def _freshness(ck: _Check, args: list[Any], threshold: str | None) -> list[Rule]:
    if len(args) == 2:
        raise ck.unsupported("a NOW variable; tillflow measures from validate(now=...)")
    col = _args(ck, args, 1)[0]
    if ck.where or "filter" in ck.cfg:
        raise ck.unsupported("a filter; tillflow's freshness looks at every row", "filter")
    fail, warn = ck.alerts(threshold, durations=True)

    def make(z: Zones, o: dict[str, Any]) -> Rule:
        # Soda fails when the age is above the duration, whether the line says < or <=.
        if len(z) != 1 or z[0].lo is None or z[0].hi is not None:
            raise Unfit("Soda's freshness takes '< DURATION' in the line, or 'when > DURATION' as an alert")
        return c.freshness(col, duration_text(z[0].lo), **o)

    return ck.rules(fail, warn, make)


def _schema(ck: _Check) -> list[Rule]:
    from tillflow.rules._values import schema_type

    blocks = {key: ck.get(key, dict) for key in ("fail", "warn")}
    if not any(blocks.values()):
        raise ck.invalid("a schema check has fail: or warn: validations")

    def make(_z: Zones, o: dict[str, Any]) -> Rule:
        block = blocks["warn" if o.get("severity") == "warn" else "fail"] or {}
        for key in block:
            if key not in (
                "when wrong column type",
                "when mismatching columns",
                "when required column missing",
            ):
                raise Unfit(f"{key}: tillflow's schema rule checks columns' presence and types only")
        types, exact = block.get("when wrong column type"), block.get("when mismatching columns")
        if (types is None) == (exact is None):
            raise Unfit("tillflow's schema rule needs each column's type: give 'when wrong column type' "
                        "or 'when mismatching columns'")  # fmt: skip
        given = types if types is not None else exact
        if not isinstance(given, Mapping) or not given:
            raise Unfit("the columns and types are a mapping of column to type")
        for col, ty in given.items():
            try:
                schema_type("schema", col, ty)
            except RuleError:
                raise Unfit(f"{col}: {ty!r} is a warehouse's type name; tillflow's schema rule knows int, "
                            "float, number, decimal, bool, string, date, datetime") from None  # fmt: skip
        left = [str(col) for col in block.get("when required column missing") or [] if col not in given]
        if left:
            raise Unfit(f"{', '.join(left)}: required without a type, which tillflow's schema rule needs")
        return c.schema(dict(given), strict=True if exact is not None else None, **o)

    whole = (Zone(),)
    return ck.rules(whole if blocks["fail"] else None, whole if blocks["warn"] else None, make)


def _failed_rows(ck: _Check) -> list[Rule]:
    if "fail query" in ck.cfg:
        raise ck.unsupported("a SQL query run by Soda", "fail query", "failed rows: fail query")
    condition = ck.get("fail condition", str)
    if not condition or not condition.strip():
        raise ck.invalid("a failed rows check needs a fail condition")
    sql = predicate_of(condition)
    fail, warn = (None, None) if "fail" not in ck.cfg and "warn" not in ck.cfg else ck.alerts(None)
    if fail is None and warn is None:
        fail = (Zone(0, False),)  # fails on any failing row
    when = ck.when(filter_ok=False)
    return ck.rules(fail, warn, lambda z, o: c.expression(sql, tolerance=_tol(z, False), when=when, **o))


def _reference(ck: _Check) -> list[Rule]:
    try:
        cols, negated, table, fields = parse_reference(ck.line)
    except Unfit as exc:
        raise ck.invalid(str(exc)) from None
    if negated:
        raise ck.unsupported("tillflow has no check that values are absent from another table")
    if "." in table:
        raise ck.unsupported("a table named with its schema; tillflow's relationships name a table in it")
    name = ck.get("name", str) or (ck.line if ck.by_line else None)
    ck.done()
    try:
        if len(cols) == 1:
            return [c.relationships(cols[0], to=f"{table}.{fields[0]}", name=name, when=ck.where)]
        rel = Rule("relationships", cols, {"to": table, "field": fields, "name": name, "when": ck.where})
        # Soda's join fails a row with only some key columns null; tillflow's relationships passes it.
        partial = c.expression(partial_key_sql(cols), name=f"{rel.name}_partial_key", when=ck.where)
        return [rel, partial]
    except RuleError as exc:
        raise ck.invalid(str(exc)) from None


def _row_count_same(ck: _Check) -> list[Rule]:
    rest = ck.line[len("row_count same as") :].split()
    if len(rest) != 1:
        raise ck.unsupported("a partition or another data source of the other table")
    name = ck.get("name", str) or (ck.line if ck.by_line else None)
    ck.done()
    try:
        return [m.row_count_matches(rest[0], name=name, when=ck.where)]
    except RuleError as exc:
        raise ck.invalid(str(exc)) from None
