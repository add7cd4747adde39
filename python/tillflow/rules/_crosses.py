"""Row checks across values and columns: missing values, excluded values,
finite numbers, decimal places, recent dates, spans between two dates,
sums across columns, distinct values in a row and completeness."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tillflow.rules._rule import Rule

__all__ = [
    "any_present",
    "complete",
    "decimal_places",
    "distinct_across",
    "is_finite",
    "is_null",
    "not_in",
    "not_in_future",
    "not_older_than",
    "sum_equals",
    "within",
]


def is_null(
    column: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Values are missing: null, or NaN in a float column (a column that
    must stay empty).

    Parameters
    ----------
    column
        The column to check.
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
    return Rule("is_null", column, {"name": name, "severity": severity, "when": when, "tolerance": tolerance})


def not_in(
    column: str,
    values: Iterable[Any],
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Values are none of ``values``. Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    values
        The values that are not allowed.
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
        "not_in",
        column,
        {"values": list(values), "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def is_finite(
    column: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Floats are finite: NaN, inf and -inf fail. Integers and decimals
    always pass; nulls pass.

    Parameters
    ----------
    column
        The column to check.
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
        "is_finite", column, {"name": name, "severity": severity, "when": when, "tolerance": tolerance}
    )


def decimal_places(
    column: str,
    max: int,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Numbers have at most ``max`` digits after the point (decimals by
    value, floats by their shortest text). Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    max
        The most decimal places allowed.
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
        "decimal_places",
        column,
        {"max": max, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def not_in_future(
    column: str,
    *,
    slack: Any = None,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Dates and times are no later than now (the ``now`` validation takes),
    plus ``slack``. Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    slack
        A duration allowed past now (``'5m'``), for clocks that differ.
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
        "not_in_future",
        column,
        {"slack": slack, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def not_older_than(
    column: str,
    max_age: Any,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Dates and times are at most ``max_age`` old (a date counts until its
    day ends). Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    max_age
        A duration: ``'30d'``, seconds, or a timedelta.
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
        "not_older_than",
        column,
        {"max_age": max_age, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def within(
    start: str,
    end: str,
    *,
    min: Any = None,
    max: Any = None,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """``end - start`` lies within ``[min, max]``: e.g. shipped within 3
    days of the order. Rows with either value missing pass.

    Parameters
    ----------
    start
        The earlier date or datetime column.
    end
        The later one.
    min
        The shortest span allowed (may be negative: ``'-1h'``).
    max
        The longest span allowed.
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
        "within",
        [start, end],
        {"min": min, "max": max, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def sum_equals(
    total: str,
    columns: Sequence[str],
    *,
    within: float = 0,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """The columns add up to ``total`` in each row, within ``within`` (exact
    for integers and decimals). Rows with a missing value pass.

    Parameters
    ----------
    total
        The column holding the total.
    columns
        The columns that add up to it.
    within
        How far apart they may be.
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
        "sum_equals",
        total,
        {
            "columns": list(columns),
            "within": within or None,
            "name": name,
            "severity": severity,
            "when": when,
            "tolerance": tolerance,
        },
    )


def distinct_across(
    *columns: str,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """The present values of a row's columns all differ (e.g. billing and
    shipping contact).

    Parameters
    ----------
    *columns
        Two or more columns.
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
        "distinct_across",
        list(columns),
        {"name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def complete(
    *columns: str,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """No column of the row is missing (null or NaN): the row is complete.

    Parameters
    ----------
    *columns
        The columns, at least one.
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
        "complete", list(columns), {"name": name, "severity": severity, "when": when, "tolerance": tolerance}
    )


def any_present(
    *columns: str,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """At least one of the columns is present in each row (e.g. an email or
    a phone).

    Parameters
    ----------
    *columns
        The columns, at least one.
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
        "any_present",
        list(columns),
        {"name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )
