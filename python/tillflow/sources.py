"""Sources: declarative REST specs read by the native HTTP engine.

A :class:`Source` is a named set of :class:`Resource` specs. ``rest()`` takes
a dict or a TOML/YAML/JSON file; ``shopify()`` is a preset, i.e. the same
kind of spec filled in for Shopify's Admin API. Secrets may be written as
``${ENV_VAR}`` in files so they never sit in version control.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tillflow import _native
from tillflow._documents import Document, DocumentError, open_document, path_keys
from tillflow.exceptions import ConfigError, TillflowError
from tillflow.monitor._logs import MASK, Secret

__all__ = [
    "SHOPIFY_API_VERSION",
    "BatchStream",
    "FileResource",
    "Resource",
    "Source",
    "SqlTable",
    "files",
    "ga4",
    "hubspot",
    "mailchimp",
    "mysql",
    "paypal",
    "postgres",
    "quickbooks",
    "rest",
    "shopify",
    "shopify_graphql",
    "sql_database",
    "square",
    "stripe",
    "woocommerce",
    "xero",
    "zendesk",
]

SHOPIFY_API_VERSION = "2024-01"
WRITE_MODES = ("append", "replace", "merge", "scd2")
SCHEMA_CONTRACTS = ("evolve", "freeze", "discard_row", "discard_value")
_SECRET_KEYS = {"token", "value", "password", "client_secret", "refresh_token", "private_key"}
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class BatchStream(Protocol):
    """What every resource's ``open(state)`` returns: batches in the order
    they are to be committed, each a dict with

    - ``tables``: ``{table: polars.DataFrame}``, the root table first (may be
      empty when a batch only moves the state on);
    - ``records``: root records the batch holds (for progress);
    - ``state``: JSON-able state to commit *in the same transaction* as the
      batch's rows, or ``None`` to leave the stored state as it is. The next
      run's ``open`` gets the last committed state back, so a stream resumes
      exactly after the last committed batch;
    - optionally ``quarantine``: ``{"<table>__quarantine": frame}`` of rows
      the source could not read (appended whatever the write mode);
    - optionally ``delete``: ``{column: [values]}``, rows of the resource's
      tables to delete in the same transaction before the batch's rows go in
      (a changed file replaces the rows it gave before).

    ``close()`` stops the stream early (after a failure). A stream may also
    have ``retries``: the requests it sent again, for the run's history."""

    def __iter__(self) -> Iterator[dict[str, Any]]: ...
    def close(self) -> None: ...


class _HttpStream:
    """The native HTTP stream in the batch protocol. Every batch carries the
    state that holds once it is committed: where the page chains stand
    (``resume``) until the last batch, then the new cursor and the keys of
    the records at it (``boundary``)."""

    def __init__(self, native: _native.ResourceStream, label: str | None = None) -> None:
        self.native = native
        self.label = label

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            yield from self._batches()
        except TillflowError as exc:
            # A preset's errors name it: "stripe.charges: GET … was refused".
            if self.label and not str(exc).startswith(self.label):
                named = type(exc)(f"{self.label}: {exc}")
                named.__dict__.update(exc.__dict__)
                raise named from None
            raise

    def _batches(self) -> Iterator[dict[str, Any]]:
        for batch in self.native:
            yield {
                "tables": batch["tables"],
                "quarantine": batch["quarantine"],
                "records": batch["records"],
                "state": json.loads(batch["state"]),
                "last": batch["last"],
            }

    def close(self) -> None:
        self.native.close()

    @property
    def retries(self) -> int:
        return self.native.retries


@dataclass
class Resource:
    """One endpoint: its spec (see the README's spec reference), how its
    rows are written (``append``, ``replace`` or ``merge``), the rules its
    root table is checked against (rows that break an error rule go to
    ``<table>__quarantine``) and its schema contract: ``evolve`` (the
    default: new fields add columns, types widen), ``freeze`` (a batch that
    would change an existing table fails, naming the column and both types),
    ``discard_row`` or ``discard_value`` (the tables stay as they are; rows,
    or values, that do not fit them are left out)."""

    spec: dict[str, Any]
    write_mode: str | None = None
    rules: Any = None  # a RuleSet; also accepts rules, their file form or a rules file
    schema_contract: str | None = None
    # What errors call the resource (a preset's "stripe.charges").
    label: str | None = None

    def __post_init__(self) -> None:
        if self.rules is not None:
            self.rules = _ruleset(self.rules, f"{self.spec.get('name')}.rules")
        self.spec = _sealed(self.spec)
        if not isinstance(self.spec.get("name"), str) or not self.spec["name"]:
            raise ConfigError("invalid config: name: every resource needs a non-empty name")
        if self.write_mode is not None and self.write_mode not in WRITE_MODES:
            raise ConfigError(
                f"invalid config: {self.name}.write_mode: must be one of {', '.join(WRITE_MODES)}, "
                f"got {self.write_mode!r}"
            )
        if self.schema_contract is not None and self.schema_contract not in SCHEMA_CONTRACTS:
            raise ConfigError(
                f"invalid config: {self.name}.schema_contract: must be one of "
                f"{', '.join(SCHEMA_CONTRACTS)}, got {self.schema_contract!r}"
            )

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def primary_key(self) -> list[str]:
        """The key's columns; a nested field (``transaction_info.transaction_id``)
        is the column the normalizer flattens it into (``transaction_info__transaction_id``)."""
        pk = self.spec.get("primary_key") or []
        return [k.replace(".", "__") for k in ([pk] if isinstance(pk, str) else list(pk))]

    def open(self, state: Mapping[str, Any] | None = None) -> BatchStream:
        """Starts fetching. ``state`` is what the last run committed for this
        resource (see :class:`BatchStream`); its ``cursor`` is where an
        incremental spec starts, less its ``lookback``. Without one, the
        spec's ``start`` (the initial value) applies."""
        # The engine reads the state: cursors, per-parent cursors, resume points.
        stored = json.dumps(dict(state)) if state else None
        return _HttpStream(_native.open_resource(native_json(self.spec), stored), self.label)

    def __repr__(self) -> str:
        return f"Resource({self.name!r}, write_mode={self.write_mode!r}, spec={_redacted(self.spec)!r})"


@dataclass
class Source:
    """A named set of resources loaded together."""

    name: str
    resources: list[Resource] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [r.name for r in self.resources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"invalid config: resources: duplicate resource names {dupes}")

    def with_schema_contract(self, contract: str, *resources: str) -> Source:
        """The same source with the schema contract (``evolve``, ``freeze``,
        ``discard_row`` or ``discard_value``) set on the named resources, or on
        all of them."""
        known = {r.name for r in self.resources}
        missing = sorted(set(resources) - known)
        if missing:
            raise ConfigError(
                f"invalid config: schema_contract: unknown resources {missing}; "
                f"this source has {sorted(known)}"
            )
        chosen = set(resources) or known
        out = [
            dataclasses.replace(r, schema_contract=contract) if r.name in chosen else r
            for r in self.resources
        ]
        return Source(self.name, out)

    def with_rules(self, **rules: Any) -> Source:
        """The same source with rules attached to resources by name:
        ``source.with_rules(orders=tl.RuleSet([...]))`` (or a rules file)."""
        known = {r.name for r in self.resources}
        missing = sorted(set(rules) - known)
        if missing:
            raise ConfigError(
                f"invalid config: rules: unknown resources {missing}; this source has {sorted(known)}"
            )
        out = [dataclasses.replace(r, rules=rules[r.name]) if r.name in rules else r for r in self.resources]
        return Source(self.name, out)

    def with_table_prefix(self, prefix: str) -> Source:
        """The same source writing its tables as ``<prefix><resource>``
        (``stripe_charges``), so several sources share one warehouse."""
        out = [dataclasses.replace(r, spec={**r.spec, "name": prefix + r.name}) for r in self.resources]
        return Source(self.name, out)

    def with_resources(self, *names: str) -> Source:
        """The same source limited to some resources, in the order given."""
        known = {r.name: r for r in self.resources}
        missing = [n for n in names if n not in known]
        if missing:
            raise ConfigError(
                f"invalid config: resources: unknown {missing}; this source has {sorted(known)}"
            )
        return Source(self.name, [known[n] for n in names])

    def __getitem__(self, name: str) -> Resource:
        for r in self.resources:
            if r.name == name:
                return r
        raise KeyError(name)

    def __repr__(self) -> str:
        return f"Source({self.name!r}, resources={[r.name for r in self.resources]})"


def rest(spec: Mapping[str, Any] | str | os.PathLike[str], **defaults: Any) -> Source:
    """A source from a declarative spec: a dict or a ``.toml``/``.yaml``/``.json``
    file holding either one resource, or ``{name, defaults, resources: [...]}``
    where each resource inherits ``defaults`` (e.g. ``base_url`` and ``auth``).
    Keyword arguments are extra defaults.

    The spec is checked whole here, before anything is fetched: a
    ``ConfigError`` names the key, and for a file its line
    (``orders.toml:3: primary_keyy: unknown field …``)."""
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
    the ``ConfigError`` carries ``field``, the dotted path of the bad key."""
    try:
        text = native_json(spec)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid config: {spec.get('name')}: not JSON-serializable: {exc}") from None
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
    return ConfigError(f"invalid config: {at}: {field + ': ' if field else ''}{message}")


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
        raise ConfigError(f"invalid config: resources: Shopify has no {unknown}; choose from {sorted(specs)}")
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


def _ruleset(rules: Any, where: str) -> Any:
    """A RuleSet from what a resource was given."""
    from tillflow.rules import Rule, RuleSet

    if isinstance(rules, RuleSet):
        return rules
    if isinstance(rules, (str, os.PathLike)):
        return RuleSet.from_file(rules)
    if isinstance(rules, Mapping):
        return RuleSet.from_dict(rules)
    if isinstance(rules, Iterable):
        items = list(rules)
        if all(isinstance(r, Rule) for r in items):
            return RuleSet(items)
        return RuleSet.from_dict(items)
    raise ConfigError(f"invalid config: {where}: expected a RuleSet, rules or a rules file, got {rules!r}")


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
        raise ConfigError(f"invalid config: {path}: {e}") from None
    if not isinstance(document.data, dict):
        raise ConfigError(f"invalid config: {path}: the top level must be a table/mapping")
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
                raise ConfigError(
                    f"invalid config: {origin}: {where or 'value'} refers to ${{{var}}}, which is not set"
                )
            return os.environ[var]

        return _ENV.sub(sub, value)
    if isinstance(value, Mapping):
        return {k: _expand_env(v, origin, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, origin, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _sealed(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with its credentials (``auth``'s token, value or password)
    held as :class:`Secret`: masked in reprs, logs, errors and what Prefect
    stores of a flow's parameters, revealed only in the JSON the native
    engine reads (:func:`native_json`)."""
    parent = spec.get("parent")
    if isinstance(parent, Mapping) and isinstance(parent.get("resource"), Mapping):
        # A substream's parent spec carries the same credentials.
        spec = {**spec, "parent": {**parent, "resource": _sealed(dict(parent["resource"]))}}
    auth = spec.get("auth")
    if not isinstance(auth, Mapping) or not any(isinstance(auth.get(k), str) for k in _SECRET_KEYS):
        return spec
    username = auth.get("username") if auth.get("type") == "basic" else None
    sealed = {
        k: Secret(v, username=username if isinstance(username, str) else None)
        if k in _SECRET_KEYS and isinstance(v, str)
        else v
        for k, v in auth.items()
    }
    return {**spec, "auth": sealed}


def _reveal(value: Any) -> Any:
    return value.reveal() if isinstance(value, Secret) else str(value)


def native_json(spec: Mapping[str, Any]) -> str:
    """The JSON the native engine reads: the only place a spec's secrets are revealed."""
    return json.dumps(spec, default=_reveal)


def _redacted(value: Any) -> Any:
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, Mapping):
        return {
            k: ("***" if k in _SECRET_KEYS and isinstance(v, str) else _redacted(v)) for k, v in value.items()
        }
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
        return [_redacted(v) for v in value]
    return value


from tillflow._databases import SqlTable, mysql, postgres, sql_database  # noqa: E402  (it builds on Source)
from tillflow._files import FileResource, files  # noqa: E402  (file sources build on the classes above)
from tillflow._saas import (  # noqa: E402  (presets build on Resource and Source)
    ga4,
    hubspot,
    mailchimp,
    paypal,
    quickbooks,
    shopify_graphql,
    square,
    stripe,
    woocommerce,
    xero,
    zendesk,
)
