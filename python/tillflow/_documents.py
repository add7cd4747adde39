"""Reading the settings files tillflow takes (REST specs, rules, alert
channels): YAML, TOML or JSON, chosen by the file's suffix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["DocumentError", "read_document"]

SUFFIXES = ".yaml, .yml, .toml or .json"


class DocumentError(ValueError):
    """Why a file could not be read; callers raise their own error with it."""


def read_document(path: Path) -> Any:
    """The parsed contents of ``path`` (None for an empty YAML file)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DocumentError("no such file") from None
    except OSError as exc:
        raise DocumentError(f"cannot read it: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            import yaml  # type: ignore[import-untyped,unused-ignore]

            return yaml.safe_load(text)
        if suffix == ".toml":
            import tomllib

            return tomllib.loads(text)
        if suffix == ".json":
            return json.loads(text)
    except Exception as exc:  # each parser has its own errors; all mean a bad file
        raise DocumentError(f"not valid {suffix[1:].upper()}: {exc}") from None
    raise DocumentError(f"use a {SUFFIXES} file")
