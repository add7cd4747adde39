"""What every contract format shares: the tables a contract holds, its
errors, the ``when=`` a share of non-null rows needs, and tolerances.

A contract is read into ``{table: RuleSet}`` and written from one. Every
item a format's reader meets is either turned into a rule, kept as the
rule set's key, or named in a `RuleError`: nothing is dropped without a
word. Items that describe rather than check (descriptions, tags, owners)
are listed by each format's module as the ones it passes over.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tillflow.exceptions import RuleError
from tillflow.rules._rule import Rule
from tillflow.rules._ruleset import RuleSet

__all__ = [
    "Key",
    "Tables",
    "as_tables",
    "fraction_of",
    "invalid",
    "mostly_of",
    "non_null_column",
    "non_null_when",
    "path_text",
    "quote",
    "unsupported",
]

Tables = dict[str, RuleSet]

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


Key = str | int


def path_text(at: Sequence[Key]) -> str:
    """Keys as a path: ``["models", 0, "columns"]`` -> ``models[0].columns``."""
    out = ""
    for k in at:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


def unsupported(fmt: str, at: Sequence[Key], item: str, why: str = "") -> RuleError:
    """The error for an item tillflow cannot hold: ``{fmt} contract {path}:
    {item}: not supported by tillflow[; why]``. The error carries ``at``
    so that a file's reader can add the line."""
    tail = f"; {why}" if why else ""
    return invalid(fmt, at, f"{item}: not supported by tillflow{tail}")


def invalid(fmt: str, at: Sequence[Key], what: str) -> RuleError:
    """The error for an item that is malformed in its own format (or,
    through `unsupported`, has no tillflow form)."""
    place = f" {path_text(at)}" if at else ""
    err = RuleError(f"{fmt} contract{place}: {what}")
    err.at = list(at)  # type: ignore[attr-defined]
    return err


def quote(column: str) -> str:
    """A column as a SQL identifier: bare when it is a plain word, else in
    double quotes (a quote inside doubled)."""
    if _PLAIN.fullmatch(column):
        return column
    return '"' + column.replace('"', '""') + '"'


def non_null_when(column: str) -> str:
    """The ``when=`` that limits a check to a column's non-null values, as
    GX's ``mostly`` and Soda's percentages count them."""
    return f"{quote(column)} IS NOT NULL"


_NON_NULL = re.compile(r'^\s*(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_]*))\s+IS\s+NOT\s+NULL\s*$', re.I)


def non_null_column(when: Any) -> str | None:
    """The column a ``when=`` of the form ``col IS NOT NULL`` names, else None."""
    if not isinstance(when, str):
        return None
    m = _NON_NULL.match(when)
    if m is None:
        return None
    return m.group(1).replace('""', '"') if m.group(1) is not None else m.group(2)


def fraction_of(mostly: Any, fmt: str, at: Sequence[Key]) -> str | None:
    """The tolerance (a percentage, exact as written) that a pass share such
    as GX's ``mostly`` allows: ``0.95`` -> ``"5%"``; None at 1."""
    if isinstance(mostly, bool) or not isinstance(mostly, (int, float, str)):
        raise invalid(fmt, at, f"mostly: expected a number from 0 to 1, got {mostly!r}")
    try:
        share = decimal.Decimal(str(mostly))
    except decimal.InvalidOperation:
        raise invalid(fmt, at, f"mostly: expected a number from 0 to 1, got {mostly!r}") from None
    if not (0 <= share <= 1):
        raise invalid(fmt, at, f"mostly: expected a number from 0 to 1, got {mostly!r}")
    if share == 1:
        return None
    return _percent((1 - share) * 100)


def mostly_of(rule: Rule, fmt: str) -> float | None:
    """The pass share a rule's fractional tolerance stands for (``"5%"`` ->
    0.95); None without a tolerance. A count tolerance has no share: error."""
    tol = rule.tolerance
    if tol is None:
        return None
    if isinstance(tol, int):
        raise RuleError(
            f"rule {rule.name}: tolerance: a count of failing rows ({tol}) has no {fmt} form; "
            f"give it as a share such as '1%'"
        )
    share = decimal.Decimal(str(tol).strip().rstrip("%")) / (100 if isinstance(tol, str) else 1)
    return float(1 - share)


def _percent(value: decimal.Decimal) -> str:
    text = format(value.normalize(), "f")
    return f"{text}%"


def as_tables(tables: Any, fmt: str, table: str | None = None) -> Tables:
    """What a writer was given as ``{table: RuleSet}``: a mapping of table
    names to rule sets (or to rules; ``table`` picks one of them), or one
    rule set named by ``table``."""
    if isinstance(tables, RuleSet):
        if not table:
            raise RuleError(f"{fmt} contract: name the table the rules are for (table=...)")
        return {table: tables}
    if isinstance(tables, Mapping) and table is not None:
        if table not in tables:
            have = ", ".join(tables)
            raise RuleError(f"{fmt} contract: table: no table {table!r}; the rules are for {have}")
        tables = {table: tables[table]}
    if isinstance(tables, Mapping):
        out: Tables = {}
        for name, rules in tables.items():
            if not isinstance(name, str) or not name:
                raise RuleError(f"{fmt} contract: table names must be non-empty text, got {name!r}")
            out[name] = RuleSet.coerce(rules, f"tables[{name!r}]")
        return out
    if isinstance(tables, Iterable) and not isinstance(tables, (str, bytes)):
        if not table:
            raise RuleError(f"{fmt} contract: name the table the rules are for (table=...)")
        return {table: RuleSet.coerce(list(tables), "tables")}
    raise RuleError(f"{fmt} contract: expected {{table: RuleSet}} or a RuleSet, got {tables!r}")
