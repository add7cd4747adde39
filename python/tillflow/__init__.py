"""tillflow: a small business's data stack in one ``pip install``.

>>> import tillflow as tl
>>> with tl.demo_shop(orders=500) as shop:
...     wh = tl.warehouse.duckdb(":memory:")
...     tl.pipeline("shop", tl.sources.shopify(shop.url, shop.token, **shop.window), wh).run()
...     tl.metrics.daily_summary(wh)

Submodules load on first use, so ``import tillflow`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "AuthError",
    "ConfigError",
    "HttpError",
    "InternalError",
    "Pipeline",
    "RuleError",
    "RuleSet",
    "SchemaError",
    "Secret",
    "SourceError",
    "TillflowError",
    "ValidationError",
    "WarehouseError",
    "WarehouseLocked",
    "__version__",
    "configure_logging",
    "demo",
    "demo_shop",
    "integrations",
    "metrics",
    "monitor",
    "normalize",
    "pipeline",
    "redact",
    "register_secret",
    "rules",
    "sources",
    "testing",
    "warehouse",
]

_MODULES = ("demo", "integrations", "metrics", "monitor", "rules", "sources", "testing", "warehouse")
# Short names of deeper modules (``tl.kernels`` is ``tl.metrics.kernels``); ``prefect`` needs
# the extra: ``pip install 'tillflow[prefect]'``.
_ALIASES = {
    "kernels": "tillflow.metrics.kernels",
    "expr": "tillflow.metrics.expr",
    "prefect": "tillflow.integrations.prefect",
}
_EXCEPTIONS = {
    "TillflowError",
    "ConfigError",
    "SourceError",
    "HttpError",
    "AuthError",
    "SchemaError",
    "RuleError",
    "InternalError",
    "ValidationError",
    "WarehouseError",
    "WarehouseLocked",
}

if TYPE_CHECKING:
    from tillflow import demo, integrations, metrics, monitor, rules, sources, testing, warehouse
    from tillflow._core.logs import configure_logging
    from tillflow._core.secrets import Secret, redact, register_secret
    from tillflow._normalize import normalize
    from tillflow._pipeline import Pipeline, pipeline
    from tillflow.demo import demo_shop
    from tillflow.exceptions import (
        AuthError,
        ConfigError,
        HttpError,
        InternalError,
        RuleError,
        SchemaError,
        SourceError,
        TillflowError,
        ValidationError,
        WarehouseError,
        WarehouseLocked,
    )
    from tillflow.rules import RuleSet

    __version__: str


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"tillflow.{name}")
    if name in _ALIASES:
        return importlib.import_module(_ALIASES[name])
    if name in ("Secret", "redact", "register_secret"):
        return getattr(importlib.import_module("tillflow._core.secrets"), name)
    if name == "configure_logging":
        return importlib.import_module("tillflow._core.logs").configure_logging
    if name in _EXCEPTIONS:
        return getattr(importlib.import_module("tillflow.exceptions"), name)
    if name == "RuleSet":
        return importlib.import_module("tillflow.rules").RuleSet
    if name in ("pipeline", "Pipeline"):
        return getattr(importlib.import_module("tillflow._pipeline"), name)
    if name == "demo_shop":
        return importlib.import_module("tillflow.demo").demo_shop
    if name == "normalize":
        return importlib.import_module("tillflow._normalize").normalize
    if name == "__version__":
        return importlib.import_module("tillflow._native").__version__
    raise AttributeError(f"module 'tillflow' has no attribute {name!r}")
