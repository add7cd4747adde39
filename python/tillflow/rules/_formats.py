"""Formats validated properly, not by a loose pattern: email, URL, UUID, IP
addresses and networks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tillflow.rules._rule import Rule

__all__ = ["is_email", "is_ip", "is_ip_in_network", "is_ipv4", "is_ipv6", "is_url", "is_uuid"]


def is_email(
    column: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """An email address: the HTML standard's shape with RFC 5321 lengths
    (local part at most 64 octets, the address at most 254), a domain of at
    least two labels; internationalized addresses (RFC 6531) pass, quoted
    local parts and IP-literal domains fail. Nulls pass.

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
        "is_email", column, {"name": name, "severity": severity, "when": when, "tolerance": tolerance}
    )


def is_url(
    column: str,
    *,
    schemes: Sequence[str] | None = None,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """An absolute URL as the WHATWG URL Standard parses it, with a host,
    and a scheme among ``schemes`` (http and https by default). Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    schemes
        Accepted schemes, compared case-insensitively.
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
        "is_url",
        column,
        {
            "schemes": None if schemes is None else list(schemes),
            "name": name,
            "severity": severity,
            "when": when,
            "tolerance": tolerance,
        },
    )


def is_uuid(
    column: str,
    *,
    version: int | None = None,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """A UUID in the canonical hyphenated 8-4-4-4-12 form, either case; with
    ``version``, of that version and the RFC 9562 variant. Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    version
        1 to 8, or None for any UUID (nil and max included).
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
        "is_uuid",
        column,
        {"version": version, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def is_ipv4(
    column: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """An IPv4 address in dotted-quad form, without leading zeros. Nulls
    pass.

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
    return Rule("is_ipv4", column, {"name": name, "severity": severity, "when": when, "tolerance": tolerance})


def is_ipv6(
    column: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """An IPv6 address (RFC 4291 text forms, embedded IPv4 included, without
    a zone id). Nulls pass.

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
    return Rule("is_ipv6", column, {"name": name, "severity": severity, "when": when, "tolerance": tolerance})


def is_ip(
    column: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """An IPv4 or IPv6 address. Nulls pass.

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
    return Rule("is_ip", column, {"name": name, "severity": severity, "when": when, "tolerance": tolerance})


def is_ip_in_network(
    column: str,
    networks: Sequence[str] | str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """An IP address inside one of ``networks`` (CIDR, e.g. ``10.0.0.0/8``,
    ``2001:db8::/32``), of the same family. Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    networks
        One CIDR network or several.
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
        "is_ip_in_network",
        column,
        {
            "networks": [networks] if isinstance(networks, str) else list(networks),
            "name": name,
            "severity": severity,
            "when": when,
            "tolerance": tolerance,
        },
    )
