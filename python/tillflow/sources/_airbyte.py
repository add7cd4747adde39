"""Airbyte declarative manifests as a source: a ``manifest.yaml`` read
unmodified and run natively (``tillflow._native.open_manifest``), one
resource per stream, each stream's state (its cursor, in Airbyte's form)
in ``_tf_state``.

The manifest is checked when the source is made: a component outside the
supported subset (see the docs' table) fails here, naming its type and
its path in the manifest.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tillflow import _native
from tillflow._core.documents import DocumentError, open_document, path_keys
from tillflow._core.errors import config_error
from tillflow._core.secrets import Secret, register_secret
from tillflow.exceptions import ConfigError
from tillflow.sources._source import Resource, Source

__all__ = ["ManifestResource", "airbyte_manifest", "is_airbyte_manifest"]

_OnUpdate = Callable[[dict[str, Any]], Any]
_SECRET_HINTS = ("secret", "password", "token", "key", "credential", "auth")


def _read_mapping(value: Any, what: str) -> dict[str, Any]:
    """A mapping given inline, or read from a YAML or JSON file."""
    if isinstance(value, Mapping):
        return dict(value)
    path = Path(os.fspath(value))
    try:
        loaded = open_document(path).data
    except DocumentError as exc:
        raise config_error(f"{what}: {path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise config_error(f"{what}: {path} must hold a mapping")
    return loaded


_FIELD = re.compile(r"^invalid config: (\S+): ")


def _located(exc: ConfigError, manifest: Any) -> ConfigError:
    """The error with the manifest file's line of the component at fault."""
    match = _FIELD.match(str(exc))
    if match is None or isinstance(manifest, Mapping):
        return exc
    try:
        where = open_document(Path(os.fspath(manifest))).where(path_keys(match.group(1)))
    except DocumentError:
        return exc
    return ConfigError(f"{where}: {str(exc).removeprefix('invalid config: ')}")


def _reveal(value: Any) -> Any:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, Mapping):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def _register(config: Mapping[str, Any]) -> None:
    """Masks the config's credentials in every log line and error."""
    for key, value in config.items():
        if isinstance(value, Mapping):
            _register(value)
        elif isinstance(value, str) and any(h in key.lower() for h in _SECRET_HINTS):
            register_secret(value)


class _Config:
    """A manifest's config, shared by its streams: rotated OAuth tokens are
    kept for the next stream and run, and written back to the config file
    it came from."""

    def __init__(
        self, values: dict[str, Any], path: Path | None, on_update: Callable[[dict[str, Any]], Any] | None
    ):
        self.values = values
        self.path = path
        self.on_update = on_update

    def update(self, values: dict[str, Any]) -> None:
        self.values = values
        _register(values)
        if self.path is not None:
            # Atomically, owner-only: a refresh token a server rotated is the only one that works now.
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tillflow-config-")
            with os.fdopen(fd, "w") as f:
                json.dump(values, f, indent=2)
            os.replace(tmp, self.path)
        if self.on_update is not None:
            self.on_update(dict(values))


class _ManifestStream:
    """The native stream in the batch protocol; persists a rotated config."""

    def __init__(self, native: _native.ManifestStream, config: _Config) -> None:
        self.native = native
        self.config = config

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            for batch in self.native:
                self._persist()
                state = batch["state"]
                yield {"tables": batch["tables"], "records": batch["records"],
                       "state": None if state is None else json.loads(state)}  # fmt: skip
        finally:
            self._persist()

    def _persist(self) -> None:
        updated = self.native.updated_config
        if updated is not None and json.loads(updated) != self.config.values:
            self.config.update(json.loads(updated))

    def close(self) -> None:
        self._persist()
        self.native.close()

    @property
    def retries(self) -> int:
        return self.native.retries


@dataclass(repr=False)
class ManifestResource(Resource):
    """One stream of an Airbyte manifest: ``spec`` holds its ``name`` (the
    table), ``stream``, ``primary_key`` and the runner's options.

    Parameters
    ----------
    spec
        ``name``, ``stream``, ``primary_key`` and the options
        [airbyte_manifest][tillflow.sources.airbyte_manifest] takes.
    write_mode
        ``append``, ``replace``, ``merge`` or ``scd2``; by default ``merge``
        with a primary key and ``append`` without.
    rules
        Rules the stream's rows are checked against.
    schema_contract
        ``evolve``, ``freeze``, ``discard_row`` or ``discard_value``.
    label
        What errors call the stream.
    manifest
        The manifest (references resolved).
    config
        The shared config.
    """

    manifest: dict[str, Any] = field(default_factory=dict)
    config: Any = None

    def open(self, state: Mapping[str, Any] | None = None) -> _ManifestStream:
        """Starts reading the stream from the state the last run committed.

        Parameters
        ----------
        state
            The stream's state (``{cursor_field: value}``) or ``None``.

        Returns
        -------
        _ManifestStream
            The stream's batches.

        Raises
        ------
        ConfigError
            If an option or the state is invalid. Failed requests raise
            ``HttpError`` or ``AuthError`` as the stream is read.
        """
        options = {
            "manifest": self.manifest, "config": _reveal(self.config.values), "stream": self.spec["stream"],
            "table": self.name,
        }  # fmt: skip
        for key in ("base_url_override", "ca_bundle", "timeout_secs", "batch_size", "normalize"):
            if self.spec.get(key) is not None:
                options[key] = self.spec[key]
        stored = json.dumps(dict(state)) if state else None
        return _ManifestStream(_native.open_manifest(json.dumps(options, default=str), stored), self.config)

    def __repr__(self) -> str:
        return (
            f"ManifestResource({self.name!r}, stream={self.spec['stream']!r}, write_mode={self.write_mode!r})"
        )


def airbyte_manifest(
    manifest: str | os.PathLike[str] | Mapping[str, Any],
    *,
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    streams: Sequence[str] | None = None,
    name: str | None = None,
    base_url_override: str | None = None,
    ca_bundle: str | os.PathLike[str] | None = None,
    write_mode: str | None = None,
    rules: Mapping[str, Any] | None = None,
    table_prefix: str = "",
    timeout: float = 60.0,
    batch_size: int = 50_000,
    on_config_update: Callable[[dict[str, Any]], Any] | None = None,
) -> Source:
    """A source that runs an Airbyte declarative manifest, unmodified.

    Parameters
    ----------
    manifest
        The manifest: a ``manifest.yaml`` (or JSON) path, or the mapping.
    config
        The connector's config (what its ``spec`` asks for): a mapping or a
        JSON/YAML file. When an ``OAuthAuthenticator`` with
        ``refresh_token_updater`` receives a rotated refresh token, a config
        file is rewritten with it (owner-only), and ``on_config_update`` is
        called with the new config.
    streams
        The streams to load, in that order; ``None`` for all.
    name
        The source's name; by default the manifest file's stem.
    base_url_override
        Scheme, host and port every outgoing URL goes to instead, OAuth
        token URLs included (``"http://127.0.0.1:8080"``): to run a manifest
        against a local or proxied server.
    ca_bundle
        A PEM file of certificate authorities to trust besides the system's.
    write_mode
        For every stream; by default ``merge`` for streams with a primary
        key, else ``append``.
    rules
        ``{stream: rules}``.
    table_prefix
        Put before every stream's table name.
    timeout
        Seconds per request.
    batch_size
        Records per batch (a batch ends where the cursor may move on).
    on_config_update
        Called with the config when the run rotated its tokens.

    Returns
    -------
    Source
        One resource per stream.

    Raises
    ------
    ConfigError
        If the manifest cannot be read, uses a component outside the
        supported subset (named with its path), or a stream is unknown.
    """
    source_name = name or (Path(os.fspath(manifest)).stem if not isinstance(manifest, Mapping) else "airbyte")
    raw = _read_mapping(manifest, "manifest")
    config_path = None if config is None or isinstance(config, Mapping) else Path(os.fspath(config))
    values = {} if config is None else _read_mapping(config, "config")
    _register(values)
    revealed = json.dumps(_reveal(values))
    try:
        prepared_json, described = _native.describe_manifest(json.dumps(raw, default=str), revealed)
    except ConfigError as exc:
        raise _located(exc, manifest) from None
    prepared = json.loads(prepared_json)
    known = [s[0] for s in described]
    chosen = list(streams) if streams is not None else known
    missing = [s for s in chosen if s not in known]
    if missing:
        raise config_error(f"streams: the manifest has no stream {missing}; it has {known}")
    keys = {s[0]: s[1] for s in described}
    shared = _Config(values, config_path, on_config_update)
    options: dict[str, Any] = {"timeout_secs": timeout, "batch_size": batch_size}
    if base_url_override is not None:
        options["base_url_override"] = base_url_override
    if ca_bundle is not None:
        options["ca_bundle"] = os.fspath(ca_bundle)
    per_stream = dict(rules or {})
    resources: list[Resource] = []
    for stream in chosen:
        spec: dict[str, Any] = {"name": table_prefix + stream, "stream": stream, **options}
        if keys[stream]:
            spec["primary_key"] = keys[stream]
        resources.append(ManifestResource(
            spec, write_mode=write_mode, rules=per_stream.get(stream), label=f"{source_name}.{stream}",
            manifest=prepared, config=shared,
        ))  # fmt: skip
    return Source(source_name, resources)


def is_airbyte_manifest(path: str | os.PathLike[str]) -> bool:
    """Whether a YAML/JSON file looks like an Airbyte manifest: a top-level
    ``streams`` list with ``version`` or ``definitions``, or typed a
    ``DeclarativeSource``.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    bool
        True for a manifest; False for anything else, or a file that cannot be read.
    """
    try:
        loaded = _read_mapping(path, "manifest")
    except Exception:
        return False
    return isinstance(loaded.get("streams"), list) and (
        loaded.get("type") == "DeclarativeSource" or "version" in loaded or "definitions" in loaded
    )
