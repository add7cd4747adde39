"""Warehouse faults: the disk fills (a writer whose files may not grow past
a limit, ``RLIMIT_FSIZE``), PostgreSQL drops the loader's session (what a
restart does to it) between batches or inside one, another process holds
the DuckDB file's lock, and S3 answers 500 and 503 SlowDown (a proxy in front
of moto's server). Each fault fails the run with a WarehouseError, or is
retried away; afterwards a rerun leaves exactly the source's rows."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest
from faultkit import (
    FirstAttempts,
    Status,
    assert_exact,
    assert_names,
    fails,
    internal_error,
    load_statuses,
    make_records,
    paged_api,
    proxy,
    rest_source,
    rest_spec,
    run_loader,
    run_pipeline,
    run_statuses,
    slow_down,
)

import tillflow as tl

# -- a full disk


def write_rows_csv(path: Path, n: int, *, wide_from: int) -> list[tuple[Any, ...]]:
    """``n`` rows whose notes get long from row ``wide_from`` on (random hex,
    so compression cannot hide them): a load that fits at first, then fills
    the disk. Returns (id, note) of every row."""
    r = random.Random(7)
    rows = [(i, f"{r.getrandbits(64 if i < wide_from else 4096):x}") for i in range(1, n + 1)]
    path.write_text("id,note\n" + "".join(f"{i},{note}\n" for i, note in rows))
    return rows


@pytest.mark.parametrize(
    ("kind", "limit", "first_commit"),
    [("duckdb", 20_000, True), ("duckdb", 700_000, False), ("lake", 150_000, False)],
    ids=["duckdb-full-at-the-first-commit", "duckdb-full-mid-load", "lake-full-mid-load"],
)
def test_a_full_disk_fails_the_batch_naming_it_and_a_rerun_loads_exactly_the_rest(tmp_path, kind, limit,
                                                                                  first_commit):  # fmt: skip
    rows = write_rows_csv(tmp_path / "rows.csv", 3000, wide_from=1501)
    options = {"batch_size": 500, "write_mode": "append"}
    where = {"kind": kind, "path": str(tmp_path / ("wh.duckdb" if kind == "duckdb" else "lake"))}
    cfg = {"warehouse": where, "pipeline": "p", "fsize": limit,
           "source": {"kind": "files", "path": str(tmp_path / "rows.csv"), "options": options}}  # fmt: skip
    done = run_loader(cfg)
    assert done.returncode == 3, f"the load did not fail on the full disk:\n{done.stdout}\n{done.stderr}"
    assert done.stdout.startswith("error WarehouseError:"), done.stdout
    assert "File too large" in done.stdout
    assert_names_line(done.stdout, "wh.duckdb" if kind == "duckdb" else "'rows'")
    opened = tl.warehouse.duckdb(where["path"]) if kind == "duckdb" else tl.warehouse.delta(where["path"])
    with opened as wh:
        kept = wh.row_counts().get("rows", 0)
        assert kept == 0 if first_commit else 0 < kept < len(rows)
        assert kept % 500 == 0  # whole batches
        run = run_pipeline("p", tl.sources.files(str(tmp_path / "rows.csv"), **options), wh)
        assert run.row_counts["rows"] == len(rows) - kept  # the rest, resumed after the last commit
        got = wh.query("SELECT id, note FROM rows ORDER BY id").rows()
        assert [tuple(r) for r in got] == rows
        assert load_statuses(wh) == ["failed", "completed"]
        assert run_statuses(wh, "p") == ["failed", "completed"]


def assert_names_line(text: str, needle: str) -> None:
    assert needle in text.splitlines()[0], f"the error does not name {needle!r}: {text}"


# -- PostgreSQL drops the loader's session


@pytest.mark.services
@pytest.mark.parametrize(
    ("method", "after"),
    [("write_batch", True), ("_save_state", True)],
    ids=["between-batches", "inside-a-batch"],
)
def test_postgres_dropping_the_loaders_session_fails_the_run_and_a_rerun_loads_the_rest(postgres_url, method,
                                                                                         after):  # fmt: skip
    """What a server restart does to a loader: its session ends
    (``pg_terminate_backend``, the same signal a fast shutdown sends each
    backend). Here it happens after the third batch commits, or inside the
    third batch's transaction after its rows and state went in. The batch in
    flight rolls back, the run fails with a WarehouseError, and a rerun with
    a new connection loads exactly the rest."""
    from support.services import drop_schema

    records = make_records(240)
    schema = f"tf_wh_{uuid.uuid4().hex[:10]}"
    try:
        with paged_api(records, paginator="link") as (api, server):
            spec = rest_spec(api, server, concurrency=1, write_mode="append", incremental={})
            cfg = {"warehouse": {"kind": "postgres", "url": postgres_url, "schema": schema}, "pipeline": "p",
                   "source": {"kind": "rest", "spec": spec},
                   "point": {"method": method, "call": 3, "after": after}}  # fmt: skip
            done = run_loader(cfg)
            assert done.returncode == 3, done.stdout + done.stderr
            assert "stopping at" in done.stdout
            assert "error WarehouseError:" in done.stdout and "connection" in done.stdout, done.stdout
            with tl.warehouse.postgres(postgres_url, schema=schema) as wh:
                committed = 30 if method == "write_batch" else 20  # the third batch rolled back, or not
                assert wh.row_counts()["items"] == committed
                run_pipeline("p", tl.sources.rest(spec), wh)
                assert_exact(wh, records)
                statuses = load_statuses(wh)
                runs = run_statuses(wh, "p")
        assert "running" not in statuses, f"the failed run's load was never closed: {statuses}"
        assert len(runs) == 2 and runs[0] in ("failed", "interrupted") and runs[1] == "completed", runs
    finally:
        drop_schema(postgres_url, schema)


# -- the DuckDB file locked by another process


HOLD_LOCK = r"""
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
con.close()
"""


def test_a_duckdb_file_locked_by_another_process_is_a_clear_error_and_loses_nothing(tmp_path):
    records = make_records(120)
    path = str(tmp_path / "wh.duckdb")
    with paged_api(records, paginator="link") as (api, server):
        source = rest_source(api, server, concurrency=1, write_mode="append", incremental={})
        broken = threading.Event()
        server.faults = lambda request: Status(503) if broken.is_set() else None
        with tl.warehouse.duckdb(path) as wh:  # a first run that stops half way
            wh_write = wh.write_batch

            def write_batch(*args: Any, **kwargs: Any) -> Any:
                out = wh_write(*args, **kwargs)
                if wh.row_counts()["items"] >= 50:
                    broken.set()
                return out

            wh.write_batch = write_batch  # type: ignore[method-assign]
            fails(tl.HttpError, lambda: run_pipeline("p", source, wh))
            before = wh.row_counts()["items"]
        broken.clear()
        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, path], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            error = fails(tl.WarehouseError, lambda: tl.warehouse.duckdb(path))
            assert_names(error, path, "lock")
        finally:
            holder.communicate("", timeout=30)
        assert holder.returncode == 0
        with tl.warehouse.duckdb(path) as wh:
            assert wh.row_counts()["items"] == before
            run_pipeline("p", source, wh)
            assert_exact(wh, records)
            assert load_statuses(wh) == ["failed", "completed"]


# -- S3 errors


@pytest.fixture
def moto_endpoint(s3_endpoint: str) -> str:
    return s3_endpoint


S3_KEYS = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    fs = pafs.S3FileSystem(endpoint_override=moto_endpoint.removeprefix("http://"), scheme="http",
                           allow_bucket_creation=True, **S3_KEYS)  # fmt: skip
    name = f"tf-{uuid.uuid4().hex[:12]}"
    fs.create_dir(name)
    return name


def test_s3_500s_and_slowdowns_are_retried_and_every_row_lands_once(moto_endpoint, bucket):
    records = make_records(40)
    # Reads as the lake opens, then writes: data files and Delta commit files.
    reads = FirstAttempts([slow_down(), internal_error()], only=lambda r: r.method in ("GET", "HEAD"))
    writes = FirstAttempts([slow_down(), internal_error()] * 2, only=lambda r: r.method == "PUT")
    with paged_api(records, paginator="link") as (api, server):
        with proxy(moto_endpoint, lambda r: reads(r) or writes(r)) as front:
            lake = tl.warehouse.delta(f"s3://{bucket}/lake", endpoint_url=front.url, **S3_KEYS)
            with lake:
                run_pipeline("p", rest_source(api, server), lake)
                assert reads.left == writes.left == 0
                assert_exact(lake, records)
            puts = [r.path for r, fault in front.log if r.method == "PUT" and fault is not None]
            assert any("/_delta_log/" in p for p in puts) and any(p.endswith(".parquet") for p in puts), puts
        with tl.warehouse.delta(f"s3://{bucket}/lake", endpoint_url=moto_endpoint, **S3_KEYS) as again:
            assert_exact(again, records)
            assert load_statuses(again) == ["completed"]


def test_s3_failing_a_commit_until_retries_run_out_keeps_the_batch_invisible_and_a_rerun_loads_the_rest(
    moto_endpoint, bucket
):
    """S3 keeps refusing the PUT of one Delta commit file (500 InternalError,
    past the client's retries): that batch's data files are written but
    never committed, so no reader sees them, and the commits the batch had
    made to other tables are rolled back; the run fails with a
    WarehouseError naming the table and the commit file, a rerun loads
    exactly the rest, and vacuum clears the files no commit names."""
    records = make_records(60)
    url = f"s3://{bucket}/lake"
    commits: list[str] = []
    refusing = threading.Event()
    refusing.set()

    def plan(request: Any) -> Any:
        if request.method == "PUT" and "/_delta_log/" in request.path and "/items/" in request.path:
            if request.path not in commits:
                commits.append(request.path)
            if refusing.is_set() and commits.index(request.path) == 3:
                return internal_error()
        return None

    with paged_api(records, paginator="link") as (api, server), proxy(moto_endpoint, plan) as front:
        source = rest_source(api, server, concurrency=1, write_mode="append", incremental={})
        with tl.warehouse.delta(url, endpoint_url=front.url, **S3_KEYS) as lake:
            error = fails(tl.WarehouseError, lambda: run_pipeline("p", source, lake))
            assert_names(error, "table 'items'", "_delta_log/")
        refusing.clear()
        with tl.warehouse.delta(url, endpoint_url=moto_endpoint, **S3_KEYS) as lake:
            kept = lake.row_counts()["items"]
            assert 0 < kept < len(records)
            orphans = data_files(lake) - committed(lake)
            assert orphans  # the refused commit's data files
            run_pipeline("p", source, lake)
            assert_exact(lake, records)
            assert orphans <= set(lake.vacuum(retain=0))
            assert data_files(lake) == committed(lake)


def data_files(lake: Any) -> set[str]:
    """The lake's Parquet files, committed or not, relative to it."""
    where = lake._where
    found = where.fs.get_file_info(pafs.FileSelector(where.root, recursive=True))
    return {f.path.removeprefix(where.root + "/") for f in found if f.path.endswith(".parquet")}


def committed(lake: Any) -> set[str]:
    """The data files every table's current version names."""
    return {path for name in lake._names() for path in lake.files(name)}
