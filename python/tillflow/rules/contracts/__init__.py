"""Contracts from other tools, in and out: dbt's ``schema.yml`` tests, a
Great Expectations suite, SodaCL checks and an Open Data Contract Standard
(ODCS v3) contract, each read into tillflow rules and written back.

>>> from tillflow.rules import contracts
>>> tables = contracts.read("models/schema.yml")  # doctest: +SKIP
>>> tables["orders"].validate(frame).raise_for_errors()  # doctest: +SKIP
>>> contracts.write(tables, "checks.yml", format="soda")  # doctest: +SKIP

A contract becomes ``{table: RuleSet}``. Nothing is dropped without a word:
an item tillflow cannot check the same way is a `RuleError` that names it
and where it is. Each vendor's counting is kept, not approximated: dbt's
``unique`` counts repeated keys, GX's counts every copy; GX's ``mostly`` is
a share of the non-null values, which a rule says with
``when='col IS NOT NULL'`` and a percentage tolerance, while Soda's
percentages are shares of every row.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tillflow._core.documents import DocumentError, open_document
from tillflow.exceptions import RuleError
from tillflow.rules._ruleset import RuleSet
from tillflow.rules.contracts import _dbt, _gx, _odcs, _soda
from tillflow.rules.contracts._common import Tables, as_tables

__all__ = [
    "FORMATS",
    "from_dbt",
    "from_gx",
    "from_odcs",
    "from_soda",
    "read",
    "ruleset",
    "to_dbt",
    "to_gx",
    "to_odcs",
    "to_soda",
    "write",
]

_MODULES = {"dbt": _dbt, "gx": _gx, "soda": _soda, "odcs": _odcs}
FORMATS = tuple(_MODULES)


def from_dbt(data: Mapping[str, Any]) -> Tables:
    """The rules of a dbt ``schema.yml`` (its parsed mapping), per model,
    source table and seed; see [read][tillflow.rules.contracts.read]."""
    return _dbt.read(data)


def to_dbt(tables: Any) -> dict[str, Any]:
    """``{table: RuleSet}`` as a dbt ``schema.yml`` mapping (``version: 2``,
    ``models``), tests under ``data_tests`` with ``arguments``."""
    return _dbt.write(as_tables(tables, "dbt"))


def from_gx(data: Mapping[str, Any], *, table: str | None = None) -> Tables:
    """The rules of a Great Expectations suite (0.x or 1.x JSON, parsed),
    as ``{table: RuleSet}``: the table is ``table`` or the suite's name."""
    return _gx.read(data, table)


def to_gx(tables: Any, *, table: str | None = None, version: str = "1") -> dict[str, Any]:
    """One table's rules as a GX expectation suite mapping: 1.x, or 0.x
    with ``version="0"``."""
    return _gx.write(as_tables(tables, "gx", table), version=version)


def from_soda(data: Mapping[str, Any]) -> Tables:
    """The rules of a SodaCL checks file (parsed), per ``checks for`` table."""
    return _soda.read(data)


def to_soda(tables: Any) -> dict[str, Any]:
    """``{table: RuleSet}`` as a SodaCL mapping (``checks for TABLE: [...]``)."""
    return _soda.write(as_tables(tables, "soda"))


def from_odcs(data: Mapping[str, Any]) -> Tables:
    """The rules of an ODCS v3 data contract (parsed), per schema object."""
    return _odcs.read(data)


def to_odcs(tables: Any, *, id: str | None = None, name: str | None = None) -> dict[str, Any]:
    """``{table: RuleSet}`` as an ODCS v3.0 data contract mapping."""
    return _odcs.write(as_tables(tables, "odcs"), id=id, name=name)


def detect(data: Any) -> str:
    """Which format a parsed contract is in, from the keys each one requires.

    Raises
    ------
    RuleError
        If it looks like none of them.
    """
    for fmt, module in _MODULES.items():
        if module.looks_like(data):
            return fmt
    raise RuleError(
        "contract: not a format tillflow reads: expected a dbt schema.yml (version: 2 with models, "
        "sources or seeds), a GX suite (expectations), SodaCL ('checks for TABLE') or ODCS "
        "(apiVersion v3 with kind DataContract)"
    )


def read(source: str | os.PathLike[str] | Mapping[str, Any], *, format: str | None = None,
         table: str | None = None) -> Tables:  # fmt: skip
    """Read a contract into ``{table: RuleSet}``.

    Parameters
    ----------
    source
        A ``.yaml``/``.yml``/``.json`` file, or the contract already parsed.
    format
        ``"dbt"``, ``"gx"``, ``"soda"``, ``"odcs"``, or ``"tillflow"`` for
        a tillflow rules file; by default told from the file's own keys.
    table
        For a GX suite, which names no table: the table (default: the
        suite's name). For a tillflow rules file: the table it is for
        (required). Other formats name their tables.

    Returns
    -------
    dict[str, RuleSet]
        The rules per table, in the order the contract lists them.

    Raises
    ------
    RuleError
        If the file cannot be read, the format is unknown, or an item is
        malformed or has no tillflow equivalent (the message names it, and
        for a file, its line).
    """
    document = None
    if isinstance(source, Mapping):
        data: Any = source
    else:
        path = Path(source)
        try:
            document = open_document(path)
        except DocumentError as exc:
            raise RuleError(f"contract {str(path)!r}: {exc}") from None
        data = document.data
    fmt = format or ("tillflow" if _is_rules(data) else detect(data))
    if fmt == "tillflow":
        if not table:
            raise RuleError("tillflow rules file: name the table the rules are for (table=...)")
        if isinstance(source, Mapping):
            rules = RuleSet.from_dict(data or {"rules": []})
        else:
            rules = RuleSet.from_file(source)
        return {table: rules}
    if fmt not in _MODULES:
        raise RuleError(f"contract: format: unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        if fmt == "gx":
            return _gx.read(data, table)
        return _MODULES[fmt].read(data)
    except RuleError as exc:
        if document is None:
            raise
        at = getattr(exc, "at", None)
        where = document.where(at) if at else str(document.path)
        raise RuleError(f"{where}: {exc}") from None


def write(tables: Any, path: str | os.PathLike[str], *, format: str, table: str | None = None) -> Path:
    """Write ``{table: RuleSet}`` (or one rule set with ``table=``) as a contract.

    Parameters
    ----------
    tables
        The rules per table.
    path
        The file to write (replaced): YAML for dbt, Soda and ODCS, JSON
        for GX.
    format
        ``"dbt"``, ``"gx"``, ``"soda"`` or ``"odcs"``.
    table
        The table, when ``tables`` is one rule set.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    RuleError
        If a rule has no form in that format (the message names the rule
        and what stands in the way).
    """
    if format not in _MODULES:
        raise RuleError(f"contract: format: unknown format {format!r}; use one of {', '.join(FORMATS)}")
    named = as_tables(tables, format, table)
    doc = _MODULES[format].write(named)
    p = Path(path)
    if format == "gx":
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    else:
        import yaml  # type: ignore[import-untyped,unused-ignore]

        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
    p.write_text(text, encoding="utf-8")
    return p


def ruleset(source: str | os.PathLike[str], *, table: str | None = None) -> RuleSet:
    """One table's rules from a tillflow rules file or from a contract in any
    of the `FORMATS`: what ``tillflow validate --rules`` reads.

    Parameters
    ----------
    source
        A tillflow rules file (a ``rules:`` list, or a list of rules) or a
        contract file.
    table
        Which of the contract's tables; needed when it has several (for a
        GX suite, which names none, the suite's name is used by default).

    Returns
    -------
    RuleSet
        The rules.

    Raises
    ------
    RuleError
        If the file cannot be read, ``table`` is not in the contract, or the
        contract has several tables and ``table`` is not given (the message
        lists them).
    """
    path = Path(source)
    try:
        if _is_rules(open_document(path).data):
            return RuleSet.from_file(path)
    except DocumentError as exc:
        raise RuleError(f"rules file {str(path)!r}: {exc}") from None
    tables = read(path, table=table)
    if table is not None:
        if table not in tables:
            raise RuleError(
                f"{source}: table: no table {table!r} in the contract; it has {', '.join(tables)}"
            )
        return tables[table]
    if len(tables) != 1:
        raise RuleError(f"{source}: the contract has several tables ({', '.join(tables)}); name one")
    return next(iter(tables.values()))


def _is_rules(data: Any) -> bool:
    """Whether parsed data is a tillflow rules file (a ``rules:`` list, or a list)."""
    return data is None or isinstance(data, list) or (isinstance(data, Mapping) and "rules" in data)
