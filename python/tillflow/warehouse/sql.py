"""SQL a warehouse needs whatever its engine: quoting names, and the type
widening rules that mirror the normalizer's (widen, never drop)."""

from __future__ import annotations

import re

__all__ = ["quote_identifier", "widen_type"]


def quote_identifier(name: str) -> str:
    """Quote a table or column name for DuckDB, whatever characters it holds.

    Parameters
    ----------
    name
        The name, as it is.

    Returns
    -------
    str
        The name in double quotes, inner double quotes doubled.
    """
    return '"' + name.replace('"', '""') + '"'


_INTEGERS = {  # name -> (signed, bits)
    "TINYINT": (True, 8), "SMALLINT": (True, 16), "INTEGER": (True, 32),
    "BIGINT": (True, 64), "HUGEINT": (True, 128),
    "UTINYINT": (False, 8), "USMALLINT": (False, 16), "UINTEGER": (False, 32),
    "UBIGINT": (False, 64), "UHUGEINT": (False, 128),
}  # fmt: skip
_INTEGER_BY_KIND = {kind: name for name, kind in _INTEGERS.items()}
_INTEGER_DIGITS = {8: 3, 16: 5, 32: 10, 64: 20, 128: 39}  # decimal digits the widest value needs
_FLOATS = ("FLOAT", "DOUBLE")
_TIMESTAMPS = ("TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP", "TIMESTAMP_NS")  # by precision
_TIMESTAMP_TZ = "TIMESTAMP WITH TIME ZONE"
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def _decimal(width: int, scale: int) -> str:
    return f"DECIMAL({min(width, 38)},{scale})"  # 38 digits is DuckDB's widest decimal


def widen_type(existing: str, incoming: str) -> str | None:
    """The narrowest DuckDB type holding both, or None when no widening exists.

    Mirrors the normalizer's rules: integers widen to float or decimal, a
    decimal's scale grows, a date becomes a timestamp, anything becomes text.
    A decimal keeps 38 digits of width when its scale grows, so a value that
    no longer fits makes the ALTER fail loudly rather than lose digits.

    Parameters
    ----------
    existing
        The column's DuckDB type (``"INTEGER"``, ``"DECIMAL(18,2)"``).
    incoming
        The type of the values to store in it.

    Returns
    -------
    str | None
        The type to widen the column to (``existing`` when it holds both
        already), or ``None``.
    """
    if existing == incoming:
        return existing
    if "VARCHAR" in (existing, incoming):
        return "VARCHAR"
    old_int, new_int = _INTEGERS.get(existing), _INTEGERS.get(incoming)
    old_dec, new_dec = _DECIMAL.fullmatch(existing), _DECIMAL.fullmatch(incoming)
    if old_int and new_int:
        if old_int[0] == new_int[0]:
            return _INTEGER_BY_KIND[(old_int[0], max(old_int[1], new_int[1]))]
        signed, unsigned = (old_int, new_int) if old_int[0] else (new_int, old_int)
        # A signed type needs twice an unsigned type's bits to hold all its values.
        return _INTEGER_BY_KIND[(True, min(128, max(signed[1], 2 * unsigned[1])))]
    numeric = (old_int or old_dec or existing in _FLOATS, new_int or new_dec or incoming in _FLOATS)
    if all(numeric):
        if existing in _FLOATS or incoming in _FLOATS:
            return "FLOAT" if existing == incoming == "FLOAT" else "DOUBLE"
        if old_dec and new_dec:
            (w1, s1), (w2, s2) = map(int, old_dec.groups()), map(int, new_dec.groups())
            scale = max(s1, s2)
            return _decimal(max(w1 - s1, w2 - s2) + scale, scale)
        dec, ints = (old_dec, new_int) if old_dec else (new_dec, old_int)
        assert dec is not None and ints is not None
        width, scale = map(int, dec.groups())
        return _decimal(max(width - scale, _INTEGER_DIGITS[ints[1]]) + scale, scale)
    temporal = ("DATE", _TIMESTAMP_TZ, *_TIMESTAMPS)
    if existing in temporal and incoming in temporal:
        if _TIMESTAMP_TZ in (existing, incoming):
            return _TIMESTAMP_TZ
        stamps = [t for t in (existing, incoming) if t in _TIMESTAMPS]
        return max(stamps, key=_TIMESTAMPS.index)
    return None
