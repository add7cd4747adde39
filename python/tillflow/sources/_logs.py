"""Web and server logs as a source: the files a glob names, read natively
and incrementally (``tillflow._native.open_logs``), rotation followed.

Each batch commits every file's position with its rows: the device, inode,
offset and a fingerprint of the file's first bytes. A rerun reads only the
lines written since, finds a file again after it was renamed, copied and
truncated, or gzipped, and leaves a last line still being written for the
next run. So no line is lost or read twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from tillflow import _native
from tillflow._core.errors import config_error
from tillflow.sources._files import _FileStream
from tillflow.sources._source import BatchStream, Resource, Source

__all__ = ["LogResource", "logs"]

FORMATS = ("combined", "common", "json", "regex")
BAD_LINE_POLICIES = ("quarantine", "skip", "error")
_OPTION_KEYS = {"name", "path", "format", "pattern", "batch_size", "on_bad_line", "normalize"}


class _LogStream(_FileStream):
    """The native log stream in the batch protocol: as files' batches, without replaced rows."""

    def __init__(self, native: _native.LogStream) -> None:
        self.native = native  # type: ignore[assignment]

    @property
    def pending_files(self) -> list[tuple[str, int]]:  # type: ignore[override]
        """Files this run reads, with the offset each starts from."""
        return self.native.pending_files  # type: ignore[return-value]


@dataclass(repr=False)
class LogResource(Resource):
    """Log files as one resource: ``spec`` holds the options
    [logs][tillflow.sources.logs] takes (``name``, ``path``, ``format``,
    ``pattern``, ``batch_size``, ``on_bad_line``, ``normalize``).

    Parameters
    ----------
    spec
        The options, with at least ``name`` and ``path``.
    write_mode
        ``append`` (the default for logs) or another write mode.
    rules
        A [RuleSet][tillflow.rules.RuleSet] or anything
        [RuleSet.coerce][tillflow.rules.RuleSet.coerce] takes.
    schema_contract
        ``evolve``, ``freeze``, ``discard_row`` or ``discard_value``.
    label
        What errors call the resource.

    Raises
    ------
    ConfigError
        If an option is unknown or invalid.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        spec = self.spec
        unknown = sorted(set(spec) - _OPTION_KEYS)
        if unknown:
            raise config_error(f"{self.name}: unknown log options {unknown}")
        if not isinstance(spec.get("path"), str) or not spec["path"]:
            raise config_error(f"{self.name}.path: a log file path or glob is required")
        fmt = spec.get("format", "combined")
        if fmt not in FORMATS:
            raise config_error(f"{self.name}.format: must be one of {', '.join(FORMATS)}, got {fmt!r}")
        if (fmt == "regex") != (spec.get("pattern") is not None):
            raise config_error(f"{self.name}.pattern: give a pattern with format='regex', and only then")
        if spec.get("on_bad_line", "quarantine") not in BAD_LINE_POLICIES:
            raise config_error(
                f"{self.name}.on_bad_line: must be one of {', '.join(BAD_LINE_POLICIES)}, "
                f"got {spec.get('on_bad_line')!r}"
            )
        size = spec.get("batch_size", 100_000)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise config_error(f"{self.name}.batch_size: must be a positive integer, got {size!r}")

    def open(self, state: Mapping[str, Any] | None = None) -> BatchStream:
        """Finds the files and starts reading each from where the last run stopped.

        Parameters
        ----------
        state
            The positions the last committed batch carried, or ``None`` to
            read every file from its start.

        Returns
        -------
        BatchStream
            The lines' batches.

        Raises
        ------
        ConfigError
            If an option is invalid.
        SourceError
            If a file cannot be read, or a line does not parse (with
            ``on_bad_line="error"``), as the stream is read.
        """
        stored = json.dumps(dict(state)) if state else None
        return _LogStream(_native.open_logs(json.dumps(self.spec, default=str), stored))


def logs(
    path: str | os.PathLike[str],
    *,
    format: str = "combined",
    name: str | None = None,
    pattern: str | None = None,
    batch_size: int = 100_000,
    on_bad_line: str = "quarantine",
    normalize: Mapping[str, Any] | None = None,
    rules: Any = None,
) -> Source:
    """A source of web or server logs: the files ``path`` names (a glob such
    as ``"/var/log/nginx/access.log*"`` takes the rotated and gzipped ones
    too), read from where the last run stopped, into the table ``name``
    (by default the file name less its extensions and glob, e.g. ``access``).

    Parameters
    ----------
    path
        A file or a glob.
    format
        ``"combined"`` (nginx's and Apache's default access log),
        ``"common"``, ``"json"`` (one JSON object per line, normalized like
        API records) or ``"regex"`` (with ``pattern``).
    name
        The table; by default taken from the file name.
    pattern
        For ``format="regex"``: a regex whose named groups become columns
        (``(?P<level>\\w+) (?P<message>.*)``).
    batch_size
        Lines per batch.
    on_bad_line
        A line that does not parse: ``"quarantine"`` (to
        ``<name>__quarantine`` with its file), ``"skip"`` or ``"error"``.
    normalize
        For JSON lines: the normalizer's options.
    rules
        Rules the rows are checked against.

    Returns
    -------
    Source
        One append-mode resource. Combined-format columns: ``remote_addr``,
        ``ident``, ``remote_user``, ``time`` (UTC), ``method``, ``path``,
        ``protocol``, ``request``, ``status``, ``bytes``, ``referer``,
        ``user_agent`` (Common stops at ``bytes``).

    Raises
    ------
    ConfigError
        If an option is invalid.
    """
    text = os.fspath(path)
    table = name or PurePath(text.split("*")[0].rstrip(".") or "logs").name.split(".")[0] or "logs"
    spec: dict[str, Any] = {"name": table, "path": text, "format": format, "batch_size": batch_size,
                            "on_bad_line": on_bad_line}  # fmt: skip
    if pattern is not None:
        spec["pattern"] = pattern
    if normalize is not None:
        spec["normalize"] = dict(normalize)
    resource = LogResource(spec, write_mode="append", rules=rules, label=f"logs {text!r}")
    return Source(table, [resource])
