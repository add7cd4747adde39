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
    "RunLocked",
    "SchemaError",
    "Secret",
    "SourceError",
    "StepsFailed",
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
    "project",
    "redact",
    "register_secret",
    "rules",
    "sources",
    "testing",
    "warehouse",
]

_MODULES = (
    "demo",
    "integrations",
    "metrics",
    "monitor",
    "project",
    "rules",
    "sources",
    "testing",
    "warehouse",
)
_EXC = "tillflow.exceptions"
# Where each top-level name lives; it loads on first use.
_NAMES = {
    "TillflowError": _EXC, "ConfigError": _EXC, "SourceError": _EXC, "HttpError": _EXC,
    "AuthError": _EXC, "SchemaError": _EXC, "RuleError": _EXC, "InternalError": _EXC,
    "ValidationError": _EXC, "WarehouseError": _EXC, "WarehouseLocked": _EXC,
    "RunLocked": _EXC, "StepsFailed": _EXC,
    "Secret": "tillflow._core.secrets", "redact": "tillflow._core.secrets",
    "register_secret": "tillflow._core.secrets", "configure_logging": "tillflow._core.logs",
    "RuleSet": "tillflow.rules", "pipeline": "tillflow._pipeline", "Pipeline": "tillflow._pipeline",
    "demo_shop": "tillflow.demo", "normalize": "tillflow._normalize", "__version__": "tillflow._native",
}  # fmt: skip
# Short names of deeper modules (``tl.kernels`` is ``tl.metrics.kernels``); ``prefect`` needs
# the extra: ``pip install 'tillflow[prefect]'``.
_ALIASES = {
    "kernels": "tillflow.metrics.kernels",
    "expr": "tillflow.metrics.expr",
    "prefect": "tillflow.integrations.prefect",
    "contracts": "tillflow.rules.contracts",
}

if TYPE_CHECKING:
    from tillflow import demo, integrations, metrics, monitor, project, rules, sources, testing, warehouse
    from tillflow._core.logs import configure_logging
    from tillflow._core.secrets import Secret, redact, register_secret
    from tillflow._normalize import normalize
    from tillflow._pipeline import Pipeline, pipeline
    from tillflow.demo import demo_shop
    from tillflow.exceptions import *  # noqa: F403  (the exception tree, as its __all__ lists it)
    from tillflow.rules import RuleSet

    __version__: str


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"tillflow.{name}")
    if name in _ALIASES:
        return importlib.import_module(_ALIASES[name])
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'tillflow' has no attribute {name!r}")
