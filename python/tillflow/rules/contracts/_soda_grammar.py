"""SodaCL's text, both ways: check lines, thresholds and durations read into
plain values, and the zones a threshold passes or fails turned into the
tolerances and bounds of tillflow rules (and back).

A SodaCL threshold is a set of metric values: ``< 5`` passes below 5; an
alert ``fail: when > 5`` fails above 5. Soda compares the metric with each
threshold as Python floats. A check's line states where it passes, so it
fails on the complement; ``warn:`` and ``fail:`` state where it warns or
fails. Which tillflow option holds a zone exactly depends on the metric:

- a count of failing rows (``missing_count``, ``invalid_count``,
  ``duplicate_count``, failed rows) fits when it fails exactly above some
  count ``K``: the tolerance ``K``;
- a percentage (``missing_percent``, ...) is ``count * 100 / row_count``
  rounded to two decimals before it is compared: it fits when it fails
  exactly above some two-decimal value, and becomes the share of rows below
  which the rounded percentage stays within it;
- ``row_count`` and text lengths fit a range of whole numbers, aggregates an
  interval of numbers.
"""

from __future__ import annotations

import dataclasses
import decimal
import math
import re
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from tillflow.rules.contracts._common import quote

__all__ = [
    "Unfit",
    "Zone",
    "complement",
    "count_range",
    "count_tolerance",
    "duration_text",
    "interval_of",
    "literal",
    "missing_sql",
    "number_text",
    "parse_metric",
    "parse_reference",
    "parse_threshold",
    "partial_key_sql",
    "predicate_of",
    "quote_name",
    "share_of",
    "share_threshold",
    "split_list",
    "unquote",
]

Number = int | float


class Unfit(ValueError):
    """A SodaCL item tillflow cannot hold exactly, or cannot read; the text
    says why."""


@dataclasses.dataclass(frozen=True)
class Zone:
    """The numbers from ``lo`` to ``hi`` (None: unbounded on that side)."""

    lo: Number | None = None
    lo_in: bool = False
    hi: Number | None = None
    hi_in: bool = False

    def has(self, x: Number) -> bool:
        if self.lo is not None and (x < self.lo or (x == self.lo and not self.lo_in)):
            return False
        return not (self.hi is not None and (x > self.hi or (x == self.hi and not self.hi_in)))


Zones = tuple[Zone, ...]


def inside(zones: Zones, x: Number) -> bool:
    return any(z.has(x) for z in zones)


def complement(zones: Zones) -> Zones:
    """The numbers in none of ``zones``."""
    out: list[Zone] = []
    at: tuple[Number | None, bool] = (None, False)  # where the uncovered part starts (value, included)
    for z in sorted(zones, key=lambda z: (-math.inf if z.lo is None else z.lo, not z.lo_in)):
        if z.lo is not None:
            gap = Zone(at[0], at[1], z.lo, not z.lo_in)
            if _filled(gap):
                out.append(gap)
        if z.hi is None:
            return tuple(out)
        if _position(z.hi, not z.hi_in) > _position(*at):
            at = (z.hi, not z.hi_in)
    out.append(Zone(at[0], at[1], None, False))
    return tuple(out)


def _position(value: Number | None, included: bool) -> tuple[float, int]:
    return (-math.inf if value is None else value, 0 if included else 1)


def _filled(z: Zone) -> bool:
    if z.lo is None or z.hi is None:
        return True
    return z.lo < z.hi or (z.lo == z.hi and z.lo_in and z.hi_in)


# -- thresholds

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_VALUE = rf"(?:{_NUMBER}(?:\s*%)?|(?:\d+[dhm])+|\$\{{[^}}]*\}})"
_OPS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_COMPARE = re.compile(rf"^(<=|>=|!=|<>|=|<|>)\s*({_VALUE})$")
_BETWEEN = re.compile(rf"^(not\s+)?between\s+([\[(]?)\s*({_VALUE})\s+and\s+({_VALUE})\s*([\])]?)$", re.I)
_DURATION = re.compile(r"^(?:\d+[dhm])+$")
_SECONDS = {"d": 86400, "h": 3600, "m": 60}


def _value(text: str, durations: bool) -> Number:
    text = text.strip()
    if text.startswith("${"):
        raise Unfit(f"{text}: a variable, known only when Soda scans")
    if _DURATION.match(text):
        if not durations:
            raise Unfit(f"{text}: a duration, where the metric is a number")
        return sum(int(n) * _SECONDS[u] for n, u in re.findall(r"(\d+)([dhm])", text))
    if durations:
        raise Unfit(f"{text}: expected a duration such as 1d or 6h30m")
    number = text.rstrip("%").strip().lstrip("+")
    if re.fullmatch(r"-?\d+", number):
        return int(number)
    return float(number)


def parse_threshold(text: str, durations: bool = False) -> Zones:
    """The values ``text`` (``< 5``, ``between (1 and 5]``, ``not between 1
    and 5``, ``!= 0``, ``5%``, ``< 1d``) stands for. Soda reads a ``%`` after
    a number as decoration; durations become seconds.

    Raises
    ------
    Unfit
        If ``text`` is not a SodaCL threshold.
    """
    text = " ".join(text.split())
    m = _COMPARE.match(text)
    if m:
        op, v = m.group(1), _value(m.group(2), durations)
        return {
            "<": (Zone(None, False, v, False),),
            "<=": (Zone(None, False, v, True),),
            ">": (Zone(v, False, None, False),),
            ">=": (Zone(v, True, None, False),),
            "=": (Zone(v, True, v, True),),
        }.get(op) or (Zone(None, False, v, False), Zone(v, False, None, False))
    m = _BETWEEN.match(text)
    if m:
        lo, hi = _value(m.group(3), durations), _value(m.group(4), durations)
        if lo > hi:
            raise Unfit(f"{text}: the lower bound is above the upper one")
        zone = (Zone(lo, m.group(2) != "(", hi, m.group(5) != ")"),)
        return complement(zone) if m.group(1) else zone
    raise Unfit(f"{text!r} is not a SodaCL threshold (such as '< 5', '>= 1', 'between 1 and 10')")


# -- zones to tillflow


def count_tolerance(fail: Zones) -> int:
    """The failing rows a count tolerates when it fails on ``fail``: ``K``
    when the counts failing are exactly those above ``K``."""
    ranges = _whole(fail)
    if not ranges:
        raise Unfit("it never fails")
    if len(ranges) != 1 or ranges[0][1] is not None:
        raise Unfit("it does not fail exactly above a number of rows, as a tolerance does")
    if ranges[0][0] == 0:
        raise Unfit("it never passes")
    return ranges[0][0] - 1


def count_range(fail: Zones) -> tuple[int | None, int | None]:
    """The whole numbers that pass, as ``(min, max)`` (None: open), when they
    form one range."""
    ranges = _whole(complement(fail))
    if not ranges:
        raise Unfit("it never passes")
    if len(ranges) != 1:
        raise Unfit("it passes on more than one range of values")
    lo, hi = ranges[0]
    if lo == 0 and hi is None:
        raise Unfit("it never fails")
    return (lo or None), hi


def _whole(zones: Zones) -> list[tuple[int, int | None]]:
    """The whole numbers (0 and up) in ``zones``, as merged ``(lo, hi)`` ranges."""
    parts: list[tuple[int, int | None]] = []
    for z in zones:
        lo = 0 if z.lo is None else (math.ceil(z.lo) if z.lo_in else math.floor(z.lo) + 1)
        hi = None if z.hi is None else (math.floor(z.hi) if z.hi_in else math.ceil(z.hi) - 1)
        lo = max(lo, 0)
        if hi is None or hi >= lo:
            parts.append((lo, hi))
    merged: list[tuple[int, int | None]] = []
    for lo, hi in sorted(parts):
        if merged and (merged[-1][1] is None or lo <= merged[-1][1] + 1):
            top = merged[-1][1]
            merged[-1] = (merged[-1][0], None if top is None or hi is None else max(top, hi))
        else:
            merged.append((lo, hi))
    return merged


def interval_of(fail: Zones) -> Zone:
    """The one interval of numbers that passes."""
    passing = complement(fail)
    if not passing:
        raise Unfit("it never passes")
    if len(passing) != 1:
        raise Unfit("it passes on more than one range of values")
    if passing[0] == Zone():
        raise Unfit("it never fails")
    return passing[0]


def _grid(k: int) -> float:
    """The float Soda's two-decimal rounding gives for ``k / 100``."""
    return float(Fraction(k, 100))


def _tie_passes(k: int) -> bool:
    """Whether a share of exactly ``(k + 0.5) / 100`` percent rounds down to
    ``k / 100`` (the float nearest that percentage may lie on either side)."""
    return round(float(Fraction(2 * k + 1, 200)), 2) == _grid(k)


def share_of(fail: Zones) -> float:
    """The fraction of rows a check on a percentage metric tolerates.

    Soda computes ``round(count * 100 / rows, 2)``; the checks that fit fail
    exactly above some two-decimal value ``A``, so they pass while the share
    is below ``(A + 0.005)%``, and at that share when it rounds down. The
    fraction returned is the float of that share (inclusive) or the float
    just below it (exclusive): exact against ``failing / rows`` for any
    table below 10^10 rows.
    """
    passing = [not inside(fail, _grid(k)) for k in range(10001)]
    top = passing.index(False) - 1 if False in passing else 10000
    if top == 10000:
        raise Unfit("it never fails")
    if any(passing[top + 1 :]):
        raise Unfit("it does not fail exactly above a percentage, as a tolerance does")
    if top < 0:
        raise Unfit("it never passes")
    share = float(Fraction(2 * top + 1, 20000))
    return share if _tie_passes(top) else math.nextafter(share, 0.0)


def share_threshold(fraction: float) -> tuple[str, str]:
    """The SodaCL forms of a share tolerance: the line's threshold and the
    alert's condition (``("< 5%", ">= 5%")``).

    Raises
    ------
    Unfit
        If no two-decimal percentage fails exactly where the share does.
    """
    k0 = int((fraction * 20000 - 1) // 2)
    for k in range(max(k0 - 2, 0), min(k0 + 3, 10000)):
        share = float(Fraction(2 * k + 1, 20000))
        tie = _tie_passes(k)
        if fraction == (share if tie else math.nextafter(share, 0.0)):
            # On the two-decimal grid "<= 4.99" and "< 5" are one threshold: the shorter number is written.
            a, up = _percent(k), _percent(k + 1)
            if k == 0:
                return "= 0%", "> 0%"
            if len(up.partition(".")[2]) < len(a.partition(".")[2]):
                return f"< {up}%", f">= {up}%"
            return f"<= {a}%", f"> {a}%"
    raise Unfit(
        "Soda compares a percentage rounded to two decimals, so a check allows a share just under or "
        "up to some x.xx5% of the rows (missing_percent(c) < 5% allows less than 4.995%); this share "
        "is none of those"
    )


def _percent(k: int) -> str:
    return number_text(decimal.Decimal(k) / 100)


# -- writing


def number_text(value: Any) -> str:
    """A number as SodaCL writes it: no exponent."""
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
        raise Unfit(f"{value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise Unfit(f"{value!r} is not a finite number")
    d = decimal.Decimal(repr(value) if isinstance(value, float) else value)
    return format(d.normalize(), "f")


def duration_text(seconds: float) -> str:
    """Seconds as a SodaCL duration (``1d12h``); whole minutes only."""
    if seconds != int(seconds) or int(seconds) % 60:
        raise Unfit(f"{seconds:g} seconds is not a whole number of minutes, as SodaCL durations are")
    left, out = int(seconds), ""
    for unit, size in _SECONDS.items():
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out or "0m"


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def quote_name(name: str) -> str:
    """A column or table as a check line names it (double quotes when not
    a plain word)."""
    if _PLAIN.fullmatch(name):
        return name
    if '"' in name:
        raise Unfit(f"{name!r}: a name with a double quote cannot be written in a check line")
    return f'"{name}"'


# -- check lines


def unquote(name: str) -> str:
    """An identifier without its quotes: ``"id"``, `` `id` `` and ``[id]``."""
    name = name.strip()
    if len(name) >= 2 and (name[0], name[-1]) in (('"', '"'), ("`", "`"), ("[", "]")):
        return name[1:-1]
    return name


def split_list(text: str) -> list[str]:
    """Comma-separated items, commas inside quotes or brackets left alone."""
    out, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'`":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return out


_METRIC = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(\((.*?)\))?\s*(.*)$")


def parse_metric(line: str) -> tuple[str, list[Any], str | None]:
    """``metric(args) threshold`` as ``(metric, args, threshold or None)``;
    args are column names or numbers.

    Raises
    ------
    Unfit
        If ``line`` is not of that form.
    """
    m = _METRIC.match(line.strip())
    if m is None or (m.group(4) and not m.group(4).startswith((*_OPS, "between", "not"))):
        raise Unfit(f"{line!r} is not a SodaCL check")
    args: list[Any] = []
    if m.group(2) is not None and m.group(3).strip():
        for arg in split_list(m.group(3)):
            if not arg:
                raise Unfit(f"{line!r}: an empty argument")
            args.append(_value(arg, False) if re.fullmatch(_NUMBER, arg) else unquote(arg))
    return m.group(1), args, (m.group(4).strip() or None)


_REFERENCE = re.compile(r"^values\s+in\s+(.+?)\s+must\s+(not\s+)?exist\s+in\s+(.+)$", re.I)


def parse_reference(line: str) -> tuple[list[str], bool, str, list[str]]:
    """``values in (a, b) must [not] exist in other (x, y)`` as
    ``(columns, negated, table, other columns)``."""
    m = _REFERENCE.match(" ".join(line.split()))
    if m is None:
        raise Unfit(f"{line!r} is not a SodaCL reference check")
    source = _columns(m.group(1), line)
    target = m.group(3).strip()
    if target.endswith(")") and "(" in target:
        cut = target.index("(")
        table, cols = target[:cut].strip(), _columns(target[cut:], line)
    else:
        parts = target.split(" ")
        if len(parts) != 2:
            raise Unfit(f"{line!r}: expected 'must exist in TABLE (COLUMN, ...)'")
        table, cols = parts[0], [unquote(parts[1])]
    if not table or " " in table or len(cols) != len(source):
        raise Unfit(f"{line!r}: name the other table and as many of its columns as this one's")
    return source, bool(m.group(2)), table, cols


def _columns(text: str, line: str) -> list[str]:
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        cols = [unquote(c) for c in split_list(text[1:-1])]
    elif " " in text:
        raise Unfit(f"{line!r}: expected a column name or a list of them in brackets")
    else:
        cols = [unquote(text)]
    if not all(cols):
        raise Unfit(f"{line!r}: expected column names")
    return cols


def join_columns(columns: Sequence[str]) -> str:
    return "(" + ", ".join(quote_name(c) for c in columns) + ")"


# -- SQL the rules hold


def literal(value: Any) -> str:
    """A value as a SQL literal."""
    return "'" + value.replace("'", "''") + "'" if isinstance(value, str) else repr(value)


def missing_sql(column: str, values: Sequence[Any] | None, regex: str | None) -> str:
    """The predicate a value passes when Soda would not count it missing."""
    q = quote(column)
    out = f"{q} IS NOT NULL"
    if values:
        out += f" AND {q} NOT IN ({', '.join(literal(v) for v in values)})"
    if regex is not None:
        out += f" AND NOT regexp_like({q}, {literal(regex)})"
    return out


def partial_key_sql(columns: Sequence[str]) -> str:
    """The predicate a key passes when all or none of its columns are null."""
    cols = [quote(col) for col in columns]
    return f"({' AND '.join(f'{q} IS NULL' for q in cols)}) OR ({' AND '.join(f'{q} IS NOT NULL' for q in cols)})"  # noqa: E501


def predicate_of(condition: str) -> str:
    """The expression a failed-rows condition keeps: ``NOT (x)`` for ``x``,
    and ``x`` for ``NOT (x)``."""
    inner = _negated(condition)
    return inner if inner is not None else f"NOT ({condition.strip()})"


def _negated(text: str) -> str | None:
    m_ = re.match(r"^\s*not\s*\(", text, re.I)
    if m_ is None or not text.rstrip().endswith(")"):
        return None
    body = text.rstrip()[m_.end() : -1]
    depth, quote_ = 0, ""
    for ch in body:
        if quote_:
            quote_ = "" if ch == quote_ else quote_
        elif ch in "'\"":
            quote_ = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return None
    return body.strip() if depth == 0 else None
