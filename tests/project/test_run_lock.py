"""One run per warehouse: an overlapping `tillflow run` exits 75 and touches
nothing; --wait waits; a lock left by a killed run is taken over."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tillflow as tl
from support import run_cli
from support.services import drop_schema

PROJECT = """\
[project]
name = "locks"

[warehouse]
url = "{url}"

[sources.api]
spec = "api.yaml"

[metrics]
enabled = false
"""

SPEC = """\
name: api
defaults:
  base_url: http://127.0.0.1:{port}
resources:
  - name: things
    path: /things
    primary_key: id
"""


class _Gate:
    """An API on loopback whose answers wait until the test opens the gate."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.asked = threading.Event()
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gate.asked.set()
                gate.open.wait(60)
                body = json.dumps([{"id": 1, "name": "one"}, {"id": 2, "name": "two"}]).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the run asking was killed

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.open.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gate() -> Iterator[_Gate]:
    g = _Gate()
    try:
        yield g
    finally:
        g.close()


def make(root: Path, url: str, port: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tillflow.toml").write_text(PROJECT.format(url=url))
    (root / "api.yaml").write_text(SPEC.format(port=port))
    return root


def start_run(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tillflow.cli", "run", *args], cwd=root, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_an_overlapping_run_exits_75_and_touches_nothing(tmp_path, gate):
    root = make(tmp_path / "p", "duckdb:wh.duckdb", gate.port)
    gate.open.set()
    assert run_cli("run", cwd=root).returncode == 0
    gate.open.clear()
    gate.asked.clear()
    before = (root / "wh.duckdb").read_bytes()
    first = start_run(root)
    try:
        assert gate.asked.wait(60), "the first run never reached the API"
        second = run_cli("run", "--json", cwd=root)
        assert second.returncode == 75, second.stderr
        assert (
            f"another tillflow run holds {root / 'wh.duckdb.run.lock'} (pid {first.pid}, started "
            in second.stderr
        )
        assert second.stdout == ""
        assert (root / "wh.duckdb").read_bytes() == before  # the second run opened nothing
    finally:
        gate.open.set()
        _out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    with tl.warehouse.duckdb(str(root / "wh.duckdb"), read_only=True) as wh:
        assert (
            wh.query("select count(*) from _tf_runs").item() == 2
        )  # the two runs that ran, not the refused one
        assert not (root / "wh.duckdb.run.json").exists()


def test_wait_waits_for_the_running_run(tmp_path, gate):
    root = make(tmp_path / "p", "duckdb:wh.duckdb", gate.port)
    first = start_run(root)
    second = None
    try:
        assert gate.asked.wait(60)
        second = start_run(root, "--wait", "120")
        time.sleep(1.0)
        assert second.poll() is None  # still waiting
        gate.open.set()
        first.communicate(timeout=120)
        assert first.returncode == 0
        _out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
    finally:
        gate.open.set()
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate()


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path, gate):
    root = make(tmp_path / "p", "duckdb:wh.duckdb", gate.port)
    first = start_run(root)
    assert gate.asked.wait(60)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=30)
    held = json.loads((root / "wh.duckdb.run.json").read_text())
    assert held["pid"] == first.pid  # its record stays behind; the OS dropped the lock with the process
    gate.open.set()
    done = run_cli("run", cwd=root)
    assert done.returncode == 0, done.stderr
    with tl.warehouse.duckdb(str(root / "wh.duckdb"), read_only=True) as wh:
        assert wh.row_counts()["things"] == 2


def test_the_postgres_lock_is_an_advisory_lock_naming_its_holder(tmp_path, gate, postgres_url, unique_name):
    url = f"{postgres_url}?schema={unique_name}"
    root = make(tmp_path / "p", url, gate.port)
    gate.open.set()
    try:
        with tl.warehouse.run_lock(url):
            refused = run_cli("run", cwd=root)
            assert refused.returncode == 75, refused.stderr
            assert f"another tillflow run holds schema '{unique_name}'" in refused.stderr
            assert f"(pid {os.getpid()}, started " in refused.stderr
            with pytest.raises(tl.RunLocked) as caught:
                with tl.warehouse.run_lock(url, wait=0.3):
                    pass
            assert caught.value.pid == os.getpid()
        done = run_cli("run", cwd=root)  # the lock went with its session
        assert done.returncode == 0, done.stderr
    finally:
        drop_schema(postgres_url, unique_name)


def test_a_spec_run_takes_the_same_lock(tmp_path, gate):
    root = make(tmp_path / "p", "duckdb:wh.duckdb", gate.port)
    gate.open.set()
    with tl.warehouse.run_lock(str(root / "wh.duckdb")):
        refused = run_cli("run", "api.yaml", "--warehouse", "wh.duckdb", cwd=root)
        assert refused.returncode == 75, refused.stderr
    assert run_cli("run", "api.yaml", "--warehouse", "wh.duckdb", cwd=root).returncode == 0


def test_each_warehouse_kind_has_its_lock_where_every_run_finds_it(tmp_path):
    from tillflow.warehouse import run_lock

    (tmp_path / "lake").mkdir()
    for location, lock in [
        ("duckdb:wh.duckdb", tmp_path / "wh.duckdb.run.lock"),
        (str(tmp_path / "abs.duckdb"), tmp_path / "abs.duckdb.run.lock"),
        ("delta:lake", tmp_path / "lake.run.lock"),
    ]:
        with run_lock(location, project_root=tmp_path):
            assert lock.exists(), location
            with pytest.raises(tl.RunLocked, match="pass --wait to wait for it"):
                with run_lock(location, project_root=tmp_path):
                    pass
    # A lake on S3 has no folder of its own here: its lock sits beside the project, one per URL.
    with run_lock("delta:s3://bucket/lake", project_root=tmp_path):
        [found] = list(tmp_path.glob(".tillflow-*.run.lock"))
        with run_lock("delta:s3://bucket/other", project_root=tmp_path):
            assert len(list(tmp_path.glob(".tillflow-*.run.lock"))) == 2
    assert found.exists()
