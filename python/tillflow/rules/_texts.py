"""Checks on text: patterns that must not match, emptiness, whitespace, length,
affixes, and the types the text reads as."""

from __future__ import annotations

from typing import Any

from tillflow.rules._rule import Rule

__all__ = [
    "contains",
    "ends_with",
    "length_between",
    "not_empty",
    "not_matches",
    "parses_as",
    "starts_with",
    "trimmed",
]


def not_matches(
    column: str,
    pattern: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Text contains no match of ``pattern`` (Rust ``regex`` syntax). Nulls
    pass.

    Parameters
    ----------
    column
        The column to check.
    pattern
        The regular expression that must not be found.
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
        "not_matches",
        column,
        {"pattern": pattern, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def not_empty(
    column: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Text is not empty once surrounding whitespace is removed. Nulls pass
    (``not_null`` judges them).

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
        "not_empty", column, {"name": name, "severity": severity, "when": when, "tolerance": tolerance}
    )


def trimmed(
    column: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Text has no leading or trailing whitespace (Unicode whitespace, tabs
    and newlines included). Nulls pass.

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
    return Rule("trimmed", column, {"name": name, "severity": severity, "when": when, "tolerance": tolerance})


def length_between(
    column: str,
    min: int | None = None,
    max: int | None = None,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Text length in characters (Unicode scalar values, not bytes) lies
    within ``[min, max]``. Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    min
        The fewest characters allowed; None for no lower bound.
    max
        The most characters allowed; None for no upper bound.
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
        "length_between",
        column,
        {"min": min, "max": max, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def starts_with(
    column: str,
    text: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Text starts with ``text`` (compared exactly, case included). Nulls
    pass.

    Parameters
    ----------
    column
        The column to check.
    text
        The text to look for, not empty.
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
        "starts_with",
        column,
        {"text": text, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def ends_with(
    column: str,
    text: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Text ends with ``text`` (compared exactly, case included). Nulls
    pass.

    Parameters
    ----------
    column
        The column to check.
    text
        The text to look for, not empty.
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
        "ends_with",
        column,
        {"text": text, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def contains(
    column: str,
    text: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Text contains ``text`` (compared exactly, case included). Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    text
        The text to look for, not empty.
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
        "contains",
        column,
        {"text": text, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def parses_as(
    column: str,
    type: str,
    *,
    format: str | None = None,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Text reads as a value of ``type``: ``int``, ``number`` (finite),
    ``bool`` (true/false, yes/no, t/f, y/n, 1/0, any case), ``date`` or
    ``datetime`` (ISO 8601, or ``format`` in strftime notation). Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    type
        int, number, bool, date or datetime.
    format
        For dates and datetimes: a strftime format such as ``%d/%m/%Y``.
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
        "parses_as",
        column,
        {
            "type": type,
            "format": format,
            "name": name,
            "severity": severity,
            "when": when,
            "tolerance": tolerance,
        },
    )
