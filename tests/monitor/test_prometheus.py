"""Prometheus exposition of the monitor's tables: over HTTP, as a textfile and as text."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from prometheus_client.parser import text_string_to_metric_families

import tillflow as tl
from tillflow import rules as r
from tillflow.exceptions import ConfigError, WarehouseError
from tillflow.monitor import prometheus_text, serve_metrics, write_textfile

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

# Every family, present (with HELP and TYPE) even when the warehouse is empty.
FAMILIES = {
    "tillflow_build_info", "tillflow_runs", "tillflow_last_run_timestamp_seconds",
    "tillflow_last_run_duration_seconds", "tillflow_last_run_success",
    "tillflow_last_success_timestamp_seconds", "tillflow_rows_loaded", "tillflow_last_run_rows",
    "tillflow_retries", "tillflow_errors", "tillflow_health_status", "tillflow_null_ratio",
    "tillflow_freshness_lag_seconds", "tillflow_rule_checks", "tillflow_rule_failing_ratio",
    "tillflow_rule_failing_rows", "tillflow_anomalies", "tillflow_alerts", "tillflow_warehouse_up",
    "tillflow_scrape_duration_seconds",
}  # fmt: skip


def ago(minutes: float) -> dt.datetime:
    return NOW - dt.timedelta(minutes=minutes)


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def scrape(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode(), response.headers["Content-Type"]


def runs(rows: list[dict[str, Any]]) -> pl.DataFrame:
    frame = pl.DataFrame(rows)
    return frame.with_columns(
        row_counts=pl.col("row_counts").map_elements(json.dumps, return_dtype=pl.String)
    )


def fill(wh: Any) -> None:
    """Four runs of two pipelines, what they measured, rule checks, anomalies and alerts."""
    wh.write_journal({
        "_tf_runs": runs([
            {"run_id": "r1", "pipeline": "shop", "status": "completed", "started_at": ago(90),
             "finished_at": ago(89), "duration_s": 60.0, "retries": 0, "errors": 0,
             "row_counts": {"orders": 100, "orders__line_items": 250}},
            {"run_id": "r2", "pipeline": "shop", "status": "failed", "started_at": ago(60),
             "finished_at": ago(59.5), "duration_s": 30.0, "retries": 3, "errors": 1,
             "row_counts": {"orders": 40}},
            {"run_id": "r3", "pipeline": "shop", "status": "completed", "started_at": ago(30),
             "finished_at": ago(28), "duration_s": 120.0, "retries": 1, "errors": 0,
             "row_counts": {"orders": 10, "orders__line_items": 25}},
            {"run_id": "c1", "pipeline": "crm", "status": "completed", "started_at": ago(20),
             "finished_at": ago(19), "duration_s": 60.0, "retries": 0, "errors": 0,
             "row_counts": {"contacts": 7}},
        ]),
        "_tf_run_metrics": pl.DataFrame({
            "run_id": ["r1", "r1", "r3", "r3", "r3"],
            "pipeline": ["shop"] * 5,
            "metric": ["null_rate", "rows", "null_rate", "freshness_lag_s", "duration_s"],
            "table": ["orders", "orders", "orders", "orders", None],
            "column": ["email", None, "email", None, None],
            "value": [0.1, 100.0, 0.25, 300.0, 120.0],
            "recorded_at": [ago(89), ago(89), ago(28), ago(28), ago(28)],
        }),
        "_tf_anomalies": pl.DataFrame({
            "anomaly_id": ["a1", "a2", "a3"], "run_id": ["r2", "r3", "r3"], "pipeline": ["shop"] * 3,
            "kind": ["volume", "volume", "null_rate"], "severity": ["warning", "warning", "critical"],
            "detected_at": [ago(59), ago(28), ago(28)],
        }),
        "_tf_alerts": pl.DataFrame({
            "alert_key": ["k1", "k1", "k2", "k3"], "pipeline": ["shop"] * 4,
            "channel": ["slack", "slack", "slack", "email"],
            "status": ["sent", "suppressed", "sent", "failed"],
            "sent_at": [ago(59), ago(28), ago(28), ago(28)],
        }),
    })  # fmt: skip
    rules = tl.RuleSet([r.not_null("email", name="email_present"), r.unique("id", name="id_unique")])
    clean = pl.DataFrame({"id": [1, 2, 3, 4], "email": ["a@x.io", "b@x.io", "c@x.io", "d@x.io"]})
    dirty = clean.with_columns(email=pl.Series(["a@x.io", None, "c@x.io", "d@x.io"]))
    for run_id, frame, at in (("r1", clean, ago(89)), ("r3", dirty, ago(28))):
        wh.record_rule_results(
            rules.validate(frame).to_polars(), run_id=run_id, pipeline="shop", resource="orders",
            table="orders", checked_at=at,
        )  # fmt: skip


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    path = tmp_path / "shop.duckdb"
    with tl.warehouse.duckdb(str(path)) as wh:
        fill(wh)
    return path


def assert_filled(found: Samples) -> None:
    v = lambda name, **labels: value(found, name, **labels)  # noqa: E731
    assert v("tillflow_runs_total", pipeline="shop", status="completed") == 2
    assert v("tillflow_runs_total", pipeline="shop", status="failed") == 1
    assert v("tillflow_runs_total", pipeline="crm", status="completed") == 1
    assert v("tillflow_runs_total", pipeline="crm", status="failed") == 0
    assert v("tillflow_last_run_timestamp_seconds", pipeline="shop") == ago(28).timestamp()
    assert v("tillflow_last_run_duration_seconds", pipeline="shop") == 120.0
    assert v("tillflow_last_run_success", pipeline="shop") == 1
    assert v("tillflow_last_success_timestamp_seconds", pipeline="crm") == ago(19).timestamp()
    assert v("tillflow_rows_loaded_total", pipeline="shop", table="orders") == 150
    assert v("tillflow_rows_loaded_total", pipeline="shop", table="orders__line_items") == 275
    assert v("tillflow_rows_loaded_total", pipeline="crm", table="contacts") == 7
    assert v("tillflow_last_run_rows", pipeline="shop", table="orders") == 10
    assert v("tillflow_last_run_rows", pipeline="shop", table="orders__line_items") == 25
    assert v("tillflow_retries_total", pipeline="shop") == 4
    assert v("tillflow_errors_total", pipeline="shop") == 1
    assert v("tillflow_errors_total", pipeline="crm") == 0
    # shop: 2 of 3 runs completed this week, under 95 %: degraded.
    assert v("tillflow_health_status", pipeline="shop") == 1
    assert v("tillflow_health_status", pipeline="crm") == 0
    assert v("tillflow_null_ratio", pipeline="shop", table="orders", column="email") == 0.25
    assert v("tillflow_freshness_lag_seconds", pipeline="shop", table="orders") == 300
    rule = {"pipeline": "shop", "table": "orders"}
    assert v("tillflow_rule_checks_total", **rule, rule="email_present", status="passed") == 1
    assert v("tillflow_rule_checks_total", **rule, rule="email_present", status="failed") == 1
    assert v("tillflow_rule_checks_total", **rule, rule="id_unique", status="passed") == 2
    assert v("tillflow_rule_checks_total", **rule, rule="id_unique", status="failed") == 0
    assert v("tillflow_rule_failing_ratio", **rule, rule="email_present") == 0.25
    assert v("tillflow_rule_failing_rows", **rule, rule="email_present") == 1
    assert v("tillflow_rule_failing_ratio", **rule, rule="id_unique") == 0
    assert v("tillflow_anomalies_total", pipeline="shop", kind="volume", severity="warning") == 2
    assert v("tillflow_anomalies_total", pipeline="shop", kind="null_rate", severity="critical") == 1
    # Known label sets start at 0, so the first anomaly of a kind shows in increase().
    assert v("tillflow_anomalies_total", pipeline="crm", kind="schema", severity="critical") == 0
    assert sum(1 for name, _ in found if name == "tillflow_anomalies_total") == 2 * 6 * 3
    assert v("tillflow_alerts_total", pipeline="shop", channel="slack", status="sent") == 2
    assert v("tillflow_alerts_total", pipeline="shop", channel="slack", status="suppressed") == 1
    assert v("tillflow_alerts_total", pipeline="shop", channel="slack", status="failed") == 0
    assert v("tillflow_alerts_total", pipeline="shop", channel="email", status="failed") == 1
    assert v("tillflow_warehouse_up") == 1
    assert v("tillflow_build_info", version=tl.__version__) == 1


def test_http_scrape_reads_the_warehouse_every_time(filled: Path) -> None:
    with serve_metrics(filled, port=0) as server:
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        text, content_type = scrape(server.url)
        assert content_type.startswith("text/plain; version=0.0.4")
        found = samples(text)
        assert_filled(found)
        assert {f.name for f in text_string_to_metric_families(text)} >= FAMILIES
        assert any(name.startswith("process_") for name, _ in found)
        # A run written between two scrapes shows in the second.
        with tl.warehouse.duckdb(str(filled)) as wh:
            wh.write_journal({"_tf_runs": runs([
                {"run_id": "c2", "pipeline": "crm", "status": "failed", "started_at": ago(5),
                 "finished_at": ago(4), "duration_s": 9.5, "errors": 2, "row_counts": {}},
            ])})  # fmt: skip
        again = samples(scrape(server.url)[0])
    assert value(again, "tillflow_runs_total", pipeline="crm", status="failed") == 1
    assert value(again, "tillflow_last_run_success", pipeline="crm") == 0
    assert value(again, "tillflow_last_run_duration_seconds", pipeline="crm") == 9.5
    assert value(again, "tillflow_last_success_timestamp_seconds", pipeline="crm") == ago(19).timestamp()
    assert value(again, "tillflow_errors_total", pipeline="crm") == 2
    assert value(again, "tillflow_health_status", pipeline="crm") == 1


def test_a_locked_file_answers_up_zero_then_recovers(filled: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Another process holds DuckDB's write lock, as a running pipeline does.
    hold = "import duckdb, sys; db = duckdb.connect(sys.argv[1]); print('ready', flush=True); input()"
    stdio = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    with subprocess.Popen([sys.executable, "-c", hold, str(filled)], **stdio) as holder:  # type: ignore[call-overload]
        try:
            assert holder.stdout.readline() == "ready\n"
            with serve_metrics(filled, port=0, lock_timeout=0.2) as server:
                with caplog.at_level(logging.WARNING, logger="tillflow.monitor"):
                    locked = samples(scrape(server.url)[0])
                assert value(locked, "tillflow_warehouse_up") == 0
                assert not [name for name, _ in locked if name == "tillflow_runs_total"]
                assert f"another process holds it (pid {holder.pid}" in caplog.text
                with pytest.raises(WarehouseError, match="another process holds it"):
                    prometheus_text(filled, lock_timeout=0.2)
                holder.communicate("\n", timeout=30)  # the writer is done
                assert_filled(samples(scrape(server.url)[0]))
        finally:
            holder.kill()


def test_every_warehouse_object_exposes_the_same(any_warehouse: Any) -> None:
    fill(any_warehouse)
    assert_filled(samples(prometheus_text(any_warehouse)))


def test_textfile_is_the_exposition_written_atomically(filled: Path, tmp_path: Path) -> None:
    folder = tmp_path / "textfiles"
    folder.mkdir()
    target = folder / "tillflow.prom"
    assert write_textfile(filled, target) == target
    written = target.read_text()
    assert_filled(samples(written))
    assert os.listdir(folder) == ["tillflow.prom"]  # the temporary file was renamed over it
    # The same lines as the text, but for the time the read took.
    same = lambda text: [ln for ln in text.splitlines() if not ln.startswith("tillflow_scrape_duration")]  # noqa: E731
    assert same(written) == same(prometheus_text(filled))
    assert "process_" not in written  # node_exporter has its own
    with pytest.raises(ConfigError, match=r"node_exporter reads only \*\.prom files, not 'tillflow.txt'"):
        write_textfile(filled, folder / "tillflow.txt")
    with pytest.raises(ConfigError, match="no folder"):
        write_textfile(filled, tmp_path / "missing" / "tillflow.prom")


def test_empty_warehouses_give_valid_exposition(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.duckdb"
    tl.warehouse.duckdb(str(fresh)).close()
    bare = tmp_path / "bare.duckdb"  # a DuckDB file tillflow never opened
    create = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('CREATE TABLE t (x INT)')"
    subprocess.run([sys.executable, "-c", create, str(bare)], check=True)
    for path in (fresh, bare):
        text = prometheus_text(path)
        families = {f.name: f for f in text_string_to_metric_families(text)}
        assert set(families) == FAMILIES
        with_samples = {name for name, f in families.items() if f.samples}
        assert with_samples == {
            "tillflow_build_info", "tillflow_warehouse_up", "tillflow_scrape_duration_seconds"
        }  # fmt: skip
        assert "# TYPE tillflow_runs_total counter" in text
        assert "# TYPE tillflow_health_status gauge" in text


def test_hostile_label_values_are_escaped(tmp_path: Path) -> None:
    name = 'shop "eu"\\prod\nline two — Köln 🛒'
    table = 'odd"table\\x'
    with tl.warehouse.duckdb(str(tmp_path / "w.duckdb")) as wh:
        wh.write_journal({"_tf_runs": runs([
            {"run_id": "r1", "pipeline": name, "status": "completed", "started_at": ago(3),
             "finished_at": ago(2), "duration_s": 1.0, "row_counts": {table: 3}},
        ])})  # fmt: skip
        text = prometheus_text(wh)  # a warehouse object, used as it is
    assert 'pipeline="shop \\"eu\\"\\\\prod\\nline two — Köln 🛒"' in text
    assert 'table="odd\\"table\\\\x"' in text
    found = samples(text)
    assert value(found, "tillflow_runs_total", pipeline=name, status="completed") == 1
    assert value(found, "tillflow_rows_loaded_total", pipeline=name, table=table) == 3


def test_a_factory_opens_a_fresh_warehouse_per_scrape(filled: Path) -> None:
    opened: list[Any] = []

    def factory() -> Any:
        opened.append(tl.warehouse.duckdb(str(filled)))
        return opened[-1]

    with serve_metrics(factory, port=0) as server:
        assert_filled(samples(scrape(server.url)[0]))
        assert_filled(samples(scrape(server.url)[0]))
    assert len(opened) == 2
    assert all("closed" in repr(wh) for wh in opened)  # each closed after its scrape


def test_health_is_tillflow_monitor_health_as_a_number(tmp_path: Path) -> None:
    def history(pipeline: str, completed: int, failed: int, errors: int = 0, days_ago: float = 1) -> list:
        at = NOW - dt.timedelta(days=days_ago)
        return [{"run_id": f"{pipeline}{i}", "pipeline": pipeline, "started_at": at, "finished_at": at,
                 "status": "completed" if i < completed else "failed", "errors": errors if i == 0 else 0,
                 "row_counts": {}} for i in range(completed + failed)]  # fmt: skip

    with tl.warehouse.duckdb(str(tmp_path / "h.duckdb")) as wh:
        wh.write_journal({"_tf_runs": runs(
            history("at_95_percent", 19, 1) + history("under_95", 9, 1) + history("many_errors", 20, 0, 11)
            + history("ten_errors", 20, 0, 10) + history("failed_long_ago", 0, 5, days_ago=8)
        )})  # fmt: skip
        found = samples(prometheus_text(wh))
        expected = {
            "at_95_percent": 0,
            "under_95": 1,
            "many_errors": 2,
            "ten_errors": 0,
            "failed_long_ago": 0,
        }
        assert {p: value(found, "tillflow_health_status", pipeline=p) for p in expected} == expected
        for pipeline, level in expected.items():
            status = tl.monitor.health(wh, pipeline).status
            assert status == ["healthy", "degraded", "critical"][level]


def test_bad_sources_and_ports_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no DuckDB file '.*nowhere.duckdb'"):
        serve_metrics(tmp_path / "nowhere.duckdb", port=0)
    not_duckdb = tmp_path / "notes.duckdb"
    not_duckdb.write_text("not a database")
    with pytest.raises(WarehouseError, match="notes.duckdb': not a readable DuckDB file"):
        prometheus_text(not_duckdb)
    # DuckDB allows no read-only connection beside this process's own writer.
    with tl.warehouse.duckdb(str(tmp_path / "open.duckdb")) as wh:
        with pytest.raises(WarehouseError, match="this process has it open for writing; pass that warehouse"):
            prometheus_text(tmp_path / "open.duckdb")
        assert "tillflow_warehouse_up 1.0" in prometheus_text(wh)
    with pytest.raises(
        ConfigError, match="expected a DuckDB file path, a warehouse or a function .* got int"
    ):
        prometheus_text(42)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        empty = tmp_path / "e.duckdb"
        tl.warehouse.duckdb(str(empty)).close()
        with pytest.raises(ConfigError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            serve_metrics(empty, port=port)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tillflow.cli", *args]


def test_serve_metrics_command(filled: Path) -> None:
    proc = subprocess.Popen(
        cli("serve-metrics", "--warehouse", str(filled), "--port", "0"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"serving Prometheus metrics of {filled} at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        assert url.endswith("/metrics")
        assert_filled(samples(scrape(url)[0]))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait(30)
    assert proc.returncode == 0, err
    assert out == "stopped\n"
    assert err == ""


def test_metrics_textfile_command(filled: Path, tmp_path: Path) -> None:
    target = tmp_path / "tillflow.prom"
    run = lambda *a: subprocess.run(cli(*a), capture_output=True, text=True, timeout=120, check=False)  # noqa: E731
    done = run("metrics-textfile", "--warehouse", str(filled), "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote {target}\n" and done.stderr == ""
    assert_filled(samples(target.read_text()))
    printed = run("metrics-textfile", "--warehouse", str(filled), "-o", "-", "--quiet")
    assert printed.returncode == 0, printed.stderr
    assert_filled(samples(printed.stdout))
    quiet = run("metrics-textfile", "--warehouse", str(filled), "-o", str(target), "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == ""
    missing = run("metrics-textfile", "--warehouse", str(tmp_path / "none.duckdb"), "-o", str(target))
    assert missing.returncode == 2
    assert "ConfigError" in missing.stderr and "no DuckDB file" in missing.stderr
