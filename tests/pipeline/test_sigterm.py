"""SIGTERM and Ctrl-C stop a run at a safe point: committed batches stay,
the open one is finished or rolled back, the run and its load are recorded
``interrupted``, the command exits 143 (130 for SIGINT), and a rerun loads
exactly the rest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import tillflow as tl
from support.stalls import StallingApi, start_loader
from tillflow.warehouse.journal import RUNS

PAGES, PER_PAGE = 6, 10


@pytest.fixture
def api() -> Iterator[StallingApi]:
    api = StallingApi(pages=PAGES, per_page=PER_PAGE)
    yield api
    api.close()


def cli(*args: str) -> subprocess.Popen[str]:
    """``tillflow`` as a user runs it, in a process of its own, its output read line by line."""
    code = (
        "import sys, tillflow as tl\n"
        "write = tl.warehouse.DuckDBWarehouse.write_batch\n"
        "def write_batch(self, *a, **k):\n"
        "    out = write(self, *a, **k)\n"
        "    print('committed', self.loads()['total_rows'][-1], flush=True)\n"
        "    return out\n"
        "tl.warehouse.DuckDBWarehouse.write_batch = write_batch\n"
        "from tillflow.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip


def assert_interrupted(path: str, rows: int, why: str, pipeline: str = "items") -> None:
    with tl.warehouse.duckdb(path) as wh:
        run = wh.journal(RUNS).row(-1, named=True)
        assert (run["status"], run["error"], run["total_rows"]) == (
            "interrupted",
            f"interrupted: {why}",
            rows,
        )
        load = wh.loads().row(-1, named=True)
        assert (load["status"], load["error"], load["total_rows"]) == (
            "interrupted",
            f"interrupted: {why}",
            rows,
        )
        assert wh.row_counts() == {"items": rows}
        health = tl.monitor.health(wh, pipeline)
        assert (health.failed_runs, health.last_status) == (1, "interrupted")


def rerun_loads_the_rest(
    api: StallingApi, spec: Path, path: str, done_before: int, pipeline: str = "items"
) -> None:
    api.stall(None)
    proc = cli(
        "run", str(spec), "--warehouse", path, "--pipeline", pipeline, "--write-mode", "append", "--quiet"
    )
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    with tl.warehouse.duckdb(path) as wh:
        assert wh.query("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM items").row(0) == (
            api.total, api.total, 0, api.total - 1,
        )  # fmt: skip
        assert wh.journal(RUNS)["status"].to_list() == ["interrupted", "completed"]
        assert wh.journal(RUNS)["total_rows"].to_list() == [done_before, api.total - done_before]


@pytest.mark.parametrize(("signum", "code", "why"), [
    (signal.SIGTERM, 143, "stopped by SIGTERM"), (signal.SIGINT, 130, "KeyboardInterrupt"),
])  # fmt: skip
def test_a_signal_while_a_page_stalls_stops_the_run_at_once(api, tmp_path, signum, code, why):
    spec = tmp_path / "items.json"
    spec.write_text(json.dumps(api.spec()))
    path = str(tmp_path / "wh.duckdb")
    api.stall(2)
    proc = cli("run", str(spec), "--warehouse", path, "--write-mode", "append", "--quiet")
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.split() == ["committed", str(2 * PER_PAGE)]:
                break
        assert api.stalled.wait(60)
        proc.send_signal(signum)
        # The page stays stalled: only the signal can end the wait.
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert err.count("stopped:") == 1 and "Traceback" not in err
    assert_interrupted(path, 2 * PER_PAGE, why)
    rerun_loads_the_rest(api, spec, path, 2 * PER_PAGE)


def test_sigterm_during_a_batch_commits_that_batch_then_stops(api, tmp_path):
    path = str(tmp_path / "wh.duckdb")
    proc = start_loader(
        {"warehouse": {"kind": "duckdb", "path": path}, "spec": api.spec(), "term_in_batch": 4}
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert out.split("\n")[-2:] == ["interrupted 143", ""]
    assert "committed 4" in out and "committed 5" not in out
    assert_interrupted(path, 4 * PER_PAGE, "stopped by SIGTERM", pipeline="p")
    spec = tmp_path / "items.json"
    spec.write_text(json.dumps(api.spec()))
    rerun_loads_the_rest(api, spec, path, 4 * PER_PAGE, pipeline="p")


def test_sigterm_outside_a_run_exits_143(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tillflow.cli", "demo-shop", "--port", "0", "--orders", "10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and "demo shop serving" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err


def test_the_guard_restores_the_handlers_and_stays_out_of_threads(tmp_path, shop):
    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    with tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as wh:
        tl.pipeline("shop", shop.source(), wh).run()
        assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
        import threading

        seen = []

        def run() -> None:
            seen.append(tl.pipeline("shop2", shop.source(), wh).run().total_rows)

        worker = threading.Thread(target=run)
        worker.start()
        worker.join(120)
        assert seen and seen[0] > 0
        assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
