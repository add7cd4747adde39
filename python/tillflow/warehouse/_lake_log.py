"""The Parquet lake's storage and commit log (see :mod:`tillflow.warehouse._lake`).

:class:`Store` reads and writes bytes under the lake's root on a local disk
or an S3-compatible store, and publishes a file atomically. The manifest
(:class:`Snapshot`) says which data files make up each table, and holds the
stored source states and the loads still running; a :class:`Commit` is one
atomic change to it, replayed on top of the newest snapshot.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import os
import urllib.parse
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from tillflow.exceptions import WarehouseError

LAKE_DIR = "_tf_lake"
LOG_DIR = f"{LAKE_DIR}/log"
SNAPSHOT_DIR = f"{LAKE_DIR}/snapshots"
FORMAT = 1  # bumped when the manifest's JSON changes incompatibly

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def encode_segment(text: str) -> str:
    """A path segment for any table name or partition value: letters, digits,
    ``_`` and ``-`` stay, every other byte of its UTF-8 becomes ``%XX`` (so
    ``/``, ``..``, quotes and spaces never reach a path, and case-folding
    file systems see the same names as S3)."""
    return "".join(ch if ch in _SAFE else "".join(f"%{b:02X}" for b in ch.encode()) for ch in text) or "%00"


def version_name(version: int) -> str:
    return f"{version:020d}.json"


# -- the manifest


@dataclasses.dataclass
class DataFile:
    """One committed Parquet file of a table."""

    path: str  # relative to the lake's root, "/"-separated
    rows: int
    size: int
    layout: int  # index into the table's layouts: the columns the file was written with
    partition: str = ""  # "created_at_day=2024-05-01", "" when unpartitioned
    # min and max of key columns (ints or strings without nulls), so a merge reads only files it may touch
    stats: dict[str, list[Any]] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if not self.stats:
            del out["stats"]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DataFile:
        return cls(**data)


@dataclasses.dataclass
class Layout:
    """The columns (DuckDB types) and Arrow schema files were written with."""

    columns: list[tuple[str, str]]
    arrow: str  # the Arrow schema, IPC-serialized and base64-encoded

    def schema(self) -> pa.Schema:
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(self.arrow)))

    @classmethod
    def of(cls, columns: list[tuple[str, str]], schema: pa.Schema) -> Layout:
        return cls(list(columns), base64.b64encode(schema.serialize().to_pybytes()).decode("ascii"))


@dataclasses.dataclass
class TableMeta:
    """A table: its name as first written, its columns, and its files."""

    name: str
    columns: list[tuple[str, str]]  # (name, DuckDB type), in table order
    layouts: list[Layout] = dataclasses.field(default_factory=list)
    files: dict[str, DataFile] = dataclasses.field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files.values())

    def column_map(self) -> dict[str, tuple[str, str]]:
        """``{lowercase name: (name, type)}``, as the schema contracts read a table."""
        return {name.lower(): (name, type_name) for name, type_name in self.columns}

    def layout_for(self, schema: pa.Schema) -> int:
        """The index of the layout for files written now with ``schema``, added when new."""
        layout = Layout.of(self.columns, schema)
        for index, known in enumerate(self.layouts):
            if known == layout:
                return index
        self.layouts.append(layout)
        return len(self.layouts) - 1

    def copy(self) -> TableMeta:
        return TableMeta(self.name, list(self.columns), list(self.layouts), dict(self.files))


def _meta_json(meta: TableMeta) -> dict[str, Any]:
    return {
        "name": meta.name,
        "columns": [list(c) for c in meta.columns],
        "layouts": [{"columns": [list(c) for c in lay.columns], "arrow": lay.arrow} for lay in meta.layouts],
    }


def _meta_from_json(data: dict[str, Any]) -> TableMeta:
    layouts = [Layout([tuple(c) for c in lay["columns"]], lay["arrow"]) for lay in data["layouts"]]
    return TableMeta(data["name"], [tuple(c) for c in data["columns"]], layouts)  # type: ignore[misc]


@dataclasses.dataclass
class Snapshot:
    """The lake as of one version."""

    version: int = 0
    tables: dict[str, TableMeta] = dataclasses.field(default_factory=dict)  # by lowercase name
    states: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # by state_key
    open_loads: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # by load id
    open_runs: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # by run id

    def to_json(self) -> bytes:
        tables = {
            key: {**_meta_json(meta), "files": [f.to_json() for f in meta.files.values()]}
            for key, meta in self.tables.items()
        }
        body = {
            "format": FORMAT,
            "version": self.version,
            "tables": tables,
            "states": self.states,
            "open_loads": self.open_loads,
            "open_runs": self.open_runs,
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Snapshot:
        data = _parse(raw, where)
        tables = {}
        for key, entry in data["tables"].items():
            meta = _meta_from_json(entry)
            meta.files = {f["path"]: DataFile.from_json(f) for f in entry["files"]}
            tables[key] = meta
        # Lakes written before runs were recorded at their start have no open runs.
        return cls(data["version"], tables, data["states"], data["open_loads"], data.get("open_runs", {}))

    def apply(self, commit: Commit) -> Snapshot:
        """This snapshot with ``commit`` applied (this one is left as it is)."""
        if commit.version != self.version + 1:
            raise WarehouseError(f"lake commit {commit.version} does not follow version {self.version}")
        out = Snapshot(
            commit.version, dict(self.tables), dict(self.states), dict(self.open_loads), dict(self.open_runs)
        )
        for key, change in commit.tables.items():
            meta = change.meta.copy()
            old = self.tables.get(key)
            meta.files = dict(old.files) if old is not None else {}
            for path in change.removed:
                meta.files.pop(path, None)
            for f in change.added:
                meta.files[f.path] = f
            out.tables[key] = meta
        out.states.update(commit.states)
        for load_id, row in commit.loads.items():
            if row is None:
                out.open_loads.pop(load_id, None)
            else:
                out.open_loads[load_id] = row
        for run_id, row in commit.runs.items():
            if row is None:
                out.open_runs.pop(run_id, None)
            else:
                out.open_runs[run_id] = row
        return out


def state_key(pipeline: str, resource: str) -> str:
    return json.dumps([pipeline, resource])


@dataclasses.dataclass
class TableChange:
    """A table as one commit leaves it: its metadata, and the files added and removed."""

    meta: TableMeta
    added: list[DataFile] = dataclasses.field(default_factory=list)
    removed: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Commit:
    """One atomic change to the lake: table files, states and load rows."""

    version: int
    tables: dict[str, TableChange] = dataclasses.field(default_factory=dict)
    states: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    loads: dict[str, dict[str, Any] | None] = dataclasses.field(default_factory=dict)  # None: no longer open
    runs: dict[str, dict[str, Any] | None] = dataclasses.field(default_factory=dict)  # None: no longer open

    def to_json(self) -> bytes:
        tables = {
            key: {
                **_meta_json(change.meta),
                "add": [f.to_json() for f in change.added],
                "remove": change.removed,
            }
            for key, change in self.tables.items()
        }
        body = {
            "format": FORMAT,
            "version": self.version,
            "committed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "tables": tables,
            "states": self.states,
            "loads": self.loads,
            "runs": self.runs,
        }
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Commit:
        data = _parse(raw, where)
        tables = {
            key: TableChange(
                _meta_from_json(entry), [DataFile.from_json(f) for f in entry["add"]], list(entry["remove"])
            )
            for key, entry in data["tables"].items()
        }
        return cls(data["version"], tables, data["states"], data["loads"], data.get("runs", {}))


def _parse(raw: bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise WarehouseError(f"lake manifest {where} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise WarehouseError(
            f"lake manifest {where} has format {found!r}; this tillflow reads format {FORMAT}"
        )
    return data


# -- storage


@dataclasses.dataclass(frozen=True)
class Entry:
    """A file found under the lake's root."""

    path: str  # relative to the root
    modified: dt.datetime | None


class Store:
    """Bytes under the lake's root, on a pyarrow file system.

    ``publish`` is the one atomic step of a commit. On a local disk it writes
    a temporary file, syncs it, and links it to its final name (which fails
    if another writer took that name first). On S3 it is a single PUT,
    which makes an object appear whole or not at all; S3 has no
    create-if-absent here, so one lake has one writer at a time.
    """

    def __init__(self, fs: pafs.FileSystem, root: str, url: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.url = url
        self.local = isinstance(fs, pafs.LocalFileSystem)

    def full(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def describe(self, rel: str) -> str:
        return f"{self.url.rstrip('/')}/{rel}"

    def write(self, rel: str, data: bytes) -> None:
        """Write a data file (it counts only once a commit names it)."""
        path = self.full(rel)
        if self.local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # on disk before any commit can name it
        else:
            with self.fs.open_output_stream(path) as out:
                out.write(data)

    def publish(self, rel: str, data: bytes) -> bool:
        """Make ``rel`` appear whole, or return False when it already exists."""
        path = self.full(rel)
        if not self.local:
            if self.fs.get_file_info(path).type != pafs.FileType.NotFound:
                return False
            with self.fs.open_output_stream(path) as out:
                out.write(data)
            return True
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        temp = os.path.join(folder, f".tmp-{uuid.uuid4().hex}")
        try:
            with open(temp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(temp, path)
            except FileExistsError:
                return False
            except OSError:
                # A file system without hard links: exists-then-rename, safe with one writer.
                if os.path.exists(path):
                    return False
                os.replace(temp, path)
        finally:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)  # the new name survives a power cut
        finally:
            os.close(fd)
        return True

    def replace(self, rel: str, data: bytes) -> None:
        """Write ``rel`` whole, over any older one (snapshots: same version, same content)."""
        path = self.full(rel)
        if not self.local:
            with self.fs.open_output_stream(path) as out:
                out.write(data)
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temp = f"{os.path.dirname(path)}/.tmp-{uuid.uuid4().hex}"
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)

    def read(self, rel: str) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        try:
            with self.fs.open_input_stream(self.full(rel)) as f:
                return bytes(f.read())
        except FileNotFoundError:
            return None

    def listdir(self, rel: str) -> list[Entry]:
        return self._list(rel, recursive=False)

    def walk(self) -> list[Entry]:
        return self._list("", recursive=True)

    def _list(self, rel: str, *, recursive: bool) -> list[Entry]:
        base = self.full(rel).rstrip("/") if rel else self.root
        selector = pafs.FileSelector(base, allow_not_found=True, recursive=recursive)
        out = []
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File:
                continue
            out.append(Entry(info.path[len(self.root) + 1 :], info.mtime))
        return out

    def delete(self, rel: str) -> None:
        try:
            self.fs.delete_file(self.full(rel))
        except FileNotFoundError:
            pass


def open_store(
    url: str,
    *,
    filesystem: pafs.FileSystem | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    session_token: str | None = None,
    create: bool = True,
) -> Store:
    """The store for ``url``: ``s3://bucket/prefix``, a local path (or
    ``file://`` URL), or a path on the given pyarrow ``filesystem``. A local
    folder is made unless ``create`` is false."""
    if filesystem is not None:
        return Store(filesystem, url.rstrip("/"), url)
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise WarehouseError(f"lake URL {url!r} names no bucket (expected s3://bucket/prefix)")
        fs = _s3(endpoint_url, region, access_key, secret_key, session_token)
        try:
            found = fs.get_file_info(parsed.netloc).type
        except OSError as exc:
            raise WarehouseError(f"cannot open Parquet lake {url!r}: {exc}") from exc
        if found == pafs.FileType.NotFound:
            raise WarehouseError(f"cannot open Parquet lake {url!r}: bucket {parsed.netloc!r} does not exist")
        return Store(fs, f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/"), url)
    if parsed.scheme == "file":
        path = urllib.parse.unquote(parsed.path)
    elif parsed.scheme and len(parsed.scheme) > 1:
        raise WarehouseError(f"lake URL {url!r}: unsupported scheme {parsed.scheme!r} (use a path or s3://)")
    else:
        path = url
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise WarehouseError(f"lake path {path!r} is a file, not a folder")
    if create:
        os.makedirs(path, exist_ok=True)
    elif not os.path.isdir(path):
        raise WarehouseError(f"no Parquet lake at {path!r}: the folder does not exist")
    return Store(pafs.LocalFileSystem(), path, path)


def _s3(
    endpoint_url: str | None,
    region: str | None,
    access_key: str | None,
    secret_key: str | None,
    session_token: str | None,
) -> pafs.S3FileSystem:
    """An S3 file system; what is not given comes from the usual AWS_* variables and files."""
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    # Delayed open sends a small file as one PUT instead of a three-request multipart upload.
    options: dict[str, Any] = {"allow_bucket_creation": False, "allow_bucket_deletion": False,
                               "allow_delayed_open": True}  # fmt: skip
    if endpoint_url:
        endpoint = urllib.parse.urlsplit(endpoint_url)
        if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
            raise WarehouseError(f"S3 endpoint {endpoint_url!r} must be an http:// or https:// URL")
        options["endpoint_override"] = endpoint.netloc
        options["scheme"] = endpoint.scheme
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    elif endpoint_url:
        options["region"] = "us-east-1"  # S3-compatible stores ignore it; avoids a region lookup
    if access_key or secret_key:
        if not (access_key and secret_key):
            raise WarehouseError("S3 credentials need both access_key and secret_key")
        options.update(access_key=access_key, secret_key=secret_key, session_token=session_token)
    try:
        return pafs.S3FileSystem(**options)
    except (ValueError, OSError) as exc:
        raise WarehouseError(f"cannot set up S3 access: {exc}") from exc


class Log:
    """The commit log: numbered commit files, and a snapshot every ``snapshot_every`` commits.

    A reader lists the log, starts from the newest snapshot at or below the
    newest commit, and replays the commits after it. After writing a
    snapshot the writer deletes what no reader needs any more (commits up to
    the snapshot before it, and older snapshots), so reading the lake costs
    one snapshot plus at most ``2 * snapshot_every`` small files, however
    long its history.
    """

    def __init__(self, store: Store, *, snapshot_every: int = 50) -> None:
        self.store = store
        self.snapshot_every = snapshot_every

    def _versions(self, folder: str) -> list[int]:
        out = []
        for entry in self.store.listdir(folder):
            name = entry.path.rsplit("/", 1)[-1]
            if len(name) == 25 and name.endswith(".json") and name[:20].isdigit():
                out.append(int(name[:20]))
        return sorted(out)

    def load(self, current: Snapshot | None) -> Snapshot:
        """The newest committed snapshot (``current`` when nothing was committed since)."""
        for _attempt in range(3):
            commits = self._versions(LOG_DIR)
            head = commits[-1] if commits else 0
            if current is not None and current.version == head:
                return current
            start = current
            known = set(commits)
            if (
                start is None
                or start.version > head
                or not known.issuperset(range(start.version + 1, head + 1))
            ):
                start = self._snapshot(head)
            try:
                return self._replay(start, head)
            except _Vanished:
                continue  # another writer cleaned the log meanwhile: read its newer snapshot
        raise WarehouseError(f"lake {self.store.url}: the commit log keeps changing while being read")

    def _snapshot(self, head: int) -> Snapshot:
        usable = [v for v in self._versions(SNAPSHOT_DIR) if v <= head]
        if not usable:
            return Snapshot()
        rel = f"{SNAPSHOT_DIR}/{version_name(usable[-1])}"
        raw = self.store.read(rel)
        if raw is None:
            raise _Vanished
        return Snapshot.from_json(raw, self.store.describe(rel))

    def _replay(self, snapshot: Snapshot, head: int) -> Snapshot:
        for version in range(snapshot.version + 1, head + 1):
            rel = f"{LOG_DIR}/{version_name(version)}"
            raw = self.store.read(rel)
            if raw is None:
                raise _Vanished
            snapshot = snapshot.apply(Commit.from_json(raw, self.store.describe(rel)))
        return snapshot

    def commit(self, snapshot: Snapshot, commit: Commit) -> Snapshot:
        """Publish ``commit`` on top of ``snapshot``; returns the new snapshot."""
        after = snapshot.apply(commit)  # checks the version before anything is written
        rel = f"{LOG_DIR}/{version_name(commit.version)}"
        if not self.store.publish(rel, commit.to_json()):
            raise WarehouseError(
                f"lake {self.store.url}: another writer committed version {commit.version} first; "
                f"nothing of this commit is visible (one writer at a time per lake)"
            )
        if commit.version % self.snapshot_every == 0:
            self._write_snapshot(after)
        return after

    def exists(self, version: int) -> bool:
        """Whether commit ``version`` has been published."""
        rel = f"{LOG_DIR}/{version_name(version)}"
        return self.store.fs.get_file_info(self.store.full(rel)).type != pafs.FileType.NotFound

    def _write_snapshot(self, snapshot: Snapshot) -> None:
        """Best effort: the commit is already durable, and the next snapshot retries."""
        try:
            self.store.replace(f"{SNAPSHOT_DIR}/{version_name(snapshot.version)}", snapshot.to_json())
            snapshots = self._versions(SNAPSHOT_DIR)
            if len(snapshots) < 2:
                return
            keep_from = snapshots[-2]  # a reader that listed the log just before still finds its files
            for version in snapshots[:-2]:
                self.store.delete(f"{SNAPSHOT_DIR}/{version_name(version)}")
            for version in self._versions(LOG_DIR):
                if version <= keep_from:
                    self.store.delete(f"{LOG_DIR}/{version_name(version)}")
        except Exception:  # never let a snapshot undo a published commit
            pass


class _Vanished(Exception):
    """A log file listed a moment ago is gone."""
