"""File sources: CSV, NDJSON/JSON, Parquet and Excel files, one file or a
glob over many, read natively in batches of rows.

The work happens in Rust (``tillflow._native.open_files``); this module
turns the arguments into a resource spec and the native batches into the
batch protocol every source follows.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from tillflow import _native
from tillflow._core.errors import config_error
from tillflow.sources._source import BatchStream, Resource, Source

__all__ = ["DEFAULT_NULL_VALUES", "FORMATS", "FileResource", "files"]

#: The texts a CSV field is null as by default (an empty field always is):
#: the markers spreadsheets, R, pandas and databases write for a missing value.
DEFAULT_NULL_VALUES: tuple[str, ...] = tuple(_native.DEFAULT_NULL_VALUES)

FORMATS = ("csv", "ndjson", "json", "parquet", "xlsx")
BAD_ROW_POLICIES = ("error", "quarantine")
DEFAULT_BATCH_SIZE = 50_000
FILE_COLUMN = "_tf_file"
_EXTENSIONS = {
    ".gz",
    ".bz2",
    ".xz",
    ".zst",
    ".zip",
    ".csv",
    ".tsv",
    ".txt",
    ".ndjson",
    ".jsonl",
    ".json",
    ".parquet",
    ".pq",
    ".xlsx",
    ".xlsm",
}
_OPTION_KEYS = {
    "name", "path", "format", "delimiter", "encoding", "header", "skip_rows", "sheet", "columns",
    "primary_key", "on_bad_row", "batch_size", "null_values", "decimal", "normalize",
}  # fmt: skip


class _FileStream:
    """The native file stream in the batch protocol. Each batch holds rows
    of one file and commits the whole file state with them; a file loaded
    from its first row asks for its earlier rows (by ``_tf_file``) to be
    deleted in the same transaction."""

    def __init__(self, native: _native.FileStream) -> None:
        self.native = native

    @property
    def pending_files(self) -> list[str]:
        """Files this run loads: new, changed or interrupted ones."""
        return self.native.pending_files

    @property
    def warnings(self) -> list[str]:
        """What the load summary says of the data read so far: each text
        column that is mostly one null marker (see [files][tillflow.sources.files])."""
        return self.native.warnings

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.native:
            out: dict[str, Any] = {
                "tables": batch["tables"],
                "records": batch["records"],
                "state": json.loads(batch["state"]),
            }
            if batch["quarantine"]:
                out["quarantine"] = batch["quarantine"]
            if batch.get("replaces"):  # files only: a changed file replaces its earlier rows
                out["delete"] = {FILE_COLUMN: batch["replaces"]}
            yield out

    def close(self) -> None:
        self.native.close()


@dataclass(repr=False)
class FileResource(Resource):
    """Files as one resource: ``spec`` holds the options [files][tillflow.sources.files] takes
    (``name``, ``path``, ``format``, ``delimiter``, ``encoding``, ``header``,
    ``skip_rows``, ``sheet``, ``columns``, ``primary_key``, ``on_bad_row``,
    ``batch_size``, ``null_values``, ``decimal``, ``normalize``). Usable in a
    [Source][tillflow.sources.Source] beside other resources.

    Parameters
    ----------
    spec
        The options, with at least ``name`` and ``path``.
    write_mode
        ``append``, ``replace``, ``merge`` or ``scd2``; ``None`` leaves it to
        the pipeline.
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
        If an option is unknown or invalid (no ``path``, an unknown
        ``format`` or ``on_bad_row``, a ``batch_size`` below 1, ``columns``
        not mapping names to type names).
    RuleError
        If ``rules`` holds invalid rules.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        spec = self.spec
        unknown = sorted(set(spec) - _OPTION_KEYS)
        if unknown:
            raise config_error(f"{self.name}: unknown file options {unknown}")
        if not isinstance(spec.get("path"), str) or not spec["path"]:
            raise config_error(f"{self.name}.path: a file path or glob is required")
        fmt = spec.get("format")
        if fmt is not None and fmt not in FORMATS:
            raise config_error(f"{self.name}.format: must be one of {', '.join(FORMATS)}, got {fmt!r}")
        if spec.get("on_bad_row", "error") not in BAD_ROW_POLICIES:
            raise config_error(
                f"{self.name}.on_bad_row: must be 'error' or 'quarantine', got {spec.get('on_bad_row')!r}"
            )
        size = spec.get("batch_size", DEFAULT_BATCH_SIZE)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise config_error(f"{self.name}.batch_size: must be a positive integer, got {size!r}")
        columns = spec.get("columns", {})
        if not isinstance(columns, Mapping) or not all(isinstance(t, str) for t in columns.values()):
            raise config_error(
                f"{self.name}.columns: must map column names to type names such as "
                f"'decimal(18,2)', got {columns!r}"
            )

    def __repr__(self) -> str:
        return f"FileResource({self.name!r}, path={self.spec['path']!r}, write_mode={self.write_mode!r})"

    def open(self, state: Mapping[str, Any] | None = None) -> BatchStream:
        """Lists the files and starts reading the new, changed or
        interrupted ones (see [files][tillflow.sources.files]); ``state`` is what the last run
        committed.

        Parameters
        ----------
        state
            The state the last committed batch carried (one entry per
            file), or ``None`` to read every file.

        Returns
        -------
        BatchStream
            The files' batches.

        Raises
        ------
        ConfigError
            If an option is invalid.
        SourceError
            If a plain path, or a glob's directory, does not exist. A file
            that cannot be read or a bad row (with ``on_bad_row="error"``)
            raises ``SourceError`` as the stream is read.
        """
        spec = {**self.spec, "primary_key": self.primary_key}
        stored = json.dumps(dict(state)) if state else None
        return _FileStream(_native.open_files(json.dumps(spec, default=str), stored))


def files(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    name: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    columns: Mapping[str, str] | None = None,
    primary_key: str | Sequence[str] | None = None,
    write_mode: str | None = None,
    on_bad_row: str = "error",
    batch_size: int = DEFAULT_BATCH_SIZE,
    header: bool = True,
    skip_rows: int = 0,
    null_values: Sequence[str] | None = None,
    decimal: str = ".",
    rules: Any = None,
    schema_contract: str | None = None,
) -> Source:
    """A source with one resource reading ``path``: a file, or a glob such
    as ``"exports/orders-*.csv"``. Loads into the table ``name`` (by default
    the file name less its extensions and glob, e.g. ``orders``).

    **Formats** (``format``, else each file's extension): ``csv`` (also
    ``.tsv``/``.txt``), ``ndjson`` (``.jsonl``), ``json`` (an array of
    records, streamed, with nothing after it, or records one after another),
    ``parquet`` and ``xlsx`` (``sheet``: a name or a number from 0, the first
    by default). Text files may be compressed with gzip, bzip2, xz or zstd
    (``.csv.gz``, ``.ndjson.bz2``, ``.json.xz``, ``.csv.zst``), and a ``.zip``
    archive is its members, each a file of its own (``_tf_file`` is
    ``exports.zip/orders.csv``). Files are read
    in batches of ``batch_size`` rows; no file is ever held whole.

    **CSV**: the ``delimiter`` is detected among ``,`` ``;`` tab and ``|``
    (or Excel's ``sep=`` line) unless given; the ``encoding`` is detected
    (a byte-order mark, else UTF-8 when the text is, else a legacy code page
    such as Windows-1252) unless given (``"latin-1"``, ``"utf-16"``, ...).
    With ``header`` the first row (after ``skip_rows``) names the columns.
    Empty fields and ``null_values`` (by default ``NA``, ``N/A``, ``n/a``,
    ``#N/A``, ``NULL``, ``null``) are null. A column read as text whose
    values are mostly one other common null marker (``None``, ``nan``,
    ``-``, ``?``, ``missing``, ...: more than half of them, at least 20) is
    named in the load summary's ``warnings``, with the ``null_values`` that
    would read it as null; pin it as ``text`` to keep it. ``decimal=","`` reads
    European numbers (``12,50``, ``1.234,56``); text columns keep the text. Column types are inferred
    from the first batch holding values: ints (wider than 64 bits:
    decimals), amounts as exact decimals, doubles (``1e5``, ``NaN``,
    ``inf``), booleans, ISO dates and timestamps, else text; they are
    committed with that batch. Later values may widen a number column
    (int → decimal → double) or a date into a timestamp, never into text.
    ``columns={"amount": "decimal(18,2)"}`` pins types (``int``,
    ``double``, ``decimal(p,s)``, ``text``, ``bool``, ``date``,
    ``timestamp``). Excel sheets are read the same way, numbers in their
    shortest exact form and dates as dates.

    **Bad rows** (CSV and Excel: a wrong number of fields, or a value that
    does not fit a pinned or committed type; JSON: a record that does not
    parse or is not an object): ``on_bad_row="error"`` raises a
    ``SourceError`` naming the file, line, column, value and type, and
    nothing of that batch is loaded; ``"quarantine"`` loads the rest and
    appends the bad rows, as text with ``_tf_file``, ``_tf_line``,
    ``_tf_column`` and ``_tf_reason``, to ``<table>__quarantine``.

    **JSON**: nested records become a parent table and child tables, as API
    records do. **Parquet**: a flat file keeps its column types; a file with
    list or struct columns is read as records, so lists become child tables.

    **Incremental**: the resource's state holds one entry per file (size,
    mtime, an xxh3 hash of its bytes, rows committed). A rerun loads only
    new files, changed files (size or mtime differ *and* the hash differs)
    and files a crash interrupted, which resume after their last committed
    batch (a text file's first load takes its hash while reading it, so a
    first load interrupted and then touched loads again from the start).
    Every row records its file (relative to the glob's directory) in
    ``_tf_file``; a file loaded from its first row first deletes the rows
    earlier loads took from it, in the same transaction, so a changed file
    replaces its rows in every write mode (with a ``primary_key`` the rows
    are also merged on it) and nothing is duplicated.

    **Missing files**: a plain path that does not exist, or a glob whose
    directory does not exist, raises ``SourceError``; a glob that matches
    no file in an existing directory loads nothing (an export folder may be
    empty between drops).

    Parameters
    ----------
    path
        A file, or a glob over many.
    format
        ``csv``, ``ndjson``, ``json``, ``parquet`` or ``xlsx``; by default
        each file's extension decides.
    name
        The table (and resource) name; by default taken from ``path``.
    delimiter
        The CSV field delimiter; detected when ``None``.
    encoding
        The text encoding; detected when ``None``.
    sheet
        The Excel sheet, by name or number from 0; the first by default.
    columns
        Column names mapped to type names, pinning their types.
    primary_key
        The key column (or columns); with it, rows are merged on the key.
    write_mode
        ``append``, ``replace``, ``merge`` or ``scd2``; ``None`` leaves it to
        the pipeline (``merge`` with a primary key, else ``append``).
    on_bad_row
        ``"error"`` or ``"quarantine"``.
    batch_size
        Rows per batch, each committed in its own transaction.
    header
        Whether the first row (after ``skip_rows``) names the columns.
    skip_rows
        Rows to skip at the top of each CSV or Excel file.
    null_values
        CSV: texts read as null, besides empty fields. ``None`` (the
        default) is ``tl.sources.DEFAULT_NULL_VALUES``:
        ``NA``, ``N/A``, ``n/a``, ``#N/A``, ``NULL`` and ``null`` (``NaN``
        stays a double's NaN); ``[]`` keeps them all as text (a column of
        country codes, where ``NA`` is Namibia).
    decimal
        The decimal separator of numbers in text files, ``"."`` or ``","``.
    rules
        Rules for the table (a [RuleSet][tillflow.rules.RuleSet], rules or
        a rules file); rows that break an error rule go to quarantine.
    schema_contract
        ``evolve``, ``freeze``, ``discard_row`` or ``discard_value``.

    Returns
    -------
    Source
        A source with the one resource, named after the table.

    Raises
    ------
    ConfigError
        If an option is invalid, or no table name can be taken from
        ``path`` (pass ``name``).
    RuleError
        If ``rules`` holds invalid rules.
    """
    text = os.fspath(path)
    spec: dict[str, Any] = {"name": name or _default_name(text), "path": text}
    options = {
        "format": format,
        "delimiter": delimiter,
        "encoding": encoding,
        "sheet": sheet,
        "columns": dict(columns) if columns else None,
        "null_values": list(null_values) if null_values is not None else None,
    }
    spec.update({k: v for k, v in options.items() if v is not None})
    if primary_key:
        spec["primary_key"] = [primary_key] if isinstance(primary_key, str) else list(primary_key)
    if on_bad_row != "error":
        spec["on_bad_row"] = on_bad_row
    if batch_size != DEFAULT_BATCH_SIZE:
        spec["batch_size"] = batch_size
    if not header:
        spec["header"] = False
    if skip_rows:
        spec["skip_rows"] = skip_rows
    if decimal != ".":
        spec["decimal"] = decimal
    resource = FileResource(spec, write_mode=write_mode, rules=rules, schema_contract=schema_contract)
    return Source(resource.name, [resource])


def _default_name(path: str) -> str:
    """``exports/orders-*.csv.gz`` → ``orders``; ``exports/*.csv`` → ``exports``."""
    p = PurePath(path)
    base = re.split(r"[*?\[]", p.name, maxsplit=1)[0]
    while PurePath(base).suffix.lower() in _EXTENSIONS and PurePath(base).suffix:
        base = PurePath(base).stem
    base = base.strip(" -_.")
    if not base and not re.search(r"[*?\[]", str(p.parent)):
        base = p.parent.name.strip(" -_.")
    if not base:
        raise config_error(f"name: cannot name the table after {path!r}; pass name=")
    return base
