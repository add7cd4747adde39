"""Rule parameters in the forms the engine and rules files use: exact
bound text, tolerances, accepted values, schema types and durations."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Mapping
from typing import Any

import polars as pl

from tillflow._core import durations
from tillflow.exceptions import RuleError

SCHEMA_TYPES = ("int", "float", "number", "decimal", "bool", "string", "date", "datetime")
TYPE_ALIASES = {"integer": "int", "numeric": "number", "boolean": "bool", "str": "string",
                 "text": "string", "timestamp": "datetime"}  # fmt: skip


def to_plain(value: Any) -> Any:
    """A value as a rules file holds it (tuples as lists, durations as text)."""
    if isinstance(value, tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, dt.timedelta):
        return f"{value.total_seconds():g}s"
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def tolerance_spec(rule: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise RuleError(f"rule {rule}: tolerance: expected a count or a fraction, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise RuleError(f"rule {rule}: tolerance: a count cannot be negative, got {value}")
        return {"count": value}
    if isinstance(value, float):
        if not (0.0 <= value < 1.0):
            raise RuleError(
                f"rule {rule}: tolerance: a fraction must be at least 0 and below 1, got {value}; "
                f"give a count as an integer (5) or a percentage as text ('100%')"
            )
        return {"fraction": value}
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)
        if m and float(m.group(1)) <= 100:
            # Exact decimal division: 0.35 / 100 in floats lands a step below 0.0035.
            return {"fraction": float(decimal.Decimal(m.group(1)) / 100)}
        raise RuleError(f"rule {rule}: tolerance: expected a percentage such as '1%', got {value!r}")
    raise RuleError(f"rule {rule}: tolerance: expected a count or a fraction, got {value!r}")


def bound_text(rule: str, side: str, value: Any) -> str | None:
    """A bound as text the engine parses exactly."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RuleError(f"rule {rule}: {side}: expected a number, date or timestamp, got {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise RuleError(f"rule {rule}: {side}: NaN is not a bound")
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise RuleError(f"rule {rule}: {side}: expected a number, date or timestamp, got {value!r}")


def json_value(value: Any, rule: str = "is_in") -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            raise RuleError(f"rule {rule}: values: infinity is not supported")
        return value
    if isinstance(value, decimal.Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return bound_text(rule, "values", value)
    raise RuleError(f"rule {rule}: values: cannot check against {value!r} ({type(value).__name__})")


def is_column_name(c: Any) -> bool:
    return isinstance(c, str) and c != ""


def schema_type(rule: str, column: Any, type_name: Any) -> str:
    if not is_column_name(column):
        raise RuleError(f"rule {rule}: schema: column names must be non-empty strings, got {column!r}")
    if isinstance(type_name, str):
        t = type_name.strip().lower()
        t = TYPE_ALIASES.get(t, t)
        if t in SCHEMA_TYPES:
            return t
    raise RuleError(
        f"rule {rule}: columns.{column}: unknown type {type_name!r}; use one of {', '.join(SCHEMA_TYPES)}"
    )


def parse_duration(rule: str, value: Any, field: str = "max_age") -> float:
    """Seconds in ``value``: a timedelta, seconds as a number, or text such as
    ``"90s"``, ``"30m"``, ``"6h"``, ``"2d"``, ``"1w"`` or ``"1d12h"``."""
    if (
        not isinstance(value, (str, int, float, dt.timedelta))
        or isinstance(value, bool)
        or (isinstance(value, str) and not value.strip())
    ):
        raise RuleError(f"rule {rule}: {field}: expected a duration such as '2d', got {value!r}")
    out = durations.seconds(value)
    if out is None and isinstance(value, str) and value.strip():
        raise RuleError(
            f"rule {rule}: {field}: cannot read {value!r}; write e.g. '90s', '30m', '6h', '2d', '1d12h'"
        )
    if out is None:
        raise RuleError(f"rule {rule}: {field}: must be a non-negative duration, got {value!r}")
    return out


_BUCKET_PART = re.compile(r"(\d+)(ns|us|ms|mo|s|m|h|d|w|q|y)")
_BUCKET_UNITS = {"y": "months", "q": "months", "mo": "months", "w": "weeks", "d": "days",
                 **dict.fromkeys(("h", "m", "s", "ms", "us", "ns"), "hours")}  # fmt: skip
_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9,
       "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}  # fmt: skip


def bucket_every(rule: str, value: Any) -> str:
    """A ``by=`` time bucket's length as Polars' ``dt.truncate`` takes it:
    whole numbers of one kind of unit (``"1y"``, ``"1q"``, ``"1mo"``;
    ``"1w"``; ``"1d"``; ``"1h"``, ``"15m"``, ``"30s"``, ``"1h30m"``, down to
    ``"ns"``). Whole weeks however written (``"7d"``, ``"168h"``) become
    weeks, which start on a Monday."""
    hint = "write e.g. '1h', '15m', '1d', '1w', '1mo', '1q' or '1y'"
    if not isinstance(value, str):
        raise RuleError(f"rule {rule}: by: every: expected a bucket length as text, got {value!r}; {hint}")
    parts = _BUCKET_PART.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise RuleError(f"rule {rule}: by: every: cannot read {value!r} as a bucket length; {hint}")
    kinds = sorted({_BUCKET_UNITS[u] for _, u in parts})
    if len(kinds) > 1:
        raise RuleError(
            f"rule {rule}: by: every: {value!r} mixes {' and '.join(kinds)}; write it in one unit "
            f"(e.g. '36h', not '1d12h')"
        )
    if all(int(n) == 0 for n, _ in parts):
        raise RuleError(f"rule {rule}: by: every: {value!r} is no length; a bucket is at least '1ns' long")
    if kinds == ["months"]:
        return value
    ns = sum(int(n) * _NS[u] for n, u in parts)
    return f"{ns // _NS['w']}w" if ns % _NS["w"] == 0 else value


def signed_duration(rule: str, value: Any, field: str) -> float:
    """A duration that may be negative (``"-1d"``, or seconds as a number)."""
    if isinstance(value, str) and value.strip().startswith("-"):
        return -parse_duration(rule, value.strip()[1:], field)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return parse_duration(rule, value, field)


def expr_roots(expr: pl.Expr) -> list[str]:
    try:
        return list(dict.fromkeys(expr.meta.root_names()))
    except Exception:
        return []
