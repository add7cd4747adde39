"""A database family as tillflow reads it: quoting, literals, catalog reads and
the plan that says how each column type is read (see `Dialect`)."""

from __future__ import annotations

import decimal
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tillflow._core import extras
from tillflow._core.errors import config_error
from tillflow.sources._databases._sql_types import Column, Table

if TYPE_CHECKING:
    from tillflow.sources._databases._url import Url


class Dialect:
    """Quoting, literals, catalog reads and the column plan of one database family."""

    name = ""
    default_port = 0
    #: Run by connectorx on each connection before a read.
    pre_execution: tuple[str, ...] = ()

    def quote(self, name: str) -> str:
        raise NotImplementedError

    def string(self, text: str) -> str:
        raise NotImplementedError

    def table_ref(self, table: Table) -> str:
        return f"{self.quote(table.schema)}.{self.quote(table.name)}"

    def connect(self, url: Url) -> Any:
        raise NotImplementedError

    def default_schema(self, url: Url) -> str:
        raise NotImplementedError

    def reflect(self, conn: Any, schema: str, names: Sequence[str] | None) -> dict[str, Table]:
        """The named tables (or every base table of ``schema``), in order."""
        raise NotImplementedError

    def order_by(self, columns: Sequence[Column], nulls_first: bool) -> str:
        # MySQL sorts NULLs first in ascending order, which is what a first run wants.
        return ", ".join(self.quote(c.name) for c in columns)

    def after(self, columns: Sequence[Column], values: Sequence[Any]) -> str:
        """Rows strictly after ``values`` in the order of ``columns``: the
        expanded form, which every engine's range optimizer takes."""
        pairs = [(self.quote(c.name), self.literal(c, v)) for c, v in zip(columns, values, strict=True)]
        column, value = pairs[-1]
        condition = f"{column} > {value}"
        for column, value in reversed(pairs[:-1]):
            condition = f"{column} > {value} OR ({column} = {value} AND ({condition}))"
        return f"({condition})"

    def literal(self, column: Column, value: Any) -> str:
        """``value`` (as `json_value` keeps it) written as SQL for ``column``."""
        kind = column.key
        if kind == "int":
            if type(value) is not int:
                raise ValueError("not an integer")
            return str(value)
        if kind == "decimal":
            number = decimal.Decimal(str(value))
            if not number.is_finite():
                raise ValueError("not a finite number")
            return format(number, "f")
        if kind == "float":
            real = float(value)
            if not math.isfinite(real):
                raise ValueError("not a finite number")
            return self._float(column, repr(real))
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueError("not a boolean")
            return self._bool(value)
        if kind == "binary":
            return self._binary(bytes.fromhex(str(value)))
        if kind in ("date", "timestamp", "timestamptz", "time"):
            return self._temporal(column, kind, str(value))
        if kind in ("text", "cast"):
            if not isinstance(value, str):
                raise ValueError("not a string")
            return self._text(column, value)
        raise ValueError(f"type {column.type} cannot order a keyset")

    def _float(self, column: Column, text: str) -> str:
        raise NotImplementedError

    def _bool(self, value: bool) -> str:
        raise NotImplementedError

    def _binary(self, value: bytes) -> str:
        raise NotImplementedError

    def _temporal(self, column: Column, kind: str, text: str) -> str:
        raise NotImplementedError

    def _text(self, column: Column, text: str) -> str:
        raise NotImplementedError


def require(module: str) -> Any:
    """A module of the ``databases`` extra, or a ConfigError saying how to get it."""
    return extras.require(module, "databases", "database sources")


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def chosen_tables(names: Sequence[str] | None, known: list[str], base: list[str], where: str) -> list[str]:
    if names is None:
        return base
    missing = [n for n in names if n not in known]
    if missing:
        close = {n: [k for k in known if k.lower() == n.lower()] for n in missing}
        hint = "".join(f"; did you mean {close[n][0]!r}?" for n in missing if close[n])
        raise config_error(f"tables: {where} has no table {missing[0]!r}{hint} (it has {base})")
    return list(names)
