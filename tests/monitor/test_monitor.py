"""Run history, health and anomaly detection, on real demo-shop runs and on
run histories written straight into the monitor tables."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from typing import Any

import polars as pl
import pytest

import tillflow as tl
from support import FAST_RETRY
from tillflow.monitor import AnomalyConfig, HealthThresholds

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def fake_runs(wh: Any, pipeline: str, statuses: list[str], *, errors: list[int] | None = None,
              start: dt.datetime = T0, step: dt.timedelta = dt.timedelta(hours=1)) -> list[str]:  # fmt: skip
    """A run history in ``_tf_runs``: one run per status, ``step`` apart."""
    ids, rows = [], []
    for i, status in enumerate(statuses):
        run_id = f"{pipeline}-{i:04d}"
        ids.append(run_id)
        began = start + i * step
        rows.append({
            "run_id": run_id, "pipeline": pipeline, "status": status, "started_at": began,
            "finished_at": began + dt.timedelta(seconds=10), "duration_s": 10.0,
            "errors": (errors[i] if errors else int(status != "completed")),
            "error": None if status == "completed" else "HttpError: HTTP 500", "schemas": "{}",
        })  # fmt: skip
    wh.write_journal({"_tf_runs": pl.DataFrame(rows)})
    return ids


def fake_metric(wh: Any, pipeline: str, run_ids: list[str], metric: str, values: list[float],
                table: str | None = "orders", column: str | None = None) -> None:  # fmt: skip
    wh.write_journal({"_tf_run_metrics": pl.DataFrame({
        "run_id": run_ids, "pipeline": pipeline, "metric": metric, "table": table, "column": column,
        "value": values, "recorded_at": [T0 + dt.timedelta(hours=i) for i in range(len(values))],
    }, schema_overrides={"table": pl.String, "column": pl.String})})  # fmt: skip


# -- run history


def test_every_run_writes_its_row_and_metrics(shop, warehouse):
    run = tl.pipeline("shop", shop.source(), warehouse).run()
    runs = tl.monitor.runs(warehouse)
    assert runs.height == 1
    row = runs.row(0, named=True)
    assert row["run_id"] == run.run_id
    assert row["pipeline"] == "shop"
    assert row["status"] == "completed"
    assert row["errors"] == 0 and row["error"] is None and row["retries"] == 0
    assert json.loads(row["resources"]) == ["orders", "customers", "products"]
    assert json.loads(row["row_counts"]) == run.row_counts
    assert row["total_rows"] == run.total_rows
    assert row["finished_at"] >= row["started_at"]
    assert row["duration_s"] == pytest.approx((row["finished_at"] - row["started_at"]).total_seconds())
    schemas = json.loads(row["schemas"])
    assert schemas["orders"]["id"] == "Int64"
    assert not any(c.startswith("_tf_") for c in schemas["orders"])

    metrics = warehouse.journal("_tf_run_metrics")
    assert set(metrics["run_id"]) == {run.run_id}
    rows = metrics.filter(pl.col("metric") == "rows")
    expected = {t: float(n) for t, n in run.row_counts.items()}
    assert dict(zip(rows["table"], rows["value"], strict=True)) == expected
    duration = metrics.filter(pl.col("metric") == "duration_s")["value"].item()
    assert duration == pytest.approx(row["duration_s"])
    # Incremental resources have a timestamp cursor: the newest record's age.
    lag = metrics.filter(pl.col("metric") == "freshness_lag_s")
    assert lag["table"].to_list() == ["orders"]
    cursor = dt.datetime.fromisoformat(warehouse.get_state("shop", "orders")["cursor"])
    assert lag["value"].item() == pytest.approx((row["finished_at"] - cursor).total_seconds(), abs=1.0)
    nulls = metrics.filter((pl.col("metric") == "null_rate") & (pl.col("table") == "orders"))
    stored = warehouse.query("SELECT count(*) - count(customer__email), count(*) FROM orders").row(0)
    email = nulls.filter(pl.col("column") == "customer__email")["value"].item()
    assert email == pytest.approx(stored[0] / stored[1])
    assert nulls.filter(pl.col("column") == "id")["value"].item() == 0.0


def test_rule_failure_rates_are_measured(shop, warehouse):
    run = tl.pipeline("shop", shop.source(rules=True, resources=["orders"]), warehouse).run()
    report = run.reports["orders"].to_polars()
    rates = warehouse.journal("_tf_run_metrics").filter(pl.col("metric") == "rule_fail_rate")
    assert rates.height == report.filter(pl.col("fraction").is_not_null()).height > 0
    assert set(rates["table"]) == {"orders"}
    expected = dict(zip(report["rule"], report["fraction"], strict=True))
    for rule, value in zip(rates["column"], rates["value"], strict=True):
        assert value == pytest.approx(expected[rule])


def test_a_failed_run_is_recorded_with_its_error_and_retries(tmp_path):
    with tl.demo_shop(orders=500, fail_after_pages=3) as bad, tl.warehouse.duckdb(tmp_path / "w.db") as wh:
        retry = {**FAST_RETRY, "max_attempts": 3}
        src = tl.sources.shopify(bad.url, bad.token, resources=["orders"], page_size=50, retry=retry)
        with pytest.raises(tl.HttpError) as info:
            tl.pipeline("p", src, wh).run()
        row = tl.monitor.runs(wh).row(0, named=True)
        assert row["status"] == "failed"
        assert row["errors"] == 1
        assert row["error"].startswith("HttpError: ") and "HTTP 500" in row["error"]
        # The fourth page was tried three times: two retries.
        assert row["retries"] == 2
        assert json.loads(row["row_counts"]) == info.value.load_summary.row_counts
        assert info.value.load_summary.row_counts["orders"] == 150
        assert info.value.run_summary.record.status == "failed"
        assert info.value.run_summary.run_id == row["run_id"]


def test_runs_log_json_lines(shop, warehouse):
    out = io.StringIO()
    handler = tl.monitor.configure_logging("INFO", json=True, stream=out)
    token = "shpat_wrong_token_4f1e"
    try:
        tl.pipeline("shop", shop.source(resources=["orders"]), warehouse).run()
        with pytest.raises(tl.AuthError):
            bad = tl.sources.shopify(shop.url, token, resources=["orders"], retry=FAST_RETRY)
            tl.pipeline("shop", bad, warehouse).run()
    finally:
        logging.getLogger("tillflow").removeHandler(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    runs = [line for line in lines if line["logger"] == "tillflow.pipeline"]
    assert [r["level"] for r in runs] == ["INFO", "INFO", "INFO", "ERROR"]
    started, done, failed = runs[0], runs[1], runs[3]
    assert started["message"] == f"run {started['run_id']} of shop started"
    assert (done["run_id"], done["status"], done["row_counts"]["orders"]) == (
        started["run_id"],
        "completed",
        1000,
    )
    assert done["rows"] == sum(done["row_counts"].values())
    assert failed["status"] == "failed" and "HTTP 401" in failed["message"]
    assert token not in out.getvalue()


def test_a_run_that_fails_before_any_batch_is_recorded(shop, warehouse):
    src = tl.sources.shopify(shop.url, "wrong-token", resources=["orders"], retry=FAST_RETRY)
    with pytest.raises(tl.AuthError):
        tl.pipeline("shop", src, warehouse).run()
    row = tl.monitor.runs(warehouse, "shop").row(0, named=True)
    assert row["status"] == "failed"
    assert "401" in row["error"]
    assert json.loads(row["row_counts"]) == {"orders": 0}


def check_round_trip(wh: Any) -> None:
    ids = fake_runs(wh, "p", ["completed", "failed"])
    fake_metric(wh, "p", ids, "rows", [10.0, 0.0])
    runs = wh.journal("_tf_runs")
    assert runs["run_id"].to_list() == ids
    assert runs["status"].to_list() == ["completed", "failed"]
    assert runs.schema["started_at"] == pl.Datetime("us", "UTC")
    assert runs["started_at"].to_list() == [T0, T0 + dt.timedelta(hours=1)]
    assert wh.journal("_tf_run_metrics")["value"].to_list() == [10.0, 0.0]
    assert wh.journal("_tf_anomalies").height == 0
    with pytest.raises(tl.WarehouseError, match="not a monitor table"):
        wh.journal("orders")
    with pytest.raises(tl.WarehouseError, match="_tf_runs has no column 'bogus'"):
        wh.write_journal({"_tf_runs": pl.DataFrame({"bogus": [1]})})


def test_monitor_tables_round_trip_on_every_warehouse(any_warehouse):
    check_round_trip(any_warehouse)


def test_monitor_tables_round_trip_on_the_lake(tmp_path):
    with tl.warehouse.delta(str(tmp_path / "lake")) as lake:
        check_round_trip(lake)


# -- health


def test_three_good_runs_and_a_failed_one_are_degraded(shop, warehouse):
    for _ in range(3):
        tl.pipeline("shop", shop.source(resources=["orders"]), warehouse).run()
    bad = tl.sources.shopify(shop.url, "wrong-token", resources=["orders"], retry=FAST_RETRY)
    with pytest.raises(tl.AuthError):
        tl.pipeline("shop", bad, warehouse).run()
    h = tl.monitor.health(warehouse, "shop")
    assert h.status == "degraded"
    assert (h.runs, h.failed_runs, h.error_count) == (4, 1, 1)
    assert h.success_rate == 0.75
    assert h.last_status == "failed"
    assert h.reasons == ("success rate 75% is below 95%",)
    assert h.freshness is not None and h.freshness < dt.timedelta(minutes=5)
    assert "degraded" in h._repr_html_()
    # The same history under a looser threshold is healthy.
    assert tl.monitor.health(warehouse, "shop", thresholds=HealthThresholds(min_success_rate=0.7)).ok


def test_more_than_ten_errors_is_critical(warehouse):
    now = T0 + dt.timedelta(days=1)
    fake_runs(warehouse, "p", ["completed"] * 30 + ["failed"], errors=[0] * 30 + [11])
    h = tl.monitor.health(warehouse, "p", now=now)
    assert h.status == "critical"
    assert h.success_rate == pytest.approx(30 / 31)
    assert h.reasons == ("11 errors is more than 10",)
    # Exactly ten is not.
    fake_runs(warehouse, "q", ["completed"] * 30 + ["failed"], errors=[0] * 30 + [10])
    assert tl.monitor.health(warehouse, "q", now=now).status == "healthy"


def test_health_windows_and_staleness(warehouse):
    fake_runs(warehouse, "p", ["failed"] * 5 + ["completed"] * 5, step=dt.timedelta(days=1))
    now = T0 + dt.timedelta(days=10)
    assert tl.monitor.health(warehouse, "p", window=5, now=now).status == "healthy"
    assert tl.monitor.health(warehouse, "p", window=dt.timedelta(days=30), now=now).success_rate == 0.5
    h = tl.monitor.health(warehouse, "p", window=dt.timedelta(days=3), now=now)
    assert h.runs == 3 and h.window == "3 days"
    stale = HealthThresholds(max_staleness=dt.timedelta(hours=12))
    h = tl.monitor.health(warehouse, "p", window=5, now=now, thresholds=stale)
    assert h.status == "degraded"
    assert h.reasons == ("no successful run for 24 hours (allowed 12 hours)",)
    h = tl.monitor.health(warehouse, "p", window=dt.timedelta(days=1), now=now + dt.timedelta(days=5))
    assert (h.status, h.runs, h.reasons) == ("healthy", 0, ("no runs in 1 day",))


def test_health_of_a_pipeline_that_never_ran(warehouse):
    h = tl.monitor.health(warehouse, "nobody")
    assert (h.status, h.runs, h.success_rate, h.last_run) == ("unknown", 0, None, None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_success_rate": 1.5}, "min_success_rate must be between 0 and 1"),
        ({"max_errors": -1}, "max_errors must be 0 or more"),
    ],
)
def test_bad_thresholds_are_named(kwargs, message):
    with pytest.raises(tl.ConfigError, match=message):
        HealthThresholds(**kwargs)


# -- anomalies


def test_volume_drop_is_an_anomaly(warehouse):
    ids = fake_runs(warehouse, "p", ["completed"] * 9)
    fake_metric(warehouse, "p", ids, "rows", [1000, 1010, 990, 1005, 995, 1000, 1002, 998, 400])
    found = tl.monitor.detect_anomalies(warehouse, "p", config=AnomalyConfig(min_points=7))
    assert len(found) == 1
    a = found[0]
    assert (a.kind, a.metric, a.table, a.run_id, a.value) == ("volume", "rows", "orders", ids[-1], 400.0)
    assert a.expected == pytest.approx(1000.0)
    assert a.spread == pytest.approx(50.0)  # the 5% floor: the sample spread is 6.5
    assert a.z == pytest.approx(-12.0)
    assert a.severity == "critical"
    assert a.key == "p:anomaly:volume:rows:orders"
    assert "rows loaded of orders was 400" in a.message
    stored = tl.monitor.anomalies(warehouse, "p")
    assert stored["anomaly_id"].to_list() == [a.anomaly_id]
    # Judging the same run again stores nothing twice.
    tl.monitor.detect_anomalies(warehouse, "p", config=AnomalyConfig(min_points=7))
    assert tl.monitor.anomalies(warehouse).height == 1


def test_z_score_sensitivity_directions_and_training_size(warehouse):
    ids = fake_runs(warehouse, "p", ["completed"] * 8)
    base = [10.0, 12.0, 11.0, 9.0, 10.0, 11.0, 9.0]
    fake_metric(warehouse, "p", ids, "duration_s", [*base, 16.0], table=None)
    # mean 10.29, sd 1.11: 16 s is 5.1 spreads above.
    found = tl.monitor.detect_anomalies(warehouse, "p", config=AnomalyConfig(min_points=7), store=False)
    assert [(a.kind, a.severity) for a in found] == [("duration", "warning")]
    assert found[0].z == pytest.approx((16 - 10.285714) / 1.112697, rel=1e-4)
    calm = AnomalyConfig(sensitivity=6, min_points=7)
    assert tl.monitor.detect_anomalies(warehouse, "p", config=calm) == []
    # Too few training points: not judged.
    assert tl.monitor.detect_anomalies(warehouse, "p", config=AnomalyConfig(min_points=8, window=30)) == []
    # A faster run is never an anomaly.
    ids = fake_runs(warehouse, "q", ["completed"] * 8)
    fake_metric(warehouse, "q", ids, "duration_s", [*base, 1.0], table=None)
    assert tl.monitor.detect_anomalies(warehouse, "q", config=AnomalyConfig(min_points=7)) == []


def test_a_failed_run_is_not_judged(warehouse):
    ids = fake_runs(warehouse, "p", ["completed"] * 3 + ["failed"])
    fake_metric(warehouse, "p", ids, "rows", [1000.0, 1000.0, 1000.0, 0.0])
    assert tl.monitor.detect_anomalies(warehouse, "p", config=AnomalyConfig(min_points=3)) == []


def test_failed_runs_do_not_train_and_the_window_trails(warehouse):
    statuses = ["completed"] * 3 + ["failed"] * 3 + ["completed"] * 5
    ids = fake_runs(warehouse, "p", statuses)
    # Old runs at 5,000 rows, failed runs at 0, then 100s; the judged run is back at 5,000.
    values = [5000.0] * 3 + [0.0] * 3 + [100.0] * 4 + [5000.0]
    fake_metric(warehouse, "p", ids, "rows", values)
    recent = AnomalyConfig(min_points=4, window=4)
    found = tl.monitor.detect_anomalies(warehouse, "p", config=recent, store=False)
    assert [(a.kind, a.expected) for a in found] == [("volume", 100.0)]
    # Five runs back reach one 5,000 (mean 1,080, spread 2,191): not an anomaly. Had the
    # failed runs' zeros trained instead, 5,000 would stand far out.
    assert tl.monitor.detect_anomalies(warehouse, "p", config=AnomalyConfig(min_points=5, window=5)) == []


def test_null_rate_and_rule_failures_rising(warehouse):
    ids = fake_runs(warehouse, "p", ["completed"] * 6)
    fake_metric(warehouse, "p", ids, "null_rate", [0.0] * 5 + [0.25], column="email")
    fake_metric(warehouse, "p", ids, "rule_fail_rate", [0.001] * 5 + [0.002], column="valid_email")
    found = tl.monitor.detect_anomalies(warehouse, "p", config=AnomalyConfig(min_points=5))
    # 25% nulls against none is 25 points above a 1-point floor; 0.1 point more failing rows is noise.
    assert [(a.kind, a.column, a.severity) for a in found] == [("null_rate", "email", "critical")]


def test_schema_changes_between_runs(warehouse):
    schemas = [
        {"orders": {"id": "Int64", "total": "Int64", "note": "String"}, "customers": {"id": "Int64"}},
        {"orders": {"id": "Int64", "total": "Float64", "tags": "String", "note": "Null"}},
    ]
    ids = fake_runs(warehouse, "p", ["completed", "completed"])
    for run_id, schema in zip(ids, schemas, strict=True):
        warehouse.connection.execute(
            "UPDATE _tf_runs SET schemas = ? WHERE run_id = ?", [json.dumps(schema), run_id]
        )
    found = tl.monitor.detect_anomalies(warehouse, "p", config=AnomalyConfig(min_points=2, window=2))
    got = sorted((a.metric, a.table, a.column, a.severity) for a in found)
    assert got == [
        ("column_added", "orders", "tags", "info"),
        ("column_retyped", "orders", "total", "warning"),
    ]
    retyped = next(a for a in found if a.metric == "column_retyped")
    assert retyped.message == "p: orders.total: type changed from Int64 to Float64"


def test_bad_anomaly_config_is_named():
    with pytest.raises(tl.ConfigError, match="unknown metric 'rowz'"):
        AnomalyConfig(metrics=("rowz",))
    with pytest.raises(tl.ConfigError, match="window .3. must hold at least min_points .7."):
        AnomalyConfig(window=3)
    with pytest.raises(tl.ConfigError, match="sensitivity must be above 0"):
        AnomalyConfig(sensitivity=0)


def test_real_runs_then_a_volume_drop(shop, warehouse):
    """Three full loads of the same shop, then one of a shop that lost most of its orders."""
    config = AnomalyConfig(min_points=3)
    monitor = tl.monitor.Monitor(anomalies=config)
    for _ in range(3):
        run = tl.pipeline("shop", shop.source(resources=["orders"]), warehouse, monitor=monitor).run(
            full_refresh=True
        )
        assert run.monitor.anomalies == []
    with tl.demo_shop(orders=100) as small:
        run = tl.pipeline("shop", small.source(resources=["orders"]), warehouse, monitor=monitor).run(
            full_refresh=True, write_mode="replace"
        )
    volume = [a for a in run.monitor.anomalies if a.kind == "volume" and a.table == "orders"]
    got = [(a.table, a.value, a.expected, a.severity) for a in volume]
    assert got == [("orders", 100.0, 1000.0, "critical")]
    assert run.monitor.health.status == "healthy"


def test_check_judges_the_pipelines_own_latest_run(warehouse):
    ids = fake_runs(warehouse, "p", ["completed"] * 8)
    fake_metric(warehouse, "p", ids, "rows", [1000.0] * 7 + [10.0])
    fake_runs(warehouse, "other", ["completed"], start=T0 + dt.timedelta(days=1))  # ran after p's last run
    monitor = tl.monitor.Monitor(anomalies=AnomalyConfig(min_points=7))
    result = monitor.check(warehouse, "p")
    assert result.run_id == ids[-1]
    assert [a.kind for a in result.anomalies] == ["volume"]
    with pytest.raises(tl.ConfigError, match="pipeline 'p' has no run 'nope' in _tf_runs"):
        monitor.check(warehouse, "p", "nope")
    with pytest.raises(tl.ConfigError, match="pipeline 'ghost' has no runs in _tf_runs"):
        monitor.check(warehouse, "ghost")


def test_an_interrupted_run_alerts_as_a_warning_not_as_a_failure(tmp_path):
    """A run a signal stopped kept what it committed and resumes next time: the
    monitor warns about it ("run interrupted") rather than calling it a failure."""
    import dataclasses
    import signal

    from tillflow.exceptions import Interrupted

    @dataclasses.dataclass
    class StoppedAfterOneBatch(tl.sources.Resource):
        def open(self, state=None):
            inner = super().open(state)

            class Stream:
                def __iter__(self):
                    for batch in inner:
                        yield batch
                        raise Interrupted(signal.SIGTERM)

                def close(self):
                    inner.close()

            return Stream()

    monitor = tl.monitor.Monitor()
    with tl.demo_shop(orders=40) as shop, tl.warehouse.duckdb(str(tmp_path / "wh.duckdb")) as wh:
        orders = shop.source(resources=["orders"]).resources[0]
        stopping = StoppedAfterOneBatch(orders.spec, write_mode=orders.write_mode)
        with pytest.raises(Interrupted):
            tl.pipeline("shop", tl.sources.Source("shop", [stopping]), wh, monitor=monitor).run()
        result = monitor.check(wh, "shop")
    run_alerts = [(a.key, a.title, a.severity) for a in result.alerts if a.key.startswith("shop:run_")]
    assert run_alerts == [("shop:run_interrupted", "shop: run interrupted", tl.monitor.Severity.WARNING)]
