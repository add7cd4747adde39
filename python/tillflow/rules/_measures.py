"""Checks on the whole data, per group with ``by=``: distinct counts and
ratios, values that must occur, quantiles, aggregates against another
column's or table's, row counts against another table; and reconciliation
of each row against another table's totals."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tillflow.rules._rule import Rule

__all__ = [
    "aggregate_compare",
    "contains_values",
    "distinct_count",
    "distinct_ratio",
    "quantile_between",
    "reconcile",
    "row_count_matches",
]


def distinct_count(
    *columns: str,
    min: int | None = None,
    max: int | None = None,
    name: str | None = None,
    severity: str | None = None,
    by: Any = None,
    when: Any = None,
) -> Rule:
    """The number of distinct values (keys, for several columns) lies within
    ``[min, max]``; give both the same for an exact count. Rows with a null
    in the key are left out, as SQL's ``count(DISTINCT ...)``.

    Parameters
    ----------
    *columns
        The column(s).
    min
        The fewest distinct values.
    max
        The most.
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule].
    by
        Group columns, or time buckets made with
        [bucket][tillflow.rules.bucket]: the check is judged per group, and
        fails when a group fails (the report names them).
    when
        SQL text or a Polars expression: only the rows where it is true count.

    Returns
    -------
    Rule
        The check, its arguments already checked.

    Raises
    ------
    RuleError
        If an argument is invalid; the message names it.
    """
    return Rule(
        "distinct_count",
        columns[0] if len(columns) == 1 else list(columns),
        {"min": min, "max": max, "name": name, "severity": severity, "when": when, "by": by},
    )


def distinct_ratio(
    *columns: str,
    min: float | None = None,
    max: float | None = None,
    name: str | None = None,
    severity: str | None = None,
    by: Any = None,
    when: Any = None,
) -> Rule:
    """Distinct values over rows with a value (Great Expectations'
    proportion of unique values) lies within ``[min, max]``.

    Parameters
    ----------
    *columns
        The column(s).
    min
        The smallest ratio, 0 to 1.
    max
        The largest.
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule].
    by
        Group columns, or time buckets made with
        [bucket][tillflow.rules.bucket]: the check is judged per group, and
        fails when a group fails (the report names them).
    when
        SQL text or a Polars expression: only the rows where it is true count.

    Returns
    -------
    Rule
        The check, its arguments already checked.

    Raises
    ------
    RuleError
        If an argument is invalid; the message names it.
    """
    return Rule(
        "distinct_ratio",
        columns[0] if len(columns) == 1 else list(columns),
        {"min": min, "max": max, "name": name, "severity": severity, "when": when, "by": by},
    )


def contains_values(
    column: str,
    values: Iterable[Any],
    *,
    name: str | None = None,
    severity: str | None = None,
    by: Any = None,
    when: Any = None,
) -> Rule:
    """Every one of ``values`` occurs at least once (e.g. every store sent
    data); with ``by=``, in every group.

    Parameters
    ----------
    column
        The column to check.
    values
        The values that must occur. ``None`` among them means the column
        must hold at least one null.
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule].
    by
        Group columns, or time buckets made with
        [bucket][tillflow.rules.bucket]: the check is judged per group, and
        fails when a group fails (the report names them).
    when
        SQL text or a Polars expression: only the rows where it is true count.

    Returns
    -------
    Rule
        The check, its arguments already checked.

    Raises
    ------
    RuleError
        If an argument is invalid; the message names it.
    """
    return Rule(
        "contains_values",
        column,
        {"values": list(values), "name": name, "severity": severity, "when": when, "by": by},
    )


def quantile_between(
    column: str,
    q: float,
    min: Any = None,
    max: Any = None,
    *,
    min_inclusive: bool | None = None,
    max_inclusive: bool | None = None,
    name: str | None = None,
    severity: str | None = None,
    by: Any = None,
    when: Any = None,
) -> Rule:
    """The column's ``q`` quantile (linear interpolation, SQL
    ``quantile_cont``) lies within ``[min, max]``. Nulls and NaN are left
    out.

    Parameters
    ----------
    column
        The column to check.
    q
        The quantile, 0 to 1.
    min
        The lower bound.
    max
        The upper bound.
    min_inclusive
        Whether ``min`` passes.
    max_inclusive
        Whether ``max`` passes.
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule].
    by
        Group columns, or time buckets made with
        [bucket][tillflow.rules.bucket]: the check is judged per group, and
        fails when a group fails (the report names them).
    when
        SQL text or a Polars expression: only the rows where it is true count.

    Returns
    -------
    Rule
        The check, its arguments already checked.

    Raises
    ------
    RuleError
        If an argument is invalid; the message names it.
    """
    return Rule(
        "quantile_between",
        column,
        {
            "q": q,
            "min": min,
            "max": max,
            "min_inclusive": min_inclusive,
            "max_inclusive": max_inclusive,
            "name": name,
            "severity": severity,
            "when": when,
            "by": by,
        },
    )


def aggregate_compare(
    column: str,
    agg: str = "sum",
    op: str = "==",
    *,
    other: str | None = None,
    other_agg: str | None = None,
    to: Any = None,
    to_column: str | None = None,
    within: float = 0,
    name: str | None = None,
    severity: str | None = None,
    by: Any = None,
    when: Any = None,
) -> Rule:
    """An aggregate of the column compared with another column's aggregate
    (``other``) or another table's (``to``): ``agg(column) op
    other_agg(other)``, equal within ``within``.

    Parameters
    ----------
    column
        The column to check.
    agg
        sum, mean, stddev, min, max or median.
    op
        One of < <= > >= == !=.
    other
        Another column of the same data.
    other_agg
        Its aggregate; by default ``agg``.
    to
        Another table: a frame or a warehouse table name.
    to_column
        The other table's column; by default ``column``.
    within
        How far apart two sides may be and count as equal.
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule].
    by
        Group columns, or time buckets made with
        [bucket][tillflow.rules.bucket]: the check is judged per group, and
        fails when a group fails (the report names them).
    when
        SQL text or a Polars expression: only the rows where it is true count.

    Returns
    -------
    Rule
        The check, its arguments already checked.

    Raises
    ------
    RuleError
        If an argument is invalid; the message names it.
    """
    return Rule(
        "aggregate_compare",
        column,
        {
            "agg": agg,
            "op": op,
            "other": other,
            "other_agg": other_agg,
            "to": to,
            "to_column": to_column,
            "within": within or None,
            "name": name,
            "severity": severity,
            "when": when,
            "by": by,
        },
    )


def row_count_matches(
    to: Any,
    *,
    within: float = 0,
    name: str | None = None,
    severity: str | None = None,
    when: Any = None,
) -> Rule:
    """The number of rows equals another table's (e.g. the source the data
    was loaded from), or differs from it by at most the fraction ``within``
    of it: ``|rows - other| <= within * other``, with no rounding. The report
    shows both counts. It is judged on all the rows, so it takes no ``by=``.

    Parameters
    ----------
    to
        The other table: a frame or a warehouse table name.
    within
        The fraction the counts may differ by (0.01 is 1%).
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule].
    when
        SQL text or a Polars expression: only the rows where it is true count.

    Returns
    -------
    Rule
        The check, its arguments already checked.

    Raises
    ------
    RuleError
        If an argument is invalid; the message names it.
    """
    return Rule(
        "row_count_matches",
        to,
        {"within": within or None, "name": name, "severity": severity, "when": when},
    )


def reconcile(
    column: str,
    *,
    to: Any,
    key: str | Sequence[str],
    to_key: str | Sequence[str] | None = None,
    to_column: str | None = None,
    within: float = 0,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Each row's value equals the sum of ``to_column`` over the rows of
    ``to`` with the same key, within ``within``: an order total against its
    line items. A key ``to`` lacks sums to 0. Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    to
        The other table: a frame, or a warehouse table name.
    key
        This table's key column(s).
    to_key
        The other table's key column(s); by default ``key``.
    to_column
        The other table's column to sum; by default ``column``.
    within
        How far apart the two may be.
    name, severity, tolerance
        As every rule takes them: see [Rule][tillflow.rules.Rule].
    when
        SQL text or a Polars expression: the check applies only to the rows
        where it is true.

    Returns
    -------
    Rule
        The check, its arguments already checked.

    Raises
    ------
    RuleError
        If an argument is invalid; the message names it.
    """
    return Rule(
        "reconcile",
        column,
        {
            "to": to,
            "key": key,
            "to_key": to_key,
            "to_column": to_column,
            "within": within or None,
            "name": name,
            "severity": severity,
            "when": when,
            "tolerance": tolerance,
        },
    )
