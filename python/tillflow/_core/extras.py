"""Modules of an optional extra, imported when first needed."""

from __future__ import annotations

import importlib
from types import ModuleType

from tillflow._core.errors import config_error


def require(module: str, extra: str, what: str) -> ModuleType:
    """``module``, or a ConfigError saying that ``what`` needs it and which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise config_error(f"{module!r} is needed for {what}; pip install 'tillflow[{extra}]'") from None
