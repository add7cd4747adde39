"""The rule constructors: ``not_null("id")``, ``between("total", min=0)``, ...
each a [Rule][tillflow.rules.Rule] of one kind, checked when it is made."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

from tillflow.rules._rule import Rule


def _common(name: str | None, severity: str | None, tolerance: Any, when: Any = None) -> dict[str, Any]:
    return {"name": name, "severity": severity, "tolerance": tolerance, "when": when}


def not_null(
    *columns: str,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Values must be present: null fails, and so does NaN in a float column.
    Several columns make one check each (``not_null_<column>``).

    Parameters
    ----------
    *columns
        The columns to check, at least one.
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule]. The
        check of each column is named ``not_null_<column>``, or
        ``<name>[<column>]`` when several columns share a given name.
    tolerance
        As every row check takes it (see [Rule][tillflow.rules.Rule]).

    Returns
    -------
    Rule
        One rule making a check per column, to put in a
        [RuleSet][tillflow.rules.RuleSet].

    Raises
    ------
    RuleError
        If no column is given, a column name is empty, or ``name``,
        ``severity`` or ``tolerance`` is invalid.
    """
    target: Any = columns[0] if len(columns) == 1 else list(columns)
    return Rule("not_null", target, _common(name, severity, tolerance, when))


def unique(
    *columns: str,
    count: str | None = None,
    nulls: str | None = None,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """No key repeats. Several columns form one compound key; by default rows
    with a null in the key are skipped. The rows flagged (for quarantine and
    ``failing_rows``) are the second and later copies of a key; ``count``
    names what the failing count counts.

    Parameters
    ----------
    *columns
        The key's columns, at least one, each at most once.
    count
        ``"keys"`` (the default): the distinct keys that repeat, as dbt's
        ``unique`` test and Soda's ``duplicate_count`` count; ``"all"``: every
        row of a repeated key, as Great Expectations and SQL ``GROUP BY ...
        HAVING count(*) > 1`` count (the first copies are flagged too when
        they are in the same batch); ``"extra"``: the second and later copies,
        as pandas' ``duplicated()``.
    nulls
        ``"distinct"`` (the default): a key with a null never repeats, as in
        a SQL ``UNIQUE`` constraint; ``"equal"``: nulls equal one another,
        as SQL ``GROUP BY`` groups them (dbt-utils'
        ``unique_combination_of_columns``, PostgreSQL's ``NULLS NOT
        DISTINCT``), so ``(1, null)`` twice repeats.
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule]. The
        default name joins the key's columns: ``unique_id``,
        ``unique_shop_id_sku``.
    tolerance
        As every row check takes it (see [Rule][tillflow.rules.Rule]).

    Returns
    -------
    Rule
        The key check.

    Raises
    ------
    RuleError
        If no column is given, a column name is empty or repeats, or
        ``name``, ``severity`` or ``tolerance`` is invalid.
    """
    target: Any = columns[0] if len(columns) == 1 else list(columns)
    return Rule(
        "unique", target, {"count": count, "nulls": nulls, **_common(name, severity, tolerance, when)}
    )


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
    when: Any = None,
) -> Rule:
    """Values lie within ``[min, max]`` (either side may be open; both ends
    inclusive unless said otherwise). Numbers compare exactly, decimals too;
    date and datetime columns take ISO text, dates or datetimes. NaN fails.

    Parameters
    ----------
    column
        The column to check.
    min
        The lower bound (a number, ``Decimal``, date, datetime or ISO text);
        ``None`` leaves that side open. A timezone-aware datetime is compared
        in UTC.
    max
        The upper bound, in the same forms; ``None`` leaves that side open.
    min_inclusive
        Whether ``min`` itself passes (the default ``None`` means yes).
    max_inclusive
        Whether ``max`` itself passes (the default ``None`` means yes).
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule].
        By default the name is ``between_<column>`` (``between_total_price``).
    tolerance
        As every row check takes it (see [Rule][tillflow.rules.Rule]).

    Returns
    -------
    Rule
        The range check over ``column``.

    Raises
    ------
    RuleError
        If neither bound is given, a bound is NaN, a boolean or of another
        type, or another argument is invalid.
    """
    opts = {"min": min, "max": max, "min_inclusive": min_inclusive, "max_inclusive": max_inclusive}
    return Rule("between", column, {**opts, **_common(name, severity, tolerance, when)})


def matches(
    column: str,
    pattern: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Text contains a match of ``pattern`` (Rust ``regex`` syntax; anchor it
    with ``^`` and ``$`` to match the whole value).

    Parameters
    ----------
    column
        The text column to check.
    pattern
        The regular expression, compiled when the rule is made.
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule]. Here
        the name defaults to ``matches_<column>``, e.g. ``matches_email``.
    tolerance
        As every row check takes it (see [Rule][tillflow.rules.Rule]).

    Returns
    -------
    Rule
        The pattern check, its regular expression already compiled.

    Raises
    ------
    RuleError
        If ``pattern`` is not a string or does not compile, or another
        argument is invalid.
    """
    return Rule("matches", column, {"pattern": pattern, **_common(name, severity, tolerance, when)})


def is_in(
    column: str,
    values: Iterable[Any],
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Values are among ``values``.

    Parameters
    ----------
    column
        The column to check.
    values
        The accepted values: strings, numbers, booleans, decimals, dates or
        datetimes.
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule]. Unless
        named, the check is ``is_in_<column>`` (``is_in_status``).
    tolerance
        As every row check takes it (see [Rule][tillflow.rules.Rule]).

    Returns
    -------
    Rule
        The membership check, holding ``values`` as a list.

    Raises
    ------
    RuleError
        If ``values`` is a string or not iterable, holds infinity or a
        value of another type, or another argument is invalid.
    """
    return Rule("is_in", column, {"values": list(values), **_common(name, severity, tolerance, when)})


def relationships(
    column: str,
    to: str | pl.DataFrame | pl.LazyFrame | pl.Series,
    field: str | None = None,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Every value occurs in a reference: a frame (its ``field`` column, by
    default the same name), a Series, or a warehouse table as ``"table.column"``.

    Parameters
    ----------
    column
        The column whose values must occur in the reference.
    to
        The reference: a DataFrame or LazyFrame, a Series, or a warehouse
        table as ``"table"`` or ``"table.column"``. A table is read when the
        rule set is applied, from the ``references`` or the ``warehouse``
        given to [RuleSet.validate][tillflow.rules.RuleSet.validate].
    field
        The reference's column, for a frame or a ``"table"`` without a
        column; by default ``column``'s name.
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule]. The
        default name is ``relationships_<column>``
        (``relationships_customer_id``).
    tolerance
        As every row check takes it (see [Rule][tillflow.rules.Rule]).

    Returns
    -------
    Rule
        The reference check; a table it names is read only when the rule set is applied.

    Raises
    ------
    RuleError
        If ``to`` is missing, of another type, or text not of the form
        ``"table"`` or ``"table.column"``, or another argument is invalid.
    """
    return Rule(
        "relationships", column, {"to": to, "field": field, **_common(name, severity, tolerance, when)}
    )


def compare(
    left: str,
    op: str,
    right: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """``left op right`` holds on every row, with ``op`` one of ``< <= > >= == !=``.

    Parameters
    ----------
    left
        The column on the left of the comparison.
    op
        The operator: ``<``, ``<=``, ``>``, ``>=``, ``==`` or ``!=``.
    right
        The column on the right.
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule]. The
        default name spells the comparison out:
        ``compare_shipped_at_ge_created_at`` for ``compare("shipped_at", ">=", "created_at")``.
    tolerance
        As every row check takes it (see [Rule][tillflow.rules.Rule]).

    Returns
    -------
    Rule
        The comparison of the two columns, row by row.

    Raises
    ------
    RuleError
        If a column name is empty, ``op`` is not one of the six, or another
        argument is invalid.
    """
    return Rule("compare", [left, op, right], _common(name, severity, tolerance, when))


def expression(
    predicate: str | pl.Expr,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    columns: Sequence[str] | None = None,
    when: Any = None,
) -> Rule:
    """A predicate that must hold on every row: SQL text (``"total >= 0"``)
    or a Polars expression. Rows where it is false fail; null passes.
    ``columns`` are shown in samples (by default, the columns it reads).

    Parameters
    ----------
    predicate
        SQL text (a ``WHERE`` condition over the row's columns) or a Polars
        expression yielding a boolean.
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule]. The
        default name is ``expression_`` and the predicate's words joined by
        underscores, at most 48 characters of them (``expression_total_0``).
    tolerance
        As every row check takes it (see [Rule][tillflow.rules.Rule]).
    columns
        The columns shown beside failing rows in samples.

    Returns
    -------
    Rule
        The predicate check; SQL text is parsed when the rule is made.

    Raises
    ------
    RuleError
        If ``predicate`` is empty, not text or an expression, or not valid
        SQL; or if another argument is invalid. An expression that fails on
        the data raises ``RuleError`` when the rule set is applied.
    """
    cols = list(columns) if columns is not None else None
    return Rule("expression", predicate, {"columns": cols, **_common(name, severity, tolerance, when)})


def row_count(
    min: int | None = None,
    max: int | None = None,
    *,
    name: str | None = None,
    severity: str | None = None,
    by: Any = None,
    when: Any = None,
) -> Rule:
    """The number of rows lies within ``[min, max]``.

    Parameters
    ----------
    min
        The fewest rows allowed (inclusive); ``None`` for no lower bound.
    max
        The most rows allowed (inclusive); ``None`` for no upper bound.
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule].
        The name is ``row_count`` by default; a failure here has no rows to
        quarantine.
    by
        Group columns, or time buckets made with
        [bucket][tillflow.rules.bucket]: the count is judged per group
        (rows per day between 100 and 5000).
    when
        SQL text or a Polars expression: only the rows where it is true count.

    Returns
    -------
    Rule
        A check of the whole dataset: it takes no tolerance.

    Raises
    ------
    RuleError
        If a bound is not a non-negative integer, ``min`` is above ``max``,
        or another argument is invalid.
    """
    target = {k: v for k, v in (("min", min), ("max", max)) if v is not None}
    return Rule("row_count", target, {"name": name, "severity": severity, "by": by, "when": when})


def freshness(
    column: str, max_age: str | float | dt.timedelta, *, name: str | None = None, severity: str | None = None
) -> Rule:
    """The newest value of a date or datetime column is at most ``max_age``
    old. Naive datetimes are UTC; a date counts from its midnight UTC.

    Parameters
    ----------
    column
        The date or datetime column.
    max_age
        The greatest age allowed: a ``timedelta``, seconds as a number, or
        text such as ``"90s"``, ``"30m"``, ``"6h"``, ``"2d"``, ``"1w"`` or
        ``"1d12h"``. Measured from the ``now`` given to
        [RuleSet.validate][tillflow.rules.RuleSet.validate] (by default the
        current time).
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule]. Named
        ``freshness_<column>`` by default (``freshness_updated_at``).

    Returns
    -------
    Rule
        The age check of the newest value, judged once over all the data.

    Raises
    ------
    RuleError
        If ``max_age`` cannot be read as a non-negative duration, or another
        argument is invalid.
    """
    return Rule("freshness", column, {"max_age": max_age, "name": name, "severity": severity})


def schema(
    columns: Mapping[str, str],
    *,
    strict: bool | None = None,
    name: str | None = None,
    severity: str | None = None,
) -> Rule:
    """The columns exist with these types (int, float, number, decimal, bool,
    string, date, datetime); with ``strict``, no other columns either.

    Parameters
    ----------
    columns
        Column names mapped to type names. Aliases are accepted: ``integer``,
        ``numeric``, ``boolean``, ``str``, ``text`` and ``timestamp``.
    strict
        Whether columns not listed fail the check (the default ``None``
        means no).
    name, severity
        As every rule takes them: see [Rule][tillflow.rules.Rule]. By
        default the check is simply named ``schema``.

    Returns
    -------
    Rule
        The schema check, reading the columns' types rather than their values.

    Raises
    ------
    RuleError
        If ``columns`` is empty, names an unknown type or an empty column,
        or another argument is invalid.
    """
    return Rule("schema", dict(columns), {"strict": strict, "name": name, "severity": severity})
