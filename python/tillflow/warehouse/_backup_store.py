"""Where backups are kept on S3 (or a store that speaks its API): each backup
is a prefix holding the same files as a local backup folder, its manifest
written last, so a listing never shows a backup still being uploaded.
Credentials and the endpoint come from the usual ``AWS_*`` variables."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from tillflow.exceptions import WarehouseError

__all__ = ["S3Store", "is_remote"]


def is_remote(where: object) -> bool:
    return isinstance(where, str) and where.startswith("s3://")


class S3Store:
    """Backups under ``s3://bucket/prefix``."""

    def __init__(self, url: str) -> None:
        from tillflow.warehouse.lake._layout import Location

        self.url = url.rstrip("/")
        try:
            where = Location(self.url, create=False)
        except WarehouseError as e:
            raise WarehouseError(f"backups at {url}: {e}") from e
        self.fs: Any = where.fs
        self.root: str = where.root

    def url_of(self, name: str) -> str:
        return f"{self.url}/{name}"

    def manifests(self, manifest: str) -> list[tuple[str, dict[str, Any]]]:
        """``(name, manifest)`` of every complete backup under the prefix."""
        import pyarrow.fs as pafs

        found = []
        listed = self.fs.get_file_info(pafs.FileSelector(self.root, allow_not_found=True))
        for info in listed:
            if info.type != pafs.FileType.Directory:
                continue
            try:
                with self.fs.open_input_stream(f"{info.path}/{manifest}") as f:
                    found.append((info.base_name, json.loads(f.read())))
            except (OSError, ValueError):
                continue  # no manifest (yet): not a complete backup
        return found

    def upload(self, folder: Path, manifest: str) -> str:
        """The local backup ``folder`` under the prefix, its manifest last; its URL."""
        import pyarrow.fs as pafs

        target = f"{self.root}/{folder.name}"
        try:
            for file in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != manifest):
                dest = f"{target}/{file.relative_to(folder).as_posix()}"
                pafs.copy_files(str(file), dest, destination_filesystem=self.fs)
            pafs.copy_files(str(folder / manifest), f"{target}/{manifest}", destination_filesystem=self.fs)
        except OSError as e:
            self.delete(folder.name)
            raise WarehouseError(f"cannot upload the backup to {self.url_of(folder.name)}: {e}") from e
        return self.url_of(folder.name)

    def download(self, name: str) -> Path:
        """A local copy of the backup ``name``, in a new temporary folder."""
        import pyarrow.fs as pafs

        local = Path(tempfile.mkdtemp(prefix="tillflow-restore-")) / name
        try:
            pafs.copy_files(f"{self.root}/{name}", str(local), source_filesystem=self.fs)
        except OSError as e:
            raise WarehouseError(f"cannot download the backup {self.url_of(name)}: {e}") from e
        return local

    def delete(self, name: str) -> None:
        try:
            self.fs.delete_dir(f"{self.root}/{name}")
        except OSError:
            pass  # a prefix that is already gone
