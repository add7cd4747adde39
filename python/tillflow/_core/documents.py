"""Reading the settings files tillflow takes (REST specs, rules, alert
channels): YAML, TOML or JSON, chosen by the file's suffix, and finding
where in the file a key was written, so an error names the user's file,
line and key.

YAML and JSON (which PyYAML reads as YAML) are located through the node
marks of ``yaml.compose``. TOML has no such parser in the standard
library, so `_toml_lines` follows the file's own structure line by
line: table headers (arrays of tables counted), dotted keys, and values
that span lines (multi-line strings and arrays); every key of a one-line
inline table or array sits on its key's line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["Document", "DocumentError", "open_document", "path_keys", "read_document"]

SUFFIXES = ".yaml, .yml, .toml or .json"

Key = str | int


class DocumentError(ValueError):
    """Why a file could not be read; callers raise their own error with it."""


class Document:
    """A settings file read: its ``data`` and where each key sits."""

    def __init__(self, path: Path, text: str, data: Any) -> None:
        self.path = path
        self.text = text
        self.data = data
        self._lines: dict[tuple[Key, ...], int] | None = None

    def find(self, keys: Sequence[Key]) -> tuple[int, int | None]:
        """How many of ``keys`` are written in the file (its longest written
        prefix), and the line (from 1) where that prefix is."""
        if self._lines is None:
            try:
                self._lines = _key_lines(self.path.suffix.lower(), self.text)
            except Exception:  # locating is a courtesy: a file that parsed has no line map only by a bug
                self._lines = {}
        for end in range(len(keys), 0, -1):
            found = self._lines.get(tuple(keys[:end]))
            if found is not None:
                return end, found
        return 0, None

    def where(self, *candidates: Sequence[Key]) -> str:
        """``file:line`` of the candidate key path written most fully in the
        file (just ``file`` when none is)."""
        _depth, line = max((self.find(keys) for keys in candidates), key=lambda f: f[0], default=(0, None))
        return f"{self.path}:{line}" if line is not None else str(self.path)


def read_document(path: Path) -> Any:
    """The parsed contents of ``path`` (None for an empty YAML file)."""
    return open_document(path).data


def open_document(path: Path) -> Document:
    """``path`` read and parsed; a syntax error names the line where it can."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DocumentError("no such file") from None
    except OSError as exc:
        raise DocumentError(f"cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:  # a path with a NUL byte in it
        raise DocumentError(f"cannot read it: {exc}") from None
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            import yaml  # type: ignore[import-untyped,unused-ignore]

            return Document(path, text, yaml.safe_load(text))
        if suffix == ".toml":
            import tomllib

            return Document(path, text, tomllib.loads(text))
        if suffix == ".json":
            return Document(path, text, json.loads(text))
    except Exception as exc:  # each parser has its own errors; all mean a bad file
        raise DocumentError(f"not valid {suffix[1:].upper()}: {exc}") from None
    raise DocumentError(f"use a {SUFFIXES} file")


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def path_keys(dotted: str) -> list[Key]:
    """``"resources[1].paginator.type"`` as ``["resources", 1, "paginator", "type"]``."""
    return [int(index) if index else name for name, index in _SEGMENT.findall(dotted)]


def _key_lines(suffix: str, text: str) -> dict[tuple[Key, ...], int]:
    if suffix == ".toml":
        return _toml_lines(text)
    return _yaml_lines(text)


def _yaml_lines(text: str) -> dict[tuple[Key, ...], int]:
    import yaml

    out: dict[tuple[Key, ...], int] = {}

    def walk(node: Any, at: tuple[Key, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*at, key.value)
                out.setdefault(here, key.start_mark.line + 1)
                walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                out.setdefault((*at, i), item.start_mark.line + 1)
                walk(item, (*at, i))

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, ())
    return out


def _toml_lines(text: str) -> dict[tuple[Key, ...], int]:
    import tomllib

    out: dict[tuple[Key, ...], int] = {}
    arrays: dict[tuple[Key, ...], int] = {}  # array-of-tables path -> index of its last table
    table: tuple[Key, ...] = ()
    lines = text.splitlines()
    n = 0
    while n < len(lines):
        start, line = n + 1, lines[n].strip()
        n += 1
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            is_array = line.startswith("[[")
            close = _outside_quotes(line, "]")
            inner = line[2 if is_array else 1 : close]
            names = _split_dotted(inner)
            resolved: list[Key] = []
            for i, key in enumerate(names):
                resolved.append(key)
                # A table under an array of tables belongs to its latest table.
                if tuple(resolved) in arrays and not (is_array and i == len(names) - 1):
                    resolved.append(arrays[tuple(resolved)])
            base = tuple(resolved)
            out.setdefault(base, start)
            if is_array:
                arrays[base] = arrays.get(base, -1) + 1
                table = (*base, arrays[base])
                out[table] = start
            else:
                table = base
            continue
        eq = _outside_quotes(line, "=")
        if eq < 0:
            continue
        keys = _split_dotted(line[:eq])
        for i in range(1, len(keys) + 1):
            out.setdefault((*table, *keys[:i]), start)
        # A value may run over several lines: gather it until it parses.
        value = line[eq + 1 :]
        while True:
            try:
                parsed = tomllib.loads("v = " + value)["v"]
                break
            except tomllib.TOMLDecodeError:
                if n >= len(lines):
                    parsed = None
                    break
                value += "\n" + lines[n]
                n += 1
        _nested(parsed, (*table, *keys), start, out)
    return out


def _nested(value: Any, at: tuple[Key, ...], line: int, out: dict[tuple[Key, ...], int]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            out.setdefault((*at, key), line)
            _nested(item, (*at, key), line, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.setdefault((*at, i), line)
            _nested(item, (*at, i), line, out)


def _outside_quotes(text: str, char: str) -> int:
    """The index of the first ``char`` not inside a quoted key, or -1."""
    quote = None
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == char:
            return i
    return -1


def _split_dotted(text: str) -> list[Key]:
    """A TOML key (``a."b.c".d``) as its parts, quotes removed."""
    parts: list[Key] = []
    for piece in re.findall(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^.\s]+', text):
        if piece.startswith('"'):
            parts.append(json.loads(piece))
        elif piece.startswith("'"):
            parts.append(piece[1:-1])
        else:
            parts.append(piece)
    return parts
