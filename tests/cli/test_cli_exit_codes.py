"""Every exit code of the ``tillflow`` command, through the real command, and
commands that read a warehouse never create one."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

import tillflow as tl
from support import run_cli
from tillflow._core.exits import EXIT_CODES
from tillflow.warehouse.journal import RUNS


def runs_of(path: Path, statuses: list[str], errors: list[int] | None = None) -> None:
    """A warehouse whose pipeline ``p`` ran with these statuses, one a day."""
    now = dt.datetime.now(dt.timezone.utc)
    rows = []
    for i, status in enumerate(statuses):
        started = now - dt.timedelta(hours=len(statuses) - i)
        rows.append({
            "run_id": f"r{i}", "pipeline": "p", "status": status, "started_at": started,
            "finished_at": started + dt.timedelta(minutes=1), "errors": (errors or [0] * len(statuses))[i],
        })  # fmt: skip
    with tl.warehouse.duckdb(str(path)) as wh:
        wh.write_journal({RUNS: pl.DataFrame(rows)})


@pytest.fixture
def records_api() -> Iterator[str]:
    """An API serving one page of records without the spec's primary key."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps([{"name": "a"}, {"name": "b"}]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_table_is_the_documented_one():
    page = (Path(__file__).parents[2] / "docs" / "reference" / "errors.md").read_text()
    for code in EXIT_CODES:
        assert f"\n| {code} | " in page, code
    assert sorted(EXIT_CODES) == [0, 1, 2, 3, 5, 6, 7, 70, 75, 130, 143]


def test_health_exits_by_verdict(tmp_path):
    healthy, degraded, critical = tmp_path / "h.duckdb", tmp_path / "d.duckdb", tmp_path / "c.duckdb"
    runs_of(healthy, ["completed"] * 3)
    runs_of(degraded, ["completed", "failed"], [0, 1])
    runs_of(critical, ["failed"] * 2, [6, 6])
    assert run_cli("health", "--warehouse", str(healthy)).returncode == 0
    out = run_cli("health", "--warehouse", str(degraded))
    assert (out.returncode, out.stdout.split(" — ")[0]) == (1, "p: degraded (success rate 50% is below 95%)")
    out = run_cli("health", "--warehouse", str(critical))
    assert out.returncode == 3 and out.stdout.startswith("p: critical")


def test_usage_errors_exit_2(tmp_path):
    out = run_cli("health", "--no-such-option")
    assert out.returncode == 2 and "unrecognized arguments" in out.stderr
    assert run_cli().returncode == 2


def test_a_bad_spec_exits_4_creates_nothing_and_says_so_once(tmp_path):
    spec = tmp_path / "orders.toml"
    spec.write_text(
        'name = "shop"\n\n[defaults]\nbase_url = "https://api.example.com"\n\n'
        '[[resources]]\nname = "orders"\npath = "orders"\nprimary_keyy = "id"\n'
    )
    db = tmp_path / "w.duckdb"
    out = run_cli("run", str(spec), "--warehouse", str(db), "--quiet")
    assert out.returncode == 2
    assert not db.exists()
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(
        f"error: ConfigError: invalid config: {spec}:9: resources[0].primary_keyy: unknown field"
    )
    assert "column" not in lines[0]


def test_a_source_failure_exits_5(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "x"\nbase_url = "http://127.0.0.1:9"\nretry = { max_attempts = 1 }\n')
    out = run_cli("run", str(spec), "--warehouse", str(tmp_path / "w.duckdb"), "--quiet")
    assert out.returncode == 5
    assert out.stderr.count("HttpError") == 1 and "connection failed" in out.stderr


def test_a_warehouse_that_cannot_be_opened_exits_6(tmp_path):
    broken = tmp_path / "broken.duckdb"
    broken.write_bytes(b"this is not a DuckDB database" * 100)
    out = run_cli("health", "--warehouse", str(broken))
    assert out.returncode == 6 and "WarehouseError" in out.stderr and str(broken) in out.stderr


def test_records_that_do_not_fit_exit_7(tmp_path, records_api):
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"name": "things", "base_url": records_api, "primary_key": "id"}))
    out = run_cli("run", str(spec), "--warehouse", str(tmp_path / "w.duckdb"), "--quiet")
    assert out.returncode == 7, out.stderr
    assert "SchemaError" in out.stderr


def test_an_unexpected_exception_is_an_internal_error_70(tmp_path):
    code = (
        "import sys, tillflow.cli as cli\n"
        "def boom(args): raise ZeroDivisionError('a bug')\n"
        "parser = cli._parser\n"
        "def patched():\n"
        "    p = parser()\n"
        "    for action in p._subparsers._group_actions:\n"
        "        action.choices['health'].set_defaults(func=boom)\n"
        "    return p\n"
        "cli._parser = patched\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "health"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert out.returncode == 70
    assert "internal error (a bug in tillflow): ZeroDivisionError: a bug" in out.stderr


READERS = [
    ("metrics", "--warehouse", "{db}"),
    ("metrics", "--warehouse", "{db}", "--no-write"),
    ("report", "--warehouse", "{db}", "-o", "{out}"),
    ("health", "--warehouse", "{db}"),
    ("serve-metrics", "--warehouse", "{db}", "--port", "0"),
    ("metrics-textfile", "--warehouse", "{db}", "-o", "{prom}"),
    ("validate", "t", "--rules", "{rules}", "--warehouse", "{db}"),
]


@pytest.mark.parametrize("argv", READERS, ids=lambda a: " ".join(a[:1] + a[3:4]))
def test_commands_on_a_missing_warehouse_fail_naming_it_and_create_nothing(tmp_path, argv):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - not_null: id\n")
    db, out = tmp_path / "nosuch.duckdb", tmp_path / "out.html"
    done = run_cli(*(a.format(db=db, out=out, prom=tmp_path / "out.prom", rules=rules) for a in argv))
    assert done.returncode == 2, done.stderr
    assert str(db) in done.stderr and "ConfigError" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rules.yaml"]


def test_reading_commands_open_the_warehouse_read_only(tmp_path):
    db = tmp_path / "shop.duckdb"
    runs_of(db, ["completed"])
    with tl.warehouse.duckdb(str(db)) as wh:
        wh.query("CREATE TABLE t AS SELECT 1 AS id")
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - not_null: id\n")
    # A read-only connection held here admits other readers, never a writer.
    held = duckdb.connect(str(db), read_only=True)
    try:
        assert run_cli("health", "--warehouse", str(db)).returncode == 0
        report = run_cli("report", "--warehouse", str(db), "-o", str(tmp_path / "r.html"))
        assert report.returncode == 0, report.stderr
        assert run_cli("validate", "t", "--rules", str(rules), "--warehouse", str(db)).returncode == 0
        assert run_cli("metrics-textfile", "--warehouse", str(db), "-o", "-").returncode == 0
        writer = run_cli(
            "validate", "t", "--rules", str(rules), "--warehouse", str(db), "--record",
            env={"TILLFLOW_LOCK_TIMEOUT": "0.2"},
        )  # fmt: skip
        assert writer.returncode == 75 and f"another process holds it (pid {os.getpid()}" in writer.stderr
    finally:
        held.close()


def _hold(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process writing to the warehouse, as a running pipeline does,
    for ``seconds``."""
    code = (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
        "time.sleep(float(sys.argv[2]))"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_a_locked_warehouse_waits_then_names_the_process_holding_it(tmp_path):
    db = tmp_path / "shop.duckdb"
    runs_of(db, ["completed"])
    holder = _hold(db, 120)
    try:
        quick = {"TILLFLOW_LOCK_TIMEOUT": "0.3"}
        for args in (
            ["health", "--warehouse", str(db)],
            ["report", "--warehouse", str(db), "-o", str(tmp_path / "r.html")],
            ["demo", "--warehouse", str(db), "--orders", "20"],  # a second loader
        ):
            out = run_cli(*args, env=quick)
            assert out.returncode == 75, (args, out.stderr)
            last = out.stderr.strip().splitlines()[-1]
            assert f"is locked: another process holds it (pid {holder.pid}, started 20" in last, last
            assert "waited 0.3s" in last
        bad = run_cli("health", "--warehouse", str(db), env={"TILLFLOW_LOCK_TIMEOUT": "soon"})
        assert bad.returncode == 2 and "TILLFLOW_LOCK_TIMEOUT" in bad.stderr
    finally:
        holder.kill()
        holder.communicate(timeout=30)
    assert not (tmp_path / "r.html").exists()
    with tl.warehouse.duckdb(str(db), read_only=True) as wh:
        assert wh.journal(RUNS).height == 1, "the file is whole"


def test_a_reader_waits_for_a_writer_that_finishes_in_time(tmp_path):
    db = tmp_path / "shop.duckdb"
    runs_of(db, ["completed"])
    holder = _hold(db, 1.0)
    try:
        out = run_cli("health", "--warehouse", str(db), env={"TILLFLOW_LOCK_TIMEOUT": "60"})
        assert out.returncode == 0, out.stderr
    finally:
        holder.communicate(timeout=30)
    assert holder.returncode == 0


def test_the_python_api_opens_only_existing_warehouses(tmp_path, postgres_url, unique_name):
    from tillflow.exceptions import WarehouseError

    with pytest.raises(WarehouseError, match="nosuch.duckdb"):
        tl.warehouse.duckdb(str(tmp_path / "nosuch.duckdb"), create=False)
    with pytest.raises(WarehouseError, match="nosuch.duckdb"):
        tl.warehouse.duckdb(str(tmp_path / "nosuch.duckdb"), read_only=True)
    with pytest.raises(WarehouseError, match="lake"):
        tl.warehouse.delta(str(tmp_path / "lake"), create=False)
    with pytest.raises(WarehouseError, match=unique_name):
        tl.warehouse.postgres(postgres_url, schema=unique_name, create=False)
    assert list(tmp_path.iterdir()) == []
    import psycopg

    with psycopg.connect(postgres_url) as con:
        found = con.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [unique_name]).fetchone()
    assert found == (0,)
    with tl.warehouse.duckdb(str(tmp_path / "w.duckdb")):
        pass
    with tl.warehouse.duckdb(str(tmp_path / "w.duckdb"), create=False) as wh:
        assert wh.tables() == []
