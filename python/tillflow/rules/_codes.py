"""Codes and numbers validated by their standards: E.164 phone numbers, ISO
currency, country and language codes, IBAN, card numbers, postal codes per
country, JSON and JSON Schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tillflow.rules._rule import Rule

__all__ = [
    "is_card_number",
    "is_country_code",
    "is_currency_code",
    "is_e164",
    "is_iban",
    "is_json",
    "is_language_code",
    "is_postal_code",
    "matches_json_schema",
]


def is_e164(
    column: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """A phone number in E.164 form: ``+`` then 2 to 15 digits starting with
    an ITU-T country calling code that is assigned and has numbers in
    service (reserved and spare codes such as 379, 388, 991 and 997 fail),
    nothing else. Nulls pass.

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
    return Rule("is_e164", column, {"name": name, "severity": severity, "when": when, "tolerance": tolerance})


def is_currency_code(
    column: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """An ISO 4217 currency code, in capitals (``EUR``). Nulls pass.

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
        "is_currency_code", column, {"name": name, "severity": severity, "when": when, "tolerance": tolerance}
    )


def is_country_code(
    column: str,
    *,
    alpha: int | None = None,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """An ISO 3166-1 country code in capitals: alpha-2 (``DE``) or, with
    ``alpha=3``, alpha-3 (``DEU``). Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    alpha
        2 (the default) or 3.
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
        "is_country_code",
        column,
        {"alpha": alpha, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def is_language_code(
    column: str,
    *,
    part: int | None = None,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """An ISO 639 language code in lowercase: two letters (part 1, ``de``),
    or three letters of part 2 (``deu``/``ger``) or part 3. Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    part
        1 (the default), 2 or 3.
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
        "is_language_code",
        column,
        {"part": part, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def is_iban(
    column: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """An IBAN: a registered country's length and ISO 7064 mod-97 check
    digits, in capitals, without spaces or in groups of four. Nulls pass.

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
    return Rule("is_iban", column, {"name": name, "severity": severity, "when": when, "tolerance": tolerance})


def is_card_number(
    column: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """A payment card number: 12 to 19 digits passing the Luhn check, with
    single spaces or hyphens between groups allowed. Nulls pass.

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
        "is_card_number", column, {"name": name, "severity": severity, "when": when, "tolerance": tolerance}
    )


def is_postal_code(
    column: str,
    country: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """A postal code as the country's postal service writes it (capitals,
    with its separator). Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    country
        The ISO 3166-1 alpha-2 country, e.g. ``US``, ``GB``, ``NL``.
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
        "is_postal_code",
        column,
        {"country": country, "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )


def is_json(
    column: str,
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Text is one valid JSON document. Nulls pass.

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
    return Rule("is_json", column, {"name": name, "severity": severity, "when": when, "tolerance": tolerance})


def matches_json_schema(
    column: str,
    schema: Mapping[str, Any],
    *,
    name: str | None = None,
    severity: str | None = None,
    tolerance: Any = None,
    when: Any = None,
) -> Rule:
    """Text is JSON valid against ``schema`` (JSON Schema, draft 2020-12
    unless ``$schema`` says otherwise). Nulls pass.

    Parameters
    ----------
    column
        The column to check.
    schema
        The JSON Schema, as a mapping.
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
        "matches_json_schema",
        column,
        {"schema": dict(schema), "name": name, "severity": severity, "when": when, "tolerance": tolerance},
    )
