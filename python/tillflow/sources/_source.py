"""Sources: the classes every source is made of.

A [Source][tillflow.sources.Source] is a named set of [Resource][tillflow.sources.Resource]
specs; each resource's ``open(state)`` returns a [BatchStream][tillflow.sources.BatchStream].
REST specs, vendor presets,
file exports and database tables all build on these.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tillflow import _native
from tillflow._core.errors import config_error
from tillflow._core.secrets import MASK, Secret
from tillflow.exceptions import TillflowError

WRITE_MODES = ("append", "replace", "merge", "scd2")
SCHEMA_CONTRACTS = ("evolve", "freeze", "discard_row", "discard_value")
_SECRET_KEYS = {"token", "value", "password", "client_secret", "refresh_token", "private_key"}


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
    have ``retries``: the requests it sent again, for the run's history; and
    ``warnings``: what the load summary should say of the data read (a file
    source's text column that is mostly a null marker such as ``None``)."""

    def __iter__(self) -> Iterator[dict[str, Any]]: ...
    def close(self) -> None:
        """Stop the stream early, releasing what it holds (threads, connections, files)."""
        ...


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
    """One endpoint: its spec (see the docs' [REST spec reference](../reference/rest-spec.md)), how its
    rows are written (``append``, ``replace`` or ``merge``), the rules its
    root table is checked against (rows that break an error rule go to
    ``<table>__quarantine``) and its schema contract: ``evolve`` (the
    default: new fields add columns, types widen), ``freeze`` (a batch that
    would change an existing table fails, naming the column and both types),
    ``discard_row`` or ``discard_value`` (the tables stay as they are; rows,
    or values, that do not fit them are left out).

    Parameters
    ----------
    spec
        The resource's spec, with at least a non-empty ``name`` (its table).
        Credentials under ``auth`` are kept as [Secret][tillflow.Secret]s.
    write_mode
        ``append``, ``replace``, ``merge`` or ``scd2``; ``None`` leaves it to
        the pipeline (``merge`` with a primary key, else ``append``).
    rules
        A [RuleSet][tillflow.rules.RuleSet], or anything
        [RuleSet.coerce][tillflow.rules.RuleSet.coerce] takes (rules, their
        file form, a rules file's path).
    schema_contract
        ``evolve``, ``freeze``, ``discard_row`` or ``discard_value``; ``None``
        means ``evolve``.
    label
        What errors call the resource, e.g. a preset's ``"stripe.charges"``.

    Raises
    ------
    ConfigError
        If the spec has no name, or ``write_mode`` or ``schema_contract`` is
        not one of its values.
    RuleError
        If ``rules`` holds invalid rules.
    """

    spec: dict[str, Any]
    write_mode: str | None = None
    rules: Any = None  # a RuleSet; also accepts rules, their file form or a rules file
    schema_contract: str | None = None
    # What errors call the resource (a preset's "stripe.charges").
    label: str | None = None

    def __post_init__(self) -> None:
        if self.rules is not None:
            from tillflow.rules import RuleSet

            self.rules = RuleSet.coerce(self.rules, f"{self.spec.get('name')}.rules")
        self.spec = _sealed(self.spec)
        if not isinstance(self.spec.get("name"), str) or not self.spec["name"]:
            raise config_error("name: every resource needs a non-empty name")
        if self.write_mode is not None and self.write_mode not in WRITE_MODES:
            raise config_error(
                f"{self.name}.write_mode: must be one of {', '.join(WRITE_MODES)}, got {self.write_mode!r}"
            )
        if self.schema_contract is not None and self.schema_contract not in SCHEMA_CONTRACTS:
            raise config_error(
                f"{self.name}.schema_contract: must be one of "
                f"{', '.join(SCHEMA_CONTRACTS)}, got {self.schema_contract!r}"
            )

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    def renamed(self, name: str) -> Resource:
        """The same resource loading into the table ``name``."""
        return dataclasses.replace(self, spec={**self.spec, "name": name})

    @property
    def primary_key(self) -> list[str]:
        """The key's columns; a nested field (``transaction_info.transaction_id``)
        is the column the normalizer flattens it into (``transaction_info__transaction_id``)."""
        pk = self.spec.get("primary_key") or []
        return [k.replace(".", "__") for k in ([pk] if isinstance(pk, str) else list(pk))]

    def open(self, state: Mapping[str, Any] | None = None) -> BatchStream:
        """Starts fetching. ``state`` is what the last run committed for this
        resource (see [BatchStream][tillflow.sources.BatchStream]); its ``cursor`` is where an
        incremental spec starts, less its ``lookback``. Without one, the
        spec's ``start`` (the initial value) applies.

        Parameters
        ----------
        state
            The state the last committed batch carried, or ``None`` for a
            first (or full) run.

        Returns
        -------
        BatchStream
            The batches, fetched and normalized in the background.

        Raises
        ------
        ConfigError
            If the spec or ``state`` cannot be read. A failed request or an
            unreadable page raises ``SourceError``, ``HttpError`` or
            ``AuthError`` (and records that do not fit a table
            ``SchemaError``) as the stream is read, named after the resource.
        """
        # The engine reads the state: cursors, per-parent cursors, resume points.
        stored = json.dumps(dict(state)) if state else None
        return _HttpStream(_native.open_resource(native_json(self.spec), stored), self.label)

    def __repr__(self) -> str:
        return f"Resource({self.name!r}, write_mode={self.write_mode!r}, spec={_redacted(self.spec)!r})"


@dataclass
class Source:
    """A named set of resources loaded together.

    Parameters
    ----------
    name
        The source's name.
    resources
        Its resources; their names (the tables they load) must be unique.

    Raises
    ------
    ConfigError
        If two resources have the same name.
    """

    name: str
    resources: list[Resource] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [r.name for r in self.resources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise config_error(f"resources: duplicate resource names {dupes}")

    def with_schema_contract(self, contract: str, *resources: str) -> Source:
        """The same source with the schema contract (``evolve``, ``freeze``,
        ``discard_row`` or ``discard_value``) set on the named resources, or on
        all of them.

        Parameters
        ----------
        contract
            ``evolve``, ``freeze``, ``discard_row`` or ``discard_value``.
        *resources
            Names of resources to set it on; none for every resource.

        Returns
        -------
        Source
            A new source; this one is unchanged.

        Raises
        ------
        ConfigError
            If a name is not one of this source's resources, or ``contract``
            is not one of the four.
        """
        known = {r.name for r in self.resources}
        missing = sorted(set(resources) - known)
        if missing:
            raise config_error(
                f"schema_contract: unknown resources {missing}; this source has {sorted(known)}"
            )
        chosen = set(resources) or known
        out = [
            dataclasses.replace(r, schema_contract=contract) if r.name in chosen else r
            for r in self.resources
        ]
        return Source(self.name, out)

    def with_rules(self, **rules: Any) -> Source:
        """The same source with rules attached to resources by name:
        ``source.with_rules(orders=tl.RuleSet([...]))`` (or a rules file).

        Parameters
        ----------
        **rules
            Resource names mapped to a [RuleSet][tillflow.rules.RuleSet] or
            anything [RuleSet.coerce][tillflow.rules.RuleSet.coerce] takes.

        Returns
        -------
        Source
            A new source; this one is unchanged.

        Raises
        ------
        ConfigError
            If a name is not one of this source's resources, or rules are of
            an unknown form.
        RuleError
            If the rules are invalid.
        """
        known = {r.name for r in self.resources}
        missing = sorted(set(rules) - known)
        if missing:
            raise config_error(f"rules: unknown resources {missing}; this source has {sorted(known)}")
        out = [dataclasses.replace(r, rules=rules[r.name]) if r.name in rules else r for r in self.resources]
        return Source(self.name, out)

    def with_table_prefix(self, prefix: str) -> Source:
        """The same source writing its tables as ``<prefix><resource>``
        (``stripe_charges``), so several sources share one warehouse.

        Parameters
        ----------
        prefix
            Put before every resource's name, e.g. ``"stripe_"``.

        Returns
        -------
        Source
            A new source; this one is unchanged.
        """
        return Source(self.name, [r.renamed(prefix + r.name) for r in self.resources])

    def with_resources(self, *names: str) -> Source:
        """The same source limited to some resources, in the order given.

        Parameters
        ----------
        *names
            The resources to keep.

        Returns
        -------
        Source
            A new source; this one is unchanged.

        Raises
        ------
        ConfigError
            If a name is not one of this source's resources.
        """
        known = {r.name: r for r in self.resources}
        missing = [n for n in names if n not in known]
        if missing:
            raise config_error(f"resources: unknown {missing}; this source has {sorted(known)}")
        return Source(self.name, [known[n] for n in names])

    def __getitem__(self, name: str) -> Resource:
        for r in self.resources:
            if r.name == name:
                return r
        raise KeyError(name)

    def __repr__(self) -> str:
        return f"Source({self.name!r}, resources={[r.name for r in self.resources]})"


def _sealed(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with its credentials (``auth``'s token, value or password)
    held as [Secret][tillflow.Secret]: masked in reprs, logs, errors and what Prefect
    stores of a flow's parameters, revealed only in the JSON the native
    engine reads ([native_json][tillflow.sources.native_json])."""
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
    """The JSON the native engine reads: the only place a spec's secrets are revealed.

    Parameters
    ----------
    spec
        A resource's spec; [Secret][tillflow.Secret] values are revealed,
        other values JSON cannot hold are written as text.

    Returns
    -------
    str
        The spec as JSON text.
    """
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
