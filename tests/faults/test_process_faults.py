"""Process faults: a loader in a process of its own is stopped by SIGKILL or
SIGTERM at each point of a load (its load begun but nothing committed,
between two batches, inside a batch's transaction after its rows went in,
inside it after its state went in, after the last commit but before the
load is closed), for a REST API, a folder of files and a PostgreSQL table,
then run again. Append mode, where nothing hides a duplicate: afterwards
the warehouse holds exactly the source's rows, no load is left ``running``,
and the stopped run is recorded as ``interrupted``. SIGTERM lets the run
finish or roll back the batch it is in and exit with 143."""

from __future__ import annotations

import dataclasses
import datetime as dt
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faultkit import (
    assert_exact,
    load_statuses,
    make_records,
    paged_api,
    rest_spec,
    run_loader,
    run_pipeline,
    run_statuses,
)

import tillflow as tl
from support.databases import Db

# Where a loader stops: the warehouse method hooked, and whether it stops
# before that call runs or right after it returns. "write" is the engine's
# per-table insert, inside the batch's transaction; "_save_state" writes the
# state row, the last statement before the batch commits.
POINTS: dict[str, tuple[str, str, bool]] = {
    "load-begun": ("begin_load", "first", True),
    "between-batches": ("write_batch", "second", True),
    "rows-written-uncommitted": ("write", "second", True),
    "state-written-uncommitted": ("_save_state", "second", True),
    "committed-load-not-closed": ("finish_load", "first", False),
}
ENGINE_WRITE = {"duckdb": "_write_staged", "postgres": "_write", "delta": "_write_staged"}


@dataclasses.dataclass
class Subject:
    """A source as the loader and the test see it."""

    config: dict[str, Any]
    source: Callable[[], Any]
    #: Tables each batch writes (the root, and child tables).
    tables_per_batch: int
    check: Callable[[Any], None]


@pytest.fixture
def rest_subject() -> Iterator[Subject]:
    records = make_records(120)
    with paged_api(records, paginator="link") as (api, server):
        # Incremental, so a rerun after a complete run has nothing new to append.
        spec = rest_spec(api, server, concurrency=1, write_mode="append", incremental={})
        yield Subject({"kind": "rest", "spec": spec}, lambda: tl.sources.rest(spec), 2,
                      lambda wh: assert_exact(wh, records))  # fmt: skip


@pytest.fixture
def files_subject(tmp_path: Path) -> Subject:
    folder = tmp_path / "exports"
    folder.mkdir()
    want = []
    for n, name in enumerate(["a.csv", "b.csv", "c.csv"]):
        ids = range(n * 100 + 1, n * 100 + 41)
        (folder / name).write_text("id,name,qty\n" + "".join(f"{i},name {i},{i % 9}\n" for i in ids))
        want += [(i, f"name {i}", i % 9, name) for i in ids]
    options = {"name": "rows", "batch_size": 10, "write_mode": "append"}

    def check(wh: Any) -> None:
        got = wh.query("SELECT id, name, qty, _tf_file FROM rows ORDER BY id").rows()
        assert [tuple(r) for r in got] == sorted(want)

    path = str(folder / "*.csv")
    return Subject({"kind": "files", "path": path, "options": options},
                   lambda: tl.sources.files(path, **options), 1, check)  # fmt: skip


@pytest.fixture
def sql_subject(pg: Db) -> Subject:
    t0 = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    pg.run(f"CREATE TABLE {pg.ref('items')} (id int PRIMARY KEY, name text, qty int, updated_at timestamptz)")
    rows = [(i, f"item {i}", i % 9, t0 + dt.timedelta(seconds=i // 3)) for i in range(1, 121)]
    pg.run(f"INSERT INTO {pg.ref('items')} VALUES (%s, %s, %s, %s)", rows)
    options = {"schema": pg.schema, "tables": ["items"], "cursor": "updated_at", "batch_size": 10,
               "write_mode": "append"}  # fmt: skip

    def check(wh: Any) -> None:
        got = wh.query("SELECT id, name, qty FROM items ORDER BY id").rows()
        assert [tuple(r) for r in got] == [r[:3] for r in rows]

    return Subject({"kind": "sql", "url": pg.url, "options": options},
                   lambda: tl.sources.sql_database(pg.url, **options), 1, check)  # fmt: skip


def point_config(point: str, signal_name: str, subject: Subject, engine: str) -> dict[str, Any]:
    method, which, after = POINTS[point]
    per_batch = subject.tables_per_batch if method == "write" else 1
    call = 1 if which == "first" else per_batch + 1
    return {"method": ENGINE_WRITE[engine] if method == "write" else method, "call": call, "after": after,
            "signal": signal_name}  # fmt: skip


def stop_and_rerun(subject: Subject, warehouse: dict[str, Any], open_warehouse: Callable[[], Any], point: str,
                   signal_name: str) -> None:  # fmt: skip
    cfg = {"warehouse": warehouse, "source": subject.config, "pipeline": "p",
           "point": point_config(point, signal_name, subject, warehouse["kind"])}  # fmt: skip
    done = run_loader(cfg)
    assert "stopping at" in done.stdout, f"the loader never reached {point}: {done.stdout}{done.stderr}"
    # The data first: the rerun brings exactly what is missing, whatever the bookkeeping says.
    with open_warehouse() as wh:
        run_pipeline("p", subject.source(), wh, write_mode="append")
        subject.check(wh)
        statuses = load_statuses(wh)
        runs = run_statuses(wh, "p")
    if signal_name == "KILL":
        assert done.returncode == -signal.SIGKILL, done.stderr
    else:
        # A clean stop: the open batch committed or rolled back, exit 128 + 15.
        assert done.returncode == 143, f"SIGTERM ended the loader with {done.returncode}:\n{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
    assert "running" not in statuses, f"a load the stopped run left open: {statuses}"
    assert runs[-1:] == ["completed"]
    assert runs == ["interrupted", "completed"], f"the stopped run is not recorded as interrupted: {runs}"


# SIGKILL at every point; SIGTERM at those where a run has work in hand (after
# the last commit it has none left to finish or roll back).
STOPS = [(p, "KILL") for p in POINTS] + [(p, "TERM") for p in POINTS if p != "committed-load-not-closed"]


@pytest.mark.parametrize(("point", "signal_name"), STOPS, ids=[f"{p}-{s}" for p, s in STOPS])
@pytest.mark.parametrize("kind", ["rest", "files", pytest.param("sql", marks=pytest.mark.services)])
def test_a_loader_stopped_at_any_point_then_rerun_holds_exactly_the_source(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, point: str, signal_name: str
) -> None:
    subject = request.getfixturevalue(f"{kind}_subject")
    path = str(tmp_path / "wh.duckdb")
    stop_and_rerun(subject, {"kind": "duckdb", "path": path}, lambda: tl.warehouse.duckdb(path), point,
                   signal_name)  # fmt: skip


@pytest.mark.parametrize(("point", "signal_name"), STOPS, ids=[f"{p}-{s}" for p, s in STOPS])
@pytest.mark.parametrize("kind", ["rest", "files"])
def test_a_loader_stopped_at_any_point_then_rerun_holds_exactly_the_source_in_a_delta_lake(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str, point: str, signal_name: str
) -> None:
    """The same stops into a Delta lake on local disk. Inside a batch, a
    stop lands between the batch's commits to its tables, or just after its
    commit point (its row of ``_tf_state``)."""
    subject = request.getfixturevalue(f"{kind}_subject")
    path = str(tmp_path / "lake")
    stop_and_rerun(
        subject, {"kind": "delta", "path": path}, lambda: tl.warehouse.delta(path), point, signal_name
    )


@pytest.mark.parametrize(
    "point", ["rows-written-uncommitted", "state-written-uncommitted", "between-batches"]
)
def test_a_loader_killed_while_it_writes_a_delta_lake_on_s3_then_rerun_holds_exactly_the_source(
    rest_subject: Subject, s3_url: str, s3_endpoint: str, point: str
) -> None:
    from support.services import S3_KEYS

    options = {"endpoint_url": s3_endpoint, **S3_KEYS}
    where = {"kind": "delta", "path": s3_url, "options": options}
    stop_and_rerun(rest_subject, where, lambda: tl.warehouse.delta(s3_url, **options), point, "KILL")


@pytest.mark.services
@pytest.mark.parametrize("signal_name", ["KILL", "TERM"])
@pytest.mark.parametrize("point", ["rows-written-uncommitted", "state-written-uncommitted"])
def test_a_loader_stopped_inside_a_postgres_transaction_then_rerun_holds_exactly_the_source(
    rest_subject: Subject, postgres_url: str, point: str, signal_name: str
) -> None:
    import uuid

    from support.services import drop_schema

    schema = f"tf_wh_{uuid.uuid4().hex[:10]}"
    try:
        where = {"kind": "postgres", "url": postgres_url, "schema": schema}
        reopen = lambda: tl.warehouse.postgres(postgres_url, schema=schema)  # noqa: E731
        stop_and_rerun(rest_subject, where, reopen, point, signal_name)
    finally:
        drop_schema(postgres_url, schema)
