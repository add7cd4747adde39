"""ODCS patterns in tillflow's regex syntax, meaning the same.

ODCS's ``pattern`` is an ECMA-262 (5.1) regular expression, as JSON
Schema's is; tillflow's ``matches`` uses Rust's ``regex``. Both search
anywhere in the value (neither anchors a pattern), and ``^``/``$`` mean
the start and end of the value in both. Where the two syntaxes read the
same text differently, the pattern is rewritten so that it matches what
ECMA-262 matches:

- ``\\d``, ``\\w`` and ``\\b`` are ASCII in ECMA-262 (``[0-9]``,
  ``[A-Za-z0-9_]``) and Unicode in Rust; ``\\s`` is ECMA-262's white space
  and line terminators, which differ from Rust's in U+0085 and U+FEFF;
- ``.`` leaves out ``\\r``, U+2028 and U+2029 as well as ``\\n``;
- an escaped letter with no meaning (``\\p``, ``\\A``) is the letter, a
  brace that starts no quantifier is a brace, ``(?<name>`` names a group.

Lookaround and backreferences have no Rust form: such a pattern raises
`PatternError`. One difference cannot be written away: ECMA-262 (without
the ``u`` flag) counts UTF-16 code units, so ``.`` or ``{n}`` see a
character beyond U+FFFF (an emoji) as two; tillflow counts characters.
"""

from __future__ import annotations

import re

__all__ = ["PatternError", "is_portable", "to_rust"]

_WS = r"\t\n\x0B\x0C\r \xA0\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}"
_SETS = {"d": "0-9", "w": "A-Za-z0-9_", "s": _WS}
_DOT = r"[^\n\r\x{2028}\x{2029}]"
_CONTROL = {"t": r"\t", "n": r"\n", "r": r"\r", "f": r"\f", "v": r"\v"}
_META = set(r"\.+*?()|[]{}^$#&-~")
_QUANTIFIER = re.compile(r"\{\d+(?:,\d*)?\}")
_HEX2 = re.compile(r"[0-9A-Fa-f]{2}")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_NAMED = re.compile(r"\(\?<([A-Za-z_$][A-Za-z0-9_$]*)>")


class PatternError(ValueError):
    """A construct of the ECMA-262 pattern that has no Rust form."""


def is_portable(pattern: str) -> bool:
    """Whether ``pattern`` means the same in both syntaxes as written, so a
    tillflow pattern can be written to ODCS unchanged."""
    try:
        return to_rust(pattern) == pattern
    except PatternError:
        return False


def to_rust(pattern: str) -> str:
    """The Rust ``regex`` form of an ECMA-262 pattern.

    Raises
    ------
    PatternError
        For lookaround, backreferences, an empty class or a group form
        ECMA-262 does not have.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            sort, value, i = _escape(pattern, i, in_class=False)
            out.append(_outside(sort, value))
        elif c == "[":
            text, i = _class(pattern, i)
            out.append(text)
        elif c == "(":
            text, i = _group(pattern, i)
            out.append(text)
        elif c == "{":
            m = _QUANTIFIER.match(pattern, i)
            out.append(m.group() if m else r"\{")
            i = m.end() if m else i + 1
        elif c in "]}":
            out.append("\\" + c)
            i += 1
        elif c == ".":
            out.append(_DOT)
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _group(p: str, i: int) -> tuple[str, int]:
    if not p.startswith("(?", i):
        return "(", i + 1
    if p.startswith("(?:", i):
        return "(?:", i + 3
    if p.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
        raise PatternError("lookaround ((?=, (?!, (?<=, (?<!) has no form in tillflow's patterns")
    m = _NAMED.match(p, i)
    if m:
        return f"(?P<{m.group(1)}>", m.end()
    raise PatternError(f"{p[i : i + 3]!r} is not an ECMA-262 group")


def _escape(p: str, i: int, in_class: bool) -> tuple[str, str, int]:
    """The escape at ``p[i]`` (a backslash): its sort (``set``, ``negset``,
    ``boundary``, ``esc`` for Rust text, ``char`` for a literal character),
    its value, and where the pattern goes on."""
    if i + 1 >= len(p):
        raise PatternError("the pattern ends with a lone backslash")
    c = p[i + 1]
    if c in _SETS:
        return "set", c, i + 2
    if c.lower() in _SETS:
        return "negset", c.lower(), i + 2
    if c == "b":  # a word boundary, or a backspace inside a class
        return ("esc", r"\x08", i + 2) if in_class else ("boundary", c, i + 2)
    if c == "B" and not in_class:
        return "boundary", c, i + 2
    if c in _CONTROL:
        return "esc", _CONTROL[c], i + 2
    if c == "0" and not p[i + 2 : i + 3].isdigit():
        return "esc", r"\x00", i + 2
    if c.isdigit() or (c == "k" and p.startswith("<", i + 2)):
        raise PatternError(f"the backreference \\{c} has no form in tillflow's patterns")
    if c == "x" and _HEX2.fullmatch(p, i + 2, i + 4):
        return "esc", p[i : i + 4], i + 4
    if c == "u" and _HEX4.fullmatch(p, i + 2, i + 6):
        return "esc", r"\x{" + p[i + 2 : i + 6] + "}", i + 6
    nxt = p[i + 2 : i + 3]
    if c == "c" and nxt.isascii() and nxt.isalpha():
        return "esc", r"\x{" + f"{ord(nxt) % 32:X}" + "}", i + 3
    return "char", c, i + 2  # any other escaped character stands for itself


def _outside(sort: str, value: str) -> str:
    if sort == "set":
        return f"[{_SETS[value]}]"
    if sort == "negset":
        return f"[^{_SETS[value]}]"
    if sort == "boundary":
        return rf"(?-u:\{value})"
    if sort == "char" and value in _META:
        return "\\" + value
    return value


def _class(p: str, i: int) -> tuple[str, int]:
    """A character class from ``p[i]`` (``[``) to its closing ``]``."""
    j = i + 1
    negated = p.startswith("^", j)
    j += negated
    if p.startswith("]", j):
        raise PatternError("an empty class ([] or [^]) has no form in tillflow's patterns")
    atoms: list[tuple[str, str]] = []
    while True:
        if j >= len(p):
            raise PatternError("a class ([) is not closed")
        if p[j] == "]":
            break
        if p[j] == "\\":
            sort, value, j = _escape(p, j, in_class=True)
            sort = "echar" if sort == "char" else sort  # an escaped dash is no range
        else:
            sort, value, j = "char", p[j], j + 1
        atoms.append((sort, value))
    out, k, last = ["[^" if negated else "["], 0, len(atoms) - 1
    while k <= last:
        sort, value = atoms[k]
        point = ("char", "echar", "esc")
        if sort in point and k + 2 <= last and atoms[k + 1] == ("char", "-") and atoms[k + 2][0] in point:
            end_sort, end = atoms[k + 2]
            out.append(_member(sort, value, out, negated, k) + "-" + _member(end_sort, end, out, True, k + 2))
            k += 3
            continue
        if sort == "set":
            out.append(_SETS[value])
        elif sort == "negset":
            out.append(f"[^{_SETS[value]}]")
        elif sort != "esc" and value == "-" and k in (0, last):
            out.append("-")  # a dash first or last is a dash in both syntaxes
        else:
            out.append(_member(sort, value, out, negated, k))
        k += 1
    out.append("]")
    return "".join(out), j + 1


def _member(sort: str, value: str, out: list[str], negated: bool, k: int) -> str:
    """One character of a class, escaped where Rust's classes read it as
    syntax: a backslash, brackets, a dash, a leading caret, and the second
    of ``&&`` or ``~~``."""
    if sort == "esc":
        return value
    if value in "\\[]-" or (value == "^" and k == 0 and not negated):
        return "\\" + value
    if value in "&~" and out and out[-1].endswith(value):
        return "\\" + value
    return value
