"""A REST API on loopback that stalls on one page, and a loader process to
run against it, for killing or stopping a run at a known point.

The API serves ``pages`` pages of ``per_page`` records (``id`` 0, 1, …)
through Link headers. A request for page ``stall_at`` blocks until the
test releases it (or the server shuts down) and sets ``stalled`` first, so
the test knows the loader is waiting for that page. The loader prints
``committed <n>`` after each batch it commits, so the test knows exactly
what is in the warehouse before it kills or signals the loader.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class StallingApi:
    def __init__(self, *, pages: int = 5, per_page: int = 10) -> None:
        self.pages, self.per_page = pages, per_page
        self.stall_at: int | None = None
        self.stalled = threading.Event()
        self.release = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                page = int(parse_qs(urlsplit(self.path).query).get("page", ["0"])[0])
                if page == api.stall_at:
                    api.stalled.set()
                    api.release.wait(60)
                first = page * api.per_page
                body = json.dumps([{"id": i, "name": f"r{i}"} for i in range(first, first + api.per_page)])
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    if page + 1 < api.pages:
                        self.send_header("Link", f'<{api.url}/items?page={page + 1}>; rel="next"')
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body.encode())
                except OSError:
                    pass  # the loader was killed while this page stalled

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def total(self) -> int:
        return self.pages * self.per_page

    def stall(self, page: int | None) -> None:
        self.stall_at = page
        self.stalled.clear()
        self.release.clear()

    def spec(self) -> dict[str, Any]:
        return {
            "name": "items", "base_url": self.url, "path": "items", "paginator": {"type": "link_header"},
            "primary_key": "id", "batch_size": self.per_page, "concurrency": 1,
        }  # fmt: skip

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# The loader: opens the warehouse cfg names, prints "committed <n>" after
# every batch commit, and runs pipeline "p" in append mode. With "term_in_batch"
# it sends itself SIGTERM inside that batch's write (before the commit).
LOADER = r"""
import json, os, signal, sys
import tillflow as tl

cfg = json.loads(sys.argv[1])
kind = cfg["warehouse"]["kind"]
if kind == "duckdb":
    wh = tl.warehouse.duckdb(cfg["warehouse"]["path"])
elif kind == "postgres":
    wh = tl.warehouse.postgres(cfg["warehouse"]["url"], schema=cfg["warehouse"]["schema"])
else:
    wh = tl.warehouse.delta(cfg["warehouse"]["path"])
write = type(wh).write_batch
count = [0]
def write_batch(self, *args, **kwargs):
    count[0] += 1
    if count[0] == cfg.get("term_in_batch"):
        os.kill(os.getpid(), signal.SIGTERM)
    out = write(self, *args, **kwargs)
    print(f"committed {count[0]}", flush=True)
    return out
type(wh).write_batch = write_batch
try:
    tl.pipeline("p", tl.sources.rest(cfg["spec"]), wh).run(write_mode="append")
except tl.exceptions.Interrupted as e:
    print(f"interrupted {e.exit_code}", flush=True)
    sys.exit(e.exit_code)
finally:
    wh.close()
print("done", flush=True)
"""


def start_loader(cfg: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LOADER, json.dumps(cfg)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Kills the loader if it still runs; its remaining output."""
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate(timeout=60)
    return out, err


def lines(proc: subprocess.Popen[str]) -> Iterator[str]:
    assert proc.stdout is not None
    for line in proc.stdout:
        yield line.strip()


def wait_for_commits(proc: subprocess.Popen[str], n: int) -> None:
    """Reads the loader's output until it has committed ``n`` batches."""
    for line in lines(proc):
        if line == f"committed {n}":
            return
    raise AssertionError(f"the loader ended before committing {n} batches: {proc.stderr.read()}")  # type: ignore[union-attr]
