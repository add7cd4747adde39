"""Singer taps as a source: any tap executable, run as Meltano runs it
(``--config``, ``--catalog``, ``--state``), its output read natively
(``tillflow._native.open_singer``).

One tap process feeds one resource per stream: a [SingerTap][tillflow.sources.singer]
is a resource group, and a pipeline opens one load per stream, keyed by
the stream's ``key_properties``. A batch ends at a STATE message and the
state commits with the batch's rows, so a rerun passes ``--state`` and
the tap resumes exactly where the committed rows end. A batch that holds
several streams' rows is written one stream at a time, the state with the
last: should the process die between them, the rerun sends the earlier
streams' rows again, and their keys merge them away.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tillflow import _native
from tillflow._core.errors import config_error
from tillflow.exceptions import SourceError
from tillflow.sources._source import Resource, Source, native_json

__all__ = ["SingerTap", "singer", "singer_output"]

_OPTION_KEYS = {
    "name", "command", "input", "config", "catalog", "catalog_flag", "streams", "discover", "table_prefix",
    "batch_size", "max_pending", "on_bad_line", "stderr_lines", "normalize", "cwd",
}  # fmt: skip
_CATALOG_FLAGS = ("--catalog", "--properties")
_KEEP_STDERR = 20


@dataclass(repr=False)
class SingerTap(Resource):
    """One tap run feeding one resource per stream (a resource group).

    ``spec`` holds what [singer][tillflow.sources.singer] takes. ``members``
    are the streams known before the run (from the catalog), each a
    [Resource][tillflow.sources.Resource] with its table, key, write mode
    and rules; a stream the tap sends that the catalog did not list gets
    one when its first rows arrive.

    Parameters
    ----------
    spec
        The tap's options, with at least ``name`` and ``command`` (or ``input``).
    write_mode
        For every stream; ``None``: ``merge`` for a stream with
        ``key_properties``, else ``append``.
    rules
        Not used: rules go with each stream (``stream_rules``).
    schema_contract
        For every stream.
    label
        What errors call the tap.
    members
        The streams' resources.
    stream_rules
        ``{stream: rules}``.

    Raises
    ------
    ConfigError
        If an option is unknown or invalid.
    """

    members: list[Resource] = field(default_factory=list)
    stream_rules: dict[str, Any] = field(default_factory=dict)

    grouped = True

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = sorted(set(self.spec) - _OPTION_KEYS)
        if unknown:
            raise config_error(f"{self.name}: unknown singer options {unknown}")
        if self.spec.get("on_bad_line", "error") not in ("error", "skip"):
            raise config_error(f"{self.name}.on_bad_line: must be 'error' or 'skip'")
        if self.spec.get("catalog_flag", "--catalog") not in _CATALOG_FLAGS:
            raise config_error(f"{self.name}.catalog_flag: must be one of {', '.join(_CATALOG_FLAGS)}")
        size = self.spec.get("batch_size", 100_000)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise config_error(f"{self.name}.batch_size: must be a positive integer, got {size!r}")

    @property
    def table_prefix(self) -> str:
        return str(self.spec.get("table_prefix") or "")

    def renamed(self, name: str) -> SingerTap:
        """The same tap with every stream's table prefixed as ``name`` prefixes
        the tap's (what [Source.with_table_prefix][tillflow.sources.Source.with_table_prefix] asks).

        Parameters
        ----------
        name
            The tap's name with a prefix before it.

        Returns
        -------
        SingerTap
            A new resource group; this one is unchanged.
        """
        if not name.endswith(self.name):
            raise config_error(f"{self.name}: a Singer tap's tables take a prefix, not a new name ({name!r})")
        prefix = name[: len(name) - len(self.name)]
        spec = {**self.spec, "table_prefix": self.table_prefix + prefix}
        members = [m.renamed(prefix + m.name) for m in self.members]
        return dataclasses.replace(self, spec=spec, members=members)

    def member(self, stream: str, key_properties: Sequence[str] = ()) -> Resource:
        """The resource a stream loads through (made on first sight)."""
        table = self.table_prefix + stream
        for m in self.members:
            if m.name == table:
                if list(key_properties) and m.primary_key != list(key_properties):
                    # The tap's SCHEMA is the truth about its keys.
                    m.spec = {**m.spec, "primary_key": list(key_properties)}
                return m
        made = _member(table, list(key_properties), self.write_mode, self.stream_rules.get(stream),
                       self.schema_contract)  # fmt: skip
        self.members.append(made)
        return made

    def open(self, state: Mapping[str, Any] | None = None) -> _TapStream:
        """Starts the tap, with ``--state`` when the last run committed one.

        Parameters
        ----------
        state
            The tap's own state (a STATE message's ``value``) or ``None``.

        Returns
        -------
        _TapStream
            Batches of ``{"parts": [...], "state": ...}``; each part is one
            stream's ``tables`` and its ``key_properties``.

        Raises
        ------
        ConfigError
            If the tap cannot be found or its files cannot be written.
        SourceError
            If the tap fails or breaks the Singer protocol, as the stream is read.
        """
        work = tempfile.TemporaryDirectory(prefix="tillflow-singer-")
        try:
            options = self._options(Path(work.name), state)
            native = _native.open_singer(native_json(options))
        except BaseException:
            work.cleanup()
            raise
        return _TapStream(native, work)

    def _options(self, work: Path, state: Any) -> dict[str, Any]:
        spec = dict(self.spec)
        out: dict[str, Any] = {"name": spec["name"]}
        for key in ("input", "streams", "batch_size", "max_pending", "on_bad_line", "normalize", "cwd",
                    "table_prefix"):  # fmt: skip
            if spec.get(key) is not None:
                out[key] = spec[key]
        if spec.get("input") is not None:
            return out
        argv = list(spec["command"])
        config = spec.get("config")
        if config is not None:
            argv += ["--config", str(_config_file(config, work))]
        catalog = spec.get("catalog")
        if catalog is not None:
            path = work / "catalog.json"
            path.write_text(json.dumps(catalog))
            argv += [spec.get("catalog_flag", "--catalog"), str(path)]
        if state is not None:
            path = work / "state.json"
            path.write_text(json.dumps(state))
            argv += ["--state", str(path)]
        out["command"] = argv
        out["stderr_lines"] = spec.get("stderr_lines", _KEEP_STDERR)
        return out


class _TapStream:
    """The native tap stream; removes the run's files (config, catalog, state) when done."""

    def __init__(self, native: _native.SingerStream, work: tempfile.TemporaryDirectory[str]) -> None:
        self.native = native
        self.work = work

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            for batch in self.native:
                state = batch["state"]
                yield {"parts": batch["parts"], "state": None if state is None else json.loads(state)}
        finally:
            self.work.cleanup()

    @property
    def skipped_lines(self) -> int:
        return self.native.skipped_lines

    def close(self) -> None:
        self.native.close()
        self.work.cleanup()


def _member(
    stream: str, key: list[str], write_mode: str | None, rules: Any, contract: str | None
) -> Resource:
    spec: dict[str, Any] = {"name": stream}
    if key:
        spec["primary_key"] = key
    return Resource(spec, write_mode=write_mode, rules=rules, schema_contract=contract, label=stream)


def _config_file(config: Any, work: Path) -> Path:
    if isinstance(config, (str, os.PathLike)):
        path = Path(config)
        if not path.is_file():
            raise config_error(f"config: no file {str(path)!r}")
        return path
    path = work / "config.json"
    # Only the tap reads it: owner-only, removed with the run.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(native_json(dict(config)))
    return path


def _command(tap: str | os.PathLike[str] | Sequence[str]) -> list[str]:
    argv = [os.fspath(tap)] if isinstance(tap, (str, os.PathLike)) else [str(a) for a in tap]
    if not argv or not argv[0]:
        raise config_error("tap: name the tap's executable")
    found = shutil.which(argv[0])
    if found is None:
        raise config_error(
            f"tap: {argv[0]!r} is not an executable on PATH; install the tap in its own virtualenv "
            "(python -m venv …; …/bin/pip install <tap>) and pass the path of its executable"
        )
    return [found, *argv[1:]]


def _discover(argv: list[str], config: Any, name: str) -> dict[str, Any]:
    """The tap's catalog, as ``--discover`` prints it."""
    with tempfile.TemporaryDirectory(prefix="tillflow-singer-") as work:
        cmd = list(argv)
        if config is not None:
            cmd += ["--config", str(_config_file(config, Path(work)))]
        done = subprocess.run([*cmd, "--discover"], capture_output=True, text=True, check=False)
    tail = "\n  ".join(done.stderr.strip().splitlines()[-_KEEP_STDERR:])
    if done.returncode != 0:
        raise SourceError(f"{name}: --discover exited with status {done.returncode}; its stderr:\n  {tail}")
    try:
        catalog = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{name}: --discover did not print a JSON catalog: {exc}") from None
    if not isinstance(catalog, dict) or not isinstance(catalog.get("streams"), list):
        raise SourceError(f"{name}: --discover printed no catalog (an object with a 'streams' list)")
    return catalog


def _stream_id(entry: Mapping[str, Any]) -> str:
    return str(entry.get("tap_stream_id") or entry.get("stream") or "")


def _key(entry: Mapping[str, Any]) -> list[str]:
    if isinstance(entry.get("key_properties"), list):
        return [str(k) for k in entry["key_properties"]]
    for md in entry.get("metadata") or []:
        if md.get("breadcrumb") == []:
            return [str(k) for k in (md.get("metadata") or {}).get("table-key-properties") or []]
    return []


def _select(catalog: dict[str, Any], streams: Sequence[str] | None, name: str) -> list[dict[str, Any]]:
    """Marks the chosen streams (all when ``streams`` is None) and their
    fields selected, the others not; returns the chosen entries."""
    entries = [e for e in catalog["streams"] if isinstance(e, dict)]
    known = {_stream_id(e) for e in entries} | {str(e.get("stream")) for e in entries}
    missing = sorted(set(streams or ()) - known)
    if missing:
        raise config_error(f"{name}.streams: the catalog has no stream {missing}; it has {sorted(known)}")
    chosen = []
    for entry in entries:
        selected = streams is None or _stream_id(entry) in streams or entry.get("stream") in streams
        metadata = entry.setdefault("metadata", [])
        root = next((m for m in metadata if m.get("breadcrumb") == []), None)
        if root is None:
            root = {"breadcrumb": [], "metadata": {}}
            metadata.append(root)
        root.setdefault("metadata", {})["selected"] = selected
        for md in metadata:
            if md is not root and selected:
                md.setdefault("metadata", {}).setdefault("selected", True)
        if selected:
            chosen.append(entry)
    return chosen


def singer(
    tap: str | os.PathLike[str] | Sequence[str],
    *,
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    catalog: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    streams: Sequence[str] | None = None,
    name: str | None = None,
    catalog_flag: str = "--catalog",
    write_mode: str | None = None,
    rules: Mapping[str, Any] | None = None,
    batch_size: int = 100_000,
    on_bad_line: str = "error",
    normalize: Mapping[str, Any] | None = None,
) -> Source:
    """A source that runs a Singer tap: its streams load into one table each
    (nested fields normalized like API records, column types from the
    SCHEMA messages), and its STATE commits with the rows before it.

    Install the tap in its own virtualenv, as Meltano does, so its pins
    never meet tillflow's: ``python -m venv ~/.taps/tap-postgres &&
    ~/.taps/tap-postgres/bin/pip install meltanolabs-tap-postgres``, then
    ``singer("~/.taps/tap-postgres/bin/tap-postgres", config={...})``.

    Parameters
    ----------
    tap
        The tap's executable (a path, or a name on ``PATH``), or its argv.
    config
        The tap's config (a mapping, [Secret][tillflow.Secret] values
        allowed, written to an owner-only file for the run), or a path to
        its ``config.json``.
    catalog
        The catalog (a mapping or a path). Without one the tap is asked
        with ``--discover``.
    streams
        Streams to load (their ``tap_stream_id``); the catalog marks them
        selected and the others not. ``None``: every stream of a discovered
        catalog, or the catalog's own selection.
    name
        The source's name; by default the tap's, less ``tap-``.
    catalog_flag
        ``--catalog`` (the Singer SDK's) or ``--properties`` (older taps').
    write_mode
        For every stream; by default ``merge`` for streams with
        ``key_properties`` and ``append`` for the others.
    rules
        ``{stream: rules}``: rows of a stream that break an error rule go
        to ``<stream>__quarantine``.
    batch_size
        A batch ends at the first STATE after this many records.
    on_bad_line
        A stdout line that is not a Singer message: ``"error"`` (stop,
        naming the line) or ``"skip"``.
    normalize
        The normalizer's options.

    Returns
    -------
    Source
        One [SingerTap][tillflow.sources.SingerTap] resource group.

    Raises
    ------
    ConfigError
        If the tap is not found, an option is invalid or a stream is not in the catalog.
    SourceError
        If ``--discover`` fails.
    """
    argv = _command(tap)
    source_name = name or Path(argv[0]).name.removeprefix("tap-").replace("-", "_") or "singer"
    if isinstance(catalog, (str, os.PathLike)):
        try:
            catalog = json.loads(Path(catalog).read_text())
        except (OSError, ValueError) as exc:
            raise config_error(f"catalog: cannot read {str(catalog)!r}: {exc}") from None
    discovered = catalog is None
    cat = _discover(argv, config, source_name) if catalog is None else json.loads(json.dumps(catalog))
    if not isinstance(cat, dict) or not isinstance(cat.get("streams"), list):
        raise config_error("catalog: must be an object with a 'streams' list")
    entries = _select(cat, streams, source_name) if (discovered or streams is not None) else [
        e for e in cat["streams"] if isinstance(e, dict) and _is_selected(e)
    ]  # fmt: skip
    spec: dict[str, Any] = {
        "name": source_name, "command": argv, "catalog": cat, "catalog_flag": catalog_flag,
        "batch_size": batch_size, "on_bad_line": on_bad_line,
    }  # fmt: skip
    if config is not None:
        spec["config"] = os.fspath(config) if isinstance(config, (str, os.PathLike)) else dict(config)
    if normalize is not None:
        spec["normalize"] = dict(normalize)
    if streams is not None:
        spec["streams"] = list(streams)
    per_stream = dict(rules or {})
    members = [
        _member(_stream_id(e), _key(e), write_mode, per_stream.get(_stream_id(e)), None) for e in entries
    ]
    group = SingerTap(
        spec, write_mode=write_mode, label=source_name, members=members, stream_rules=per_stream
    )
    return Source(source_name, [group])


def _is_selected(entry: Mapping[str, Any]) -> bool:
    if entry.get("selected") is True or (entry.get("schema") or {}).get("selected") is True:
        return True
    for md in entry.get("metadata") or []:
        if md.get("breadcrumb") == []:
            meta = md.get("metadata") or {}
            return bool(meta.get("selected", meta.get("selected-by-default", False)))
    return False


def singer_output(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    streams: Sequence[str] | None = None,
    write_mode: str | None = None,
    rules: Mapping[str, Any] | None = None,
    batch_size: int = 100_000,
    on_bad_line: str = "error",
    normalize: Mapping[str, Any] | None = None,
) -> Source:
    """A source of a tap's recorded output (``tap-x --config c.json > out.jsonl``),
    read as [singer][tillflow.sources.singer] reads a running tap's.

    Parameters
    ----------
    path
        The file of Singer messages.
    name
        The source's name; by default the file's stem.
    streams
        Streams to load; ``None`` for all.
    write_mode
        For every stream (see [singer][tillflow.sources.singer]).
    rules
        ``{stream: rules}``.
    batch_size
        A batch ends at the first STATE after this many records.
    on_bad_line
        ``"error"`` or ``"skip"``.
    normalize
        The normalizer's options.

    Returns
    -------
    Source
        One [SingerTap][tillflow.sources.SingerTap] resource group.

    Raises
    ------
    ConfigError
        If the file does not exist or an option is invalid.
    """
    text = os.fspath(path)
    if not Path(text).is_file():
        raise config_error(f"path: no file {text!r}")
    spec: dict[str, Any] = {"name": name or Path(text).stem, "input": text, "batch_size": batch_size,
                            "on_bad_line": on_bad_line}  # fmt: skip
    if streams is not None:
        spec["streams"] = list(streams)
    if normalize is not None:
        spec["normalize"] = dict(normalize)
    group = SingerTap(spec, write_mode=write_mode, label=spec["name"], stream_rules=dict(rules or {}))
    return Source(spec["name"], [group])
