"""REST sources: declarative specs read by the native HTTP engine.

``rest()`` takes a dict or a TOML/YAML/JSON file; ``shopify()`` is a preset,
i.e. the same kind of spec filled in for Shopify's Admin API. Secrets may be
written as ``${ENV_VAR}`` in files so they never sit in version control.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tillflow import _native
from tillflow._core.documents import Document, DocumentError, open_document, path_keys
from tillflow._core.errors import config_error
from tillflow.exceptions import ConfigError, TillflowError
from tillflow.sources._source import Resource, Source, native_json

SHOPIFY_API_VERSION = "2024-01"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def rest(spec: Mapping[str, Any] | str | os.PathLike[str], **defaults: Any) -> Source:
    """A source from a declarative spec: a dict or a ``.toml``/``.yaml``/``.json``
    file holding either one resource, or ``{name, defaults, resources: [...]}``
    where each resource inherits ``defaults`` (e.g. ``base_url`` and ``auth``).
    Keyword arguments are extra defaults.

    The spec is checked whole here, before anything is fetched: a
    ``ConfigError`` names the key, and for a file its line
    (``orders.toml:3: primary_keyy: unknown field …``).

    Parameters
    ----------
    spec
        The spec as a mapping, or the path of a ``.toml``, ``.yaml``/``.yml``
        or ``.json`` file. ``${ENV_VAR}`` in its strings is replaced by the
        variable's value; a resource's ``rules`` file is found relative to
        the spec file (to the working directory for a mapping). The keys:
        the docs' [REST spec reference](../reference/rest-spec.md).
    **defaults
        Keys every resource inherits, beneath the spec's own ``defaults``.

    Returns
    -------
    Source
        One resource per spec entry, named after the spec's ``name``
        (``"rest"`` when it has none).

    Raises
    ------
    ConfigError
        If the file cannot be read or parsed, a variable it names is not
        set, or a key is unknown or invalid.
    RuleError
        If a resource's rules are invalid.
    """
    document = None
    if isinstance(spec, Mapping):
        doc: dict[str, Any] = copy.deepcopy(dict(spec))
        origin = "spec"
    else:
        path = Path(spec)
        document = _read_spec_file(path)
        doc = document.data
        origin = str(path)
    raw = doc
    doc = _expand_env(doc, origin)
    here = Path(origin).parent if origin != "spec" else Path.cwd()

    def fail(keys: list[Any], message: str) -> ConfigError:
        return _spec_error(document, origin, keys, message)

    if "resources" not in doc:
        name = doc.get("name", "rest")
        return Source(
            str(name), [_checked(lambda: _resource({**defaults, **doc}, here), document, origin, raw, [[]])]
        )
    if not isinstance(doc.get("defaults", {}), Mapping):
        raise fail(["defaults"], "must be a table/mapping")
    base = {**defaults, **doc.get("defaults", {})}
    unknown = sorted(set(doc) - {"name", "defaults", "resources"})
    if unknown:
        raise fail([unknown[0]], "unknown top-level key; expected one of name, defaults, resources")
    items = doc["resources"]
    if not isinstance(items, list) or not items:
        raise fail(["resources"], "must be a non-empty list")
    resources = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise fail(["resources", i], "must be a table/mapping")
        build = lambda item=item: _resource(_merge(base, dict(item)), here)  # noqa: E731
        resources.append(_checked(build, document, origin, raw, [["resources", i], ["defaults"]]))
    return Source(str(doc.get("name", "rest")), resources)


def check_spec(spec: Mapping[str, Any]) -> None:
    """Parse and validate one resource's spec natively, fetching nothing;
    the ``ConfigError`` carries ``field``, the dotted path of the bad key.

    Parameters
    ----------
    spec
        One resource's spec, as [Resource][tillflow.sources.Resource] holds it.

    Raises
    ------
    ConfigError
        If the spec is invalid or cannot be written as JSON.
    """
    try:
        text = native_json(spec)
    except (TypeError, ValueError) as exc:
        raise config_error(f"{spec.get('name')}: not JSON-serializable: {exc}") from None
    _native.check_spec(text)


def _checked(
    build: Any, document: Document | None, origin: str, raw: Any, scopes: list[list[Any]]
) -> Resource:
    """``build()``'s resource; a spec error is raised again naming the key as
    the user wrote it (under one of ``scopes``: ``resources[i]``, ``defaults``),
    without the position in tillflow's own JSON copy of the spec, and with
    no secret read from the environment."""
    try:
        return build()
    except TillflowError as exc:
        field = getattr(exc, "field", None) if isinstance(exc, ConfigError) else None
        if not field:
            # Checked in Python (a missing name, a bad write mode, its
            # rules): the file and the resource's line still lead the message.
            text = str(exc)
            if document is None or origin in text:
                raise
            plain = text.removeprefix("invalid config: ")
            raise type(exc)(f"invalid config: {document.where(*scopes)}: {plain}") from None
        prefix = f"invalid config: {field}: "
        text = str(exc)
        message = _POSITION.sub("", text[len(prefix) :] if text.startswith(prefix) else text)
        for secret in _env_values(raw):
            message = message.replace(secret, "***")
        keys = path_keys(field)
        candidates = [[*scope, *keys] for scope in scopes]
        if document is not None:  # the scope where the whole key is written, else the deepest part of it
            candidates.sort(key=lambda c: (document.find(c)[0] == len(c), document.find(c)[0]), reverse=True)
        raise _spec_error(document, origin, candidates[0], message) from None


def _spec_error(document: Document | None, origin: str, keys: list[Any], message: str) -> ConfigError:
    """``invalid config: orders.toml:3: resources[0].primary_keyy: …``."""
    at = document.where(keys) if document is not None else origin
    field = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys).lstrip(".")
    return config_error(f"{at}: {field + ': ' if field else ''}{message}")


def shopify(
    shop_url: str,
    token: str,
    *,
    resources: Sequence[str] = ("orders", "customers", "products"),
    api_version: str = SHOPIFY_API_VERSION,
    start: str | None = None,
    end: str | None = None,
    windows: int = 8,
    page_size: int = 250,
    concurrency: int = 4,
    incremental: bool = True,
    lookback: str | float | None = None,
    numeric_strings: str = "decimal",
    retry: dict[str, Any] | None = None,
    batch_size: int | None = None,
) -> Source:
    """Shopify's Admin REST API: orders (with line items), customers, products.

    Paging follows the ``Link`` header (``page_info``). With ``start`` (an
    RFC 3339 time before the first order) orders are fetched as ``windows``
    time slices in parallel; ``incremental`` asks only for orders updated
    since the last run (``updated_at_min``), merged on ``id``, starting again
    ``lookback`` before the stored cursor (``"1h"``, ``"2days"`` or seconds)
    to catch orders updated while the last run read. ``retry`` and
    ``batch_size`` pass through to every resource's spec.

    Parameters
    ----------
    shop_url
        The shop, ``https://<shop>.myshopify.com`` (``https://`` is added
        when the scheme is left out).
    token
        An Admin API access token, sent as ``X-Shopify-Access-Token``.
    resources
        Which of ``orders``, ``customers`` and ``products`` to load.
    api_version
        The Admin API version in the URL.
    start
        An RFC 3339 time before the first order; set, orders are read in
        ``windows`` slices of their creation time from ``start`` to ``end``.
    end
        The end of the windows (by default, now).
    windows
        How many slices of the creation time ``start`` asks for.
    page_size
        Records a page (Shopify's ``limit``, at most 250).
    concurrency
        Requests in flight at once, per resource.
    incremental
        Whether orders after the first run are only those updated since the
        stored cursor.
    lookback
        How far before the stored cursor an incremental run starts.
    numeric_strings
        What amounts sent as text become: ``"decimal"`` (exact decimals),
        ``"float"`` or ``"string"`` (kept as text).
    retry
        The ``retry`` table of the spec (``max_attempts``, backoffs).
    batch_size
        Records a batch, each committed in its own transaction.

    Returns
    -------
    Source
        The source ``shopify``, every resource merged on ``id``.

    Raises
    ------
    ConfigError
        If a resource is not one of the three, or an option makes an invalid
        spec.
    """
    if not shop_url.startswith(("http://", "https://")):
        shop_url = "https://" + shop_url
    base = f"{shop_url.rstrip('/')}/admin/api/{api_version}"
    common: dict[str, Any] = {
        "base_url": base,
        "paginator": {"type": "link_header"},
        "auth": {"type": "api_key", "name": "X-Shopify-Access-Token", "value": token},
        "primary_key": "id",
        "concurrency": concurrency,
        "normalize": {"numeric_strings": numeric_strings},
    }
    if retry is not None:
        common["retry"] = dict(retry)
    if batch_size is not None:
        common["batch_size"] = batch_size
    specs = {
        "orders": {
            "path": "orders.json",
            "params": {"limit": page_size, "status": "any"},
            "records": "orders",
            "cursor_field": "updated_at",
        },
        "customers": {"path": "customers.json", "params": {"limit": page_size}, "records": "customers"},
        "products": {"path": "products.json", "params": {"limit": page_size}, "records": "products"},
    }
    unknown = [r for r in resources if r not in specs]
    if unknown:
        raise config_error(f"resources: Shopify has no {unknown}; choose from {sorted(specs)}")
    if incremental:
        specs["orders"]["incremental"] = {"param": "updated_at_min", "lookback": lookback}
    if start is not None:
        specs["orders"]["windows"] = {
            "min_param": "created_at_min",
            "max_param": "created_at_max",
            "start": start,
            "end": end,
            "count": windows,
        }
    out = [Resource({"name": name, **common, **specs[name]}, write_mode="merge") for name in resources]
    for resource in out:
        check_spec(resource.spec)
    return Source("shopify", out)


def _resource(spec: dict[str, Any], here: Path) -> Resource:
    write_mode = spec.pop("write_mode", None)
    contract = spec.pop("schema_contract", None)
    rules = spec.pop("rules", None)
    if isinstance(rules, str):
        rules = here / rules
    resource = Resource(spec, write_mode=write_mode, rules=rules, schema_contract=contract)
    check_spec(resource.spec)
    return resource


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        # A resource's own auth or paginator replaces the default's whole:
        # fields of another kind would not belong to it.
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) and k not in ("auth", "paginator"):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _read_spec_file(path: Path) -> Document:
    try:
        document = open_document(path)
    except DocumentError as e:
        raise config_error(f"{path}: {e}") from None
    if not isinstance(document.data, dict):
        raise config_error(f"{path}: the top level must be a table/mapping")
    return document


# serde's position in the JSON text tillflow sends the native parser: not the user's file.
_POSITION = re.compile(r" at line \d+ column \d+")


def _env_values(raw: Any) -> list[str]:
    """The values of the environment variables a spec refers to, longest first."""
    names = set(_ENV.findall(json.dumps(raw, default=str)))
    values = {os.environ[n] for n in names if len(os.environ.get(n, "")) >= 4}
    return sorted(values, key=len, reverse=True)


def _expand_env(value: Any, origin: str, where: str = "") -> Any:
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            var = m.group(1)
            if var not in os.environ:
                raise config_error(f"{origin}: {where or 'value'} refers to ${{{var}}}, which is not set")
            return os.environ[var]

        return _ENV.sub(sub, value)
    if isinstance(value, Mapping):
        return {k: _expand_env(v, origin, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, origin, f"{where}[{i}]") for i, v in enumerate(value)]
    return value
