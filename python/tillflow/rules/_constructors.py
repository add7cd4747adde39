"""The rule constructors: ``not_null("id")``, ``between("total", min=0)``, ...
each a :class:`Rule` of one kind, checked when it is made."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from tillflow.rules._rule import Rule


def _common(name: str | None, severity: str | None, tolerance: Any) -> dict[str, Any]:
    return {"name": name, "severity": severity, "tolerance": tolerance}


def not_null(
    *columns: str, name: str | None = None, severity: str | None = None, tolerance: Any = None
) -> Rule:
    """Values must be present: null fails, and so does NaN in a float column.
    Several columns make one check each (``not_null_<column>``)."""
    target: Any = columns[0] if len(columns) == 1 else list(columns)
    return Rule("not_null", target, _common(name, severity, tolerance))


def unique(
    *columns: str, name: str | None = None, severity: str | None = None, tolerance: Any = None
) -> Rule:
    """No key repeats. Several columns form one compound key. A row fails when
    its key appeared in an earlier row; rows with a null in the key are skipped."""
    target: Any = columns[0] if len(columns) == 1 else list(columns)
    return Rule("unique", target, _common(name, severity, tolerance))


def between(
    column: str,
    min: Any = None,
    max: Any = None,
    *,
    min_inclusive: bool | None = None,
    max_inclusive: bool | None = None,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
) -> Rule:
    """Values lie within ``[min, max]`` (either side may be open; both ends
    inclusive unless said otherwise). Numbers compare exactly, decimals too;
    date and datetime columns take ISO text, dates or datetimes. NaN fails."""
    opts = {"min": min, "max": max, "min_inclusive": min_inclusive, "max_inclusive": max_inclusive}
    return Rule("between", column, {**opts, **_common(name, severity, tolerance)})


def matches(
    column: str, pattern: str, *, name: str | None = None, severity: str | None = None, tolerance: Any = None
) -> Rule:
    """Text contains a match of ``pattern`` (Rust ``regex`` syntax; anchor it
    with ``^`` and ``$`` to match the whole value)."""
    return Rule("matches", column, {"pattern": pattern, **_common(name, severity, tolerance)})


def is_in(
    column: str,
    values: Iterable[Any],
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
) -> Rule:
    """Values are among ``values``."""
    return Rule("is_in", column, {"values": list(values), **_common(name, severity, tolerance)})


def relationships(
    column: str,
    to: str | pl.DataFrame | pl.LazyFrame | pl.Series,
    field: str | None = None,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
) -> Rule:
    """Every value occurs in a reference: a frame (its ``field`` column, by
    default the same name), a Series, or a warehouse table as ``"table.column"``."""
    return Rule("relationships", column, {"to": to, "field": field, **_common(name, severity, tolerance)})


def compare(
    left: str,
    op: str,
    right: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
) -> Rule:
    """``left op right`` holds on every row, with ``op`` one of ``< <= > >= == !=``."""
    return Rule("compare", [left, op, right], _common(name, severity, tolerance))


def expression(
    predicate: str | pl.Expr,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    columns: Sequence[str] | None = None,
) -> Rule:
    """A predicate that must hold on every row: SQL text (``"total >= 0"``)
    or a Polars expression. Rows where it is false fail; null passes.
    ``columns`` are shown in samples (by default, the columns it reads)."""
    cols = list(columns) if columns is not None else None
    return Rule("expression", predicate, {"columns": cols, **_common(name, severity, tolerance)})


def row_count(
    min: int | None = None,
    max: int | None = None,
    *,
    name: str | None = None,
    severity: str | None = None,
) -> Rule:
    """The number of rows lies within ``[min, max]``."""
    target = {k: v for k, v in (("min", min), ("max", max)) if v is not None}
    return Rule("row_count", target, {"name": name, "severity": severity})


def freshness(
    column: str, max_age: str | float | dt.timedelta, *, name: str | None = None, severity: str | None = None
) -> Rule:
    """The newest value of a date or datetime column is at most ``max_age``
    old. Naive datetimes are UTC; a date counts from its midnight UTC."""
    return Rule("freshness", column, {"max_age": max_age, "name": name, "severity": severity})


def schema(
    columns: Mapping[str, str],
    *,
    strict: bool | None = None,
    name: str | None = None,
    severity: str | None = None,
) -> Rule:
    """The columns exist with these types (int, float, number, decimal, bool,
    string, date, datetime); with ``strict``, no other columns either."""
    return Rule("schema", dict(columns), {"strict": strict, "name": name, "severity": severity})
