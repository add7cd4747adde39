"""Runs a dead process left ``running`` are found and closed as
``interrupted`` (with their loads), on every warehouse; live ones never are.

Each test kills a real loader process with SIGKILL while it waits for a page
that the loopback API holds back, after a known number of committed batches.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import tillflow as tl
from support.services import drop_schema
from support.stalls import StallingApi, finish, start_loader, wait_for_commits
from tillflow.warehouse import owners
from tillflow.warehouse.journal import INTERRUPTED_ERROR, RUNS

PAGES, PER_PAGE, STALL_AT = 5, 10, 3  # 3 batches (30 rows) are committed when the loader is killed


@pytest.fixture
def api() -> Iterator[StallingApi]:
    api = StallingApi(pages=PAGES, per_page=PER_PAGE)
    yield api
    api.close()


class Target:
    def __init__(self, cfg: dict[str, Any], opener: Callable[[], Any]) -> None:
        self.cfg, self.open = cfg, opener


@pytest.fixture(params=["duckdb", "postgres", "lake"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    kind = request.param
    if kind == "duckdb":
        path = str(tmp_path / "wh.duckdb")
        yield Target({"kind": kind, "path": path}, lambda: tl.warehouse.duckdb(path))
    elif kind == "lake":
        path = str(tmp_path / "lake")
        yield Target({"kind": kind, "path": path}, lambda: tl.warehouse.delta(path))
    else:
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("unique_name")
        try:
            yield Target(
                {"kind": kind, "url": url, "schema": schema},
                lambda: tl.warehouse.postgres(url, schema=schema),
            )
        finally:
            drop_schema(url, schema)


def kill_while_stalled(api: StallingApi, target: Target) -> None:
    api.stall(STALL_AT)
    proc = start_loader({"warehouse": target.cfg, "spec": api.spec()})
    try:
        wait_for_commits(proc, STALL_AT)
        assert api.stalled.wait(60)
    finally:
        finish(proc)
    assert proc.returncode == -signal.SIGKILL


def settle_postgres(wh: Any) -> None:
    """A killed client's session ends when the server reads the closed socket:
    wait (bounded) until no session holds a run's lock any more."""
    if not isinstance(wh, tl.warehouse.PostgresWarehouse):
        return
    running = wh.journal(RUNS).filter(pl.col("status") == "running")
    for _ in range(200):
        if not wh._alive(running, dt.datetime.now(dt.timezone.utc)):
            return
        time.sleep(0.05)
    raise AssertionError("the killed loader's PostgreSQL session never ended")


def test_a_killed_run_is_closed_as_interrupted_counted_by_health_and_a_rerun_completes(api, target):
    kill_while_stalled(api, target)
    with target.open() as wh:
        settle_postgres(wh)
        stuck = wh.journal(RUNS)
        assert stuck.select("pipeline", "status", "finished_at", "error").rows() == [
            ("p", "running", None, None)
        ]
        assert stuck["pid"].item() not in (None, 0) and stuck["host"].item() == owners.owner()["host"]

        before = dt.datetime.now(dt.timezone.utc)
        health = tl.monitor.health(wh, "p")
        assert (health.status, health.runs, health.failed_runs, health.error_count) == ("degraded", 1, 1, 1)
        assert health.last_status == "interrupted"

        run = wh.journal(RUNS).row(0, named=True)  # closed in the warehouse, not just in the report
        assert (run["status"], run["error"], run["errors"], run["total_rows"]) == (
            "interrupted", INTERRUPTED_ERROR, 1, 0,
        )  # fmt: skip
        assert run["finished_at"] >= before
        assert run["duration_s"] == pytest.approx((run["finished_at"] - run["started_at"]).total_seconds())
        load = wh.loads().row(0, named=True)
        assert (load["status"], load["error"], load["total_rows"], load["run_id"]) == (
            "interrupted", INTERRUPTED_ERROR, STALL_AT * PER_PAGE, run["run_id"],
        )  # fmt: skip
        assert load["finished_at"] == run["finished_at"]
        assert wh.row_counts() == {"items": STALL_AT * PER_PAGE}

    api.stall(None)
    with target.open() as wh:
        summary = tl.pipeline("p", tl.sources.rest(api.spec()), wh).run(write_mode="append")
        assert summary.total_rows == (PAGES - STALL_AT) * PER_PAGE
        assert wh.row_counts() == {"items": api.total}
        ids = wh.query("SELECT count(DISTINCT id) AS n, min(id) AS lo, max(id) AS hi FROM items").row(0)
        assert ids == (api.total, 0, api.total - 1)
        assert tl.monitor.runs(wh)["status"].to_list() == ["interrupted", "completed"]
        assert wh.loads()["status"].to_list() == ["interrupted", "completed"]
        health = tl.monitor.health(wh, "p")
        assert (health.status, health.runs, health.failed_runs, health.success_rate) == (
            "degraded",
            2,
            1,
            0.5,
        )


def test_the_next_run_closes_a_killed_run_before_it_starts(api, target):
    kill_while_stalled(api, target)
    api.stall(None)
    with target.open() as wh:
        settle_postgres(wh)
        tl.pipeline("p", tl.sources.rest(api.spec()), wh).run(write_mode="append")
        runs = wh.journal(RUNS)
        assert runs["status"].to_list() == ["interrupted", "completed"]
        assert runs["error"].to_list() == [INTERRUPTED_ERROR, None]
        assert wh.row_counts() == {"items": api.total}


def test_a_live_run_in_another_process_is_never_closed(api, target):
    if target.cfg["kind"] == "duckdb":
        pytest.skip("DuckDB's file lock keeps other processes out while a run writes")
    api.stall(STALL_AT)
    proc = start_loader({"warehouse": target.cfg, "spec": api.spec()})
    try:
        wait_for_commits(proc, STALL_AT)
        assert api.stalled.wait(60)
        with target.open() as wh:
            assert tl.monitor.runs(wh)["status"].to_list() == ["running"]
            health = tl.monitor.health(wh, "p")
            assert (health.runs, health.failed_runs, health.last_status) == (0, 0, "running")
            assert wh.loads()["status"].to_list() == ["running"]
        api.release.set()
        assert proc.wait(60) == 0
    finally:
        finish(proc)
    with target.open() as wh:
        assert tl.monitor.runs(wh)["status"].to_list() == ["completed"]
        assert wh.row_counts() == {"items": api.total}


def test_a_run_in_another_thread_of_this_process_stays_running(api, tmp_path):
    import threading

    api.stall(1)
    wh = tl.warehouse.duckdb(str(tmp_path / "wh.duckdb"))
    done: list[Any] = []
    worker = threading.Thread(
        target=lambda: done.append(tl.pipeline("p", tl.sources.rest(api.spec()), wh).run()), daemon=True
    )
    worker.start()
    try:
        assert api.stalled.wait(60)
        assert tl.monitor.runs(wh)["status"].to_list() == ["running"]
        health = tl.monitor.health(wh, "p")
        assert (health.runs, health.failed_runs, health.last_status) == (0, 0, "running")
    finally:
        api.release.set()
        worker.join(60)
    assert done and done[0].total_rows == api.total
    assert tl.monitor.runs(wh)["status"].to_list() == ["completed"]
    wh.close()


def running_row(run_id: str, *, host: str, pid: int, beat: dt.datetime) -> pl.DataFrame:
    return pl.DataFrame([{
        "run_id": run_id, "pipeline": "p", "status": "running", "started_at": beat - dt.timedelta(minutes=1),
        "host": host, "pid": pid, "process_started_at": beat - dt.timedelta(hours=1), "heartbeat_at": beat,
    }])  # fmt: skip


def test_the_lake_gives_a_run_on_another_host_a_lease(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    with tl.warehouse.delta(str(tmp_path / "lake"), run_lease=dt.timedelta(hours=6)) as lake:
        lake.write_journal(
            {RUNS: running_row("fresh", host="elsewhere.example", pid=7, beat=now - dt.timedelta(hours=5))}
        )
        lake.write_journal(
            {RUNS: running_row("stale", host="elsewhere.example", pid=7, beat=now - dt.timedelta(hours=7))}
        )
        runs = tl.monitor.runs(lake).sort("run_id")
        assert runs.select("run_id", "status", "error").rows() == [
            ("fresh", "running", None), ("stale", "interrupted", INTERRUPTED_ERROR),
        ]  # fmt: skip
    with tl.warehouse.delta(str(tmp_path / "lake")) as lake:  # the closing was committed
        assert lake.journal(RUNS).sort("run_id")["status"].to_list() == ["running", "interrupted"]


def test_a_run_of_a_process_that_is_gone_on_this_host_is_closed_but_not_one_that_lives(tmp_path):
    import os
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    me = owners.owner()
    parent = os.getppid()
    now = dt.datetime.now(dt.timezone.utc)
    with tl.warehouse.delta(str(tmp_path / "lake")) as lake:
        lake.write_journal({RUNS: running_row("gone", host=me["host"], pid=gone.pid, beat=now)})
        import psutil

        born = dt.datetime.fromtimestamp(psutil.Process(parent).create_time(), dt.timezone.utc)
        alive = running_row("alive", host=me["host"], pid=parent, beat=now).with_columns(
            pl.lit(born, dtype=pl.Datetime("us", "UTC")).alias("process_started_at")
        )
        reused = running_row(
            "reused", host=me["host"], pid=parent, beat=now
        )  # the pid, started at another time
        lake.write_journal({RUNS: alive})
        lake.write_journal({RUNS: reused})
        statuses = dict(tl.monitor.runs(lake).select("run_id", "status").rows())
        assert statuses == {"gone": "interrupted", "alive": "running", "reused": "interrupted"}


def test_a_read_only_warehouse_shows_a_dead_run_interrupted_without_writing(tmp_path):
    path = str(tmp_path / "wh.duckdb")
    now = dt.datetime.now(dt.timezone.utc)
    with tl.warehouse.duckdb(path) as wh:
        wh.write_journal({RUNS: running_row("dead", host="h", pid=1, beat=now)})
    with tl.warehouse.duckdb(path, read_only=True) as wh:
        assert tl.monitor.runs(wh)["status"].to_list() == ["interrupted"]
        assert tl.monitor.health(wh, "p").failed_runs == 1
        assert wh.journal(RUNS)["status"].to_list() == ["running"]  # nothing written
    with tl.warehouse.duckdb(path) as wh:
        assert tl.monitor.runs(wh)["status"].to_list() == ["interrupted"]
        assert wh.journal(RUNS)["status"].to_list() == ["interrupted"]


def test_runs_made_before_owners_were_recorded_still_read(tmp_path):
    import duckdb

    path = str(tmp_path / "old.duckdb")
    con = duckdb.connect(path)
    con.execute(
        "CREATE TABLE _tf_runs (run_id VARCHAR, pipeline VARCHAR, status VARCHAR, "
        "started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, duration_s DOUBLE, resources VARCHAR, "
        "row_counts VARCHAR, total_rows BIGINT, retries BIGINT, errors BIGINT, error VARCHAR, "
        "schemas VARCHAR)"
    )
    con.execute(
        "INSERT INTO _tf_runs VALUES "
        "('r1', 'p', 'completed', now(), now(), 1.0, '[]', '{}', 0, 0, 0, NULL, '{}')"
    )
    con.close()
    with tl.warehouse.duckdb(path) as wh:
        runs = tl.monitor.runs(wh)
        assert runs.select("run_id", "status", "host", "pid").rows() == [("r1", "completed", None, None)]
        assert json.loads(runs["row_counts"].item()) == {}


def test_a_lake_runs_batches_renew_its_heartbeat(tmp_path):
    with tl.demo_shop(orders=60) as shop, tl.warehouse.delta(str(tmp_path / "lake")) as lake:
        run = tl.pipeline(
            "beat", shop.source(resources=["customers"]), lake, monitor=tl.monitor.Monitor()
        ).run()
        row = lake.journal(RUNS).filter(pl.col("run_id") == run.run_id).row(0, named=True)
        # The batch renewed it while the run was running (a merge between the commit of the
        # run's first row and that of its last); the final row keeps the last one.
        operations = [h["operation"] for h in reversed(lake.delta_table(RUNS).history())]
        assert operations[1:] == ["MERGE", "MERGE"]
        assert row["heartbeat_at"] is not None and row["heartbeat_at"] >= row["started_at"]
