"""Checks on order and time: monotonic values, outliers, gaps in number
sequences, and time series without missing buckets (business calendars
included)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tillflow.rules._rule import Rule

__all__ = ["bucket", "decreasing", "increasing", "is_daily", "no_gaps", "no_outliers", "no_sequence_gaps"]


def increasing(
    column: str,
    *,
    strict: bool | None = None,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Each value is at least the previous present value in the data's order
    (SQL ``lag`` ignoring nulls); with ``strict``, ties fail. NaN fails.

    Parameters
    ----------
    column
        The column to check.
    strict
        Whether equal neighbours fail.
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
        "increasing",
        column,
        {"strict": strict, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def decreasing(
    column: str,
    *,
    strict: bool | None = None,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Each value is at most the previous present value in the data's order
    (SQL ``lag`` ignoring nulls); with ``strict``, ties fail. NaN fails.

    Parameters
    ----------
    column
        The column to check.
    strict
        Whether equal neighbours fail.
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
        "decreasing",
        column,
        {"strict": strict, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def no_outliers(
    column: str,
    *,
    method: str = "iqr",
    threshold: float | None = None,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """No value is an outlier by ``method``: ``iqr`` (outside Q1 - k*IQR ..
    Q3 + k*IQR, k = 1.5), ``zscore`` (more than k = 3 sample standard
    deviations from the mean) or ``mad`` (more than k = 3 scaled median
    absolute deviations from the median). Judged once all data is in, over
    all of it (no ``by=``); failing rows are counted and sampled with the
    rule set's key columns, not quarantined. When there are more outliers
    than the sample holds, it holds the most extreme.

    Parameters
    ----------
    column
        The column to check.
    method
        iqr, zscore or mad.
    threshold
        k; by default 1.5 for iqr and 3 for the others.
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
        "no_outliers",
        column,
        {
            "method": method,
            "threshold": threshold,
            "name": name,
            "severity": severity,
            "when": when,
            "tolerance": tolerance,
        },
    )


def no_sequence_gaps(
    column: str,
    *,
    step: int = 1,
    name: str | None = None,
    severity: str | None = None,
    by: Any = None,
    when: Any = None,
) -> Rule:
    """Integers from the smallest to the largest, in steps of ``step``, with
    none missing (invoice or order numbers). The report counts and shows the
    missing ones.

    Parameters
    ----------
    column
        The column to check.
    step
        The step between consecutive values.
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
        "no_sequence_gaps", column, {"step": step, "name": name, "severity": severity, "when": when, "by": by}
    )


def no_gaps(
    column: str,
    every: Any,
    *,
    weekdays: Sequence[str] | None = None,
    holidays: Sequence[Any] | None = None,
    name: str | None = None,
    severity: str | None = None,
    by: Any = None,
    when: Any = None,
) -> Rule:
    """Every time bucket of ``every`` between the first and the last value
    holds a row: no missing day, hour, ... Buckets start at midnight UTC;
    buckets of whole weeks (``"1w"``, ``"7d"``, ``"14d"``) start on a Monday,
    as [bucket][tillflow.rules.bucket]'s do. With ``weekdays``, only those
    days count (whole-day buckets), and ``holidays`` never do.

    Parameters
    ----------
    column
        The column to check.
    every
        The bucket: ``'1h'``, ``'1d'``, ``'7d'``.
    weekdays
        Day names (``['mon', 'tue', ...]``) that count; by default all.
    holidays
        Dates that never count.
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
        "no_gaps",
        column,
        {
            "every": every,
            "weekdays": None if weekdays is None else list(weekdays),
            "holidays": None if holidays is None else list(holidays),
            "name": name,
            "severity": severity,
            "when": when,
            "by": by,
        },
    )


def is_daily(
    column: str,
    *,
    weekdays: Sequence[str] | None = None,
    holidays: Sequence[Any] | None = None,
    name: str | None = None,
    severity: str | None = None,
    by: Any = None,
    when: Any = None,
) -> Rule:
    """Data arrives every business day: no missing day between the first and
    the last, counting Monday to Friday unless ``weekdays`` says otherwise,
    and never the ``holidays``.

    Parameters
    ----------
    column
        The column to check.
    weekdays
        Day names that count; by default Monday to Friday.
    holidays
        Dates that never count.
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
        "is_daily",
        column,
        {
            "weekdays": None if weekdays is None else list(weekdays),
            "holidays": None if holidays is None else list(holidays),
            "name": name,
            "severity": severity,
            "when": when,
            "by": by,
        },
    )


def bucket(column: str, every: str) -> dict[str, str]:
    """A time bucket to group by: ``by=bucket("created_at", "1d")`` judges a
    check per day (per hour with ``"1h"``), buckets starting at midnight UTC.
    Buckets of whole weeks (``"1w"``, ``"7d"``) start on a Monday; months,
    quarters and years are calendar ones.

    Parameters
    ----------
    column
        The date or datetime column.
    every
        The bucket's length, as polars' ``dt.truncate`` takes it: a whole
        number and a unit, ``ns``, ``us``, ``ms``, ``s``, ``m`` (minutes),
        ``h``, ``d``, ``w``, ``mo``, ``q`` or ``y``: ``"1h"``, ``"15m"``,
        ``"1d"``, ``"1w"``, ``"1mo"``. Units of one kind combine
        (``"1h30m"``, ``"1y6mo"``); days, weeks, months and hours do not
        mix with each other. Any other length (``"1day"``, ``"1.5h"``,
        ``"1d12h"``) is refused when the rule is made, by a ``RuleError``
        naming it.

    Returns
    -------
    dict[str, str]
        ``{"column": column, "every": every}``, the form rules files use.
    """
    return {"column": column, "every": every}
