"""Checks on aggregates of a column over the whole data, per group with
``by=``: sum, mean, standard deviation, min, max, median and quantiles
between bounds, or compared with another column's or another table's."""

from __future__ import annotations

from typing import Any

from tillflow.rules._rule import Rule

__all__ = ["max_between", "mean_between", "median_between", "min_between", "stddev_between", "sum_between"]


def sum_between(
    column: str,
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
    """The column's sum (exact for integers and decimals) lies within
    ``[min, max]``. Nulls and NaN are left out.

    Parameters
    ----------
    column
        The column to check.
    min
        The lower bound (None: open).
    max
        The upper bound (None: open).
    min_inclusive
        Whether ``min`` itself passes (default yes).
    max_inclusive
        Whether ``max`` itself passes (default yes).
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
        "sum_between",
        column,
        {
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


def mean_between(
    column: str,
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
    """The column's mean lies within ``[min, max]``. Nulls and NaN are left
    out.

    Parameters
    ----------
    column
        The column to check.
    min
        The lower bound (None: open).
    max
        The upper bound (None: open).
    min_inclusive
        Whether ``min`` itself passes (default yes).
    max_inclusive
        Whether ``max`` itself passes (default yes).
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
        "mean_between",
        column,
        {
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


def stddev_between(
    column: str,
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
    """The column's sample standard deviation (n - 1, SQL ``stddev``) lies
    within ``[min, max]``. Nulls and NaN are left out.

    Parameters
    ----------
    column
        The column to check.
    min
        The lower bound (None: open).
    max
        The upper bound (None: open).
    min_inclusive
        Whether ``min`` itself passes (default yes).
    max_inclusive
        Whether ``max`` itself passes (default yes).
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
        "stddev_between",
        column,
        {
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


def min_between(
    column: str,
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
    """The column's smallest value lies within ``[min, max]``. Nulls and NaN
    are left out.

    Parameters
    ----------
    column
        The column to check.
    min
        The lower bound (None: open).
    max
        The upper bound (None: open).
    min_inclusive
        Whether ``min`` itself passes (default yes).
    max_inclusive
        Whether ``max`` itself passes (default yes).
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
        "min_between",
        column,
        {
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


def max_between(
    column: str,
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
    """The column's largest value lies within ``[min, max]``. Nulls and NaN
    are left out.

    Parameters
    ----------
    column
        The column to check.
    min
        The lower bound (None: open).
    max
        The upper bound (None: open).
    min_inclusive
        Whether ``min`` itself passes (default yes).
    max_inclusive
        Whether ``max`` itself passes (default yes).
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
        "max_between",
        column,
        {
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


def median_between(
    column: str,
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
    """The column's median lies within ``[min, max]``. Nulls and NaN are
    left out.

    Parameters
    ----------
    column
        The column to check.
    min
        The lower bound (None: open).
    max
        The upper bound (None: open).
    min_inclusive
        Whether ``min`` itself passes (default yes).
    max_inclusive
        Whether ``max`` itself passes (default yes).
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
        "median_between",
        column,
        {
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
