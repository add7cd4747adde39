"""tillflow's Prefect tasks and shop flow, run by a real Prefect 3 against a
temporary local server (``prefect_test_harness``) and checked in the warehouse."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pytest

import tillflow as tl
from support import FAST_RETRY
from support.services import drop_schema

# Every metric table a shop flow refreshes.
METRIC_TABLES = {
    "metrics_daily_summary",
    "metrics_revenue_trend",
    "metrics_customer_segments",
    "metrics_product_performance",
    "metrics_order_value_buckets",
    "metrics_rfm",
    "metrics_cohort_retention",
    "metrics_customer_lifetime_value",
}
# The demo shop's 300 orders (seed 42): one has an email the seed's rule rejects, so it is quarantined.
DEMO_300 = {
    "orders": 299,
    "orders__line_items": 730,
    "orders__quarantine": 1,
    "orders__line_items__quarantine": 3,
    "customers": 60,
    "products": 24,
    "products__variants": 72,
}
CATALOGUE = {"customers": 60, "products": 24, "products__variants": 72}
# A run that finds no new orders says so.
NO_NEW_ORDERS = {"orders": 0, **CATALOGUE}


@pytest.fixture(scope="module")
def tp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """``tillflow.integrations.prefect`` with a temporary Prefect server for this module.

    Prefect reads its settings when imported, so the environment is set
    first: its home (result storage) in a temporary folder, no API of the
    user's, no telemetry. The server takes 10-40 s to start, hence one per
    module, as Prefect's testing guide advises; the harness stops it."""
    home = tmp_path_factory.mktemp("prefect_home")
    # Prefect configures the root logger when imported; the rest of the suite gets it back as it was.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PREFECT_HOME", str(home))
        env.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        env.setenv("DO_NOT_TRACK", "1")
        env.delenv("PREFECT_API_URL", raising=False)
        env.delenv("PREFECT_API_KEY", raising=False)
        from prefect.settings import PREFECT_HOME, PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings
        from prefect.testing.utilities import prefect_test_harness

        import tillflow.integrations.prefect as module

        # Also when prefect was imported before this fixture ran.
        with temporary_settings({PREFECT_HOME: home, PREFECT_SERVER_ANALYTICS_ENABLED: False}):
            with prefect_test_harness(server_startup_timeout=60):
                yield module
    root.handlers[:] = handlers
    root.setLevel(level)


def task_runs(state: Any) -> dict[str, Any]:
    """The task runs of the flow run that ended in ``state``, by name, as the API holds them."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        found = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    return {run.name: run for run in found}


def flow_run_logs(state: Any) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all()
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        )
    return [log.message for log in logs]


def runs_of(path: Path, pipeline: str) -> pl.DataFrame:
    with tl.warehouse.duckdb(str(path)) as wh:
        return tl.monitor.runs(wh, pipeline)


def test_shop_flow_loads_the_demo_shop_then_only_what_changed(tp: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    state = tp.shop_flow(warehouse=str(path), orders=300, return_state=True)
    assert state.is_completed(), state.message
    out = state.result()

    load = out["load"]
    assert load["pipeline"] == out["pipeline"] == "demo_shop"
    assert load["status"] == "completed"
    assert load["row_counts"] == DEMO_300
    assert load["total_rows"] == sum(DEMO_300.values())
    assert load["rules"]["orders"]["rows"] == 300
    assert load["rules"]["orders"]["failed_rules"] == ["matches_email"]
    assert out["metrics"] == {
        "metrics_daily_summary": 181,
        "metrics_revenue_trend": 30,
        "metrics_customer_segments": 4,
        "metrics_product_performance": 20,
        "metrics_order_value_buckets": 4,
        "metrics_rfm": 54,
        "metrics_cohort_retention": 19,
        "metrics_customer_lifetime_value": 54,
    }
    assert (out["health"]["status"], out["health"]["runs"], out["health"]["success_rate"]) == (
        "healthy",
        1,
        1.0,
    )
    assert out["report"] is None
    # The result is plain data: it goes through JSON as it is (datetimes as text).
    assert json.loads(json.dumps(out, default=str))["load"]["row_counts"] == DEMO_300

    with tl.warehouse.duckdb(str(path)) as wh:
        counts = wh.row_counts()
        assert {t: counts[t] for t in DEMO_300} == DEMO_300
        assert METRIC_TABLES <= set(wh.tables())
    runs = runs_of(path, "demo_shop")
    assert runs.select("run_id", "status", "total_rows").rows() == [
        (load["run_id"], "completed", sum(DEMO_300.values()))
    ]
    assert json.loads(runs["row_counts"][0]) == DEMO_300

    names = task_runs(state)
    assert set(names) >= {"extract-load-demo_shop", "health-demo_shop"}
    assert all(run.state.is_completed() for run in names.values())
    logs = flow_run_logs(state)
    assert f"demo_shop: 3 loads, 1,189 rows in {load['seconds']:.2f}s" in "\n".join(logs)
    assert any(line.startswith("rules on orders: FAILED: 5 passed, 1 failed of 6 checks") for line in logs)

    # A second run starts a new demo shop with the same orders: nothing new to load.
    again = tp.shop_flow(warehouse=str(path), orders=300)
    assert again["load"]["row_counts"] == NO_NEW_ORDERS
    runs = runs_of(path, "demo_shop")
    assert runs["status"].to_list() == ["completed", "completed"]
    assert runs["run_id"][1] == again["load"]["run_id"]
    assert json.loads(runs["row_counts"][1]) == NO_NEW_ORDERS
    assert again["health"]["runs"] == 2


def test_shop_flow_on_a_store_loads_edited_orders_and_masks_the_token(tp: ModuleType, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from pydantic import SecretStr

    path = str(tmp_path / "store.duckdb")
    with tl.demo_shop(orders=300) as shop:
        state = tp.shop_flow(shop.url, SecretStr(shop.token), path, rules=False, return_state=True)
        first = state.result()
        assert first["pipeline"] == "shopify"
        assert first["load"]["row_counts"] == {
            "orders": 300, "orders__line_items": 733, **CATALOGUE
        }  # fmt: skip
        edited = shop.edit_orders(5)
        second = tp.shop_flow(shop.url, SecretStr(shop.token), path, rules=False)
    assert second["load"]["row_counts"]["orders"] == 5
    with tl.warehouse.duckdb(path) as wh:
        refunded = set(wh.query("SELECT id FROM orders WHERE financial_status = 'refunded'")["id"])
        assert set(edited) <= refunded
        assert wh.row_counts()["orders"] == 300
    with get_client(sync_client=True) as client:
        parameters = client.read_flow_run(state.state_details.flow_run_id).parameters
    assert parameters["token"] == "**********"
    assert parameters["shop_url"] == shop.url


def test_a_refused_token_fails_the_task_with_tillflows_auth_error(tp: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "refused.duckdb"
    with tl.demo_shop(orders=300) as shop:
        state = tp.shop_flow(shop.url, "shpat_wrong", str(path), return_state=True)
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert type(error) is tl.AuthError
    assert "HTTP 401 Unauthorized" in str(error)
    assert error.status == 401

    load = task_runs(state)["extract-load-shopify"]
    assert load.state.is_failed()
    assert load.state.message.startswith("Task run encountered an exception AuthError: GET http://127.0.0.1:")
    assert "was refused: HTTP 401 Unauthorized" in load.state.message
    assert "shpat_wrong" not in load.state.message
    assert str(error) in state.message

    runs = runs_of(path, "shopify")
    assert runs.select("status", "total_rows").rows() == [("failed", 0)]
    assert runs["error"][0] == f"AuthError: {error}"
    assert error.run_summary.run_id == runs["run_id"][0]
    # The plain-string token was warned about.
    assert any("pass pydantic.SecretStr(token)" in line for line in flow_run_logs(state))


def test_retries_are_configurable_and_skip_refused_credentials(tp: ModuleType, tmp_path: Path) -> None:
    from prefect import flow

    path = str(tmp_path / "retried.duckdb")
    loader = tp.extract_load.with_options(retries=1, retry_delay_seconds=0)

    @flow
    def load_with_a_retry(flaky: Any, refused: Any) -> dict[str, Any]:
        states = {
            "flaky": loader(flaky, path, "flaky", return_state=True),
            "refused": loader(refused, path, "refused", return_state=True),
        }
        return {name: state.result(raise_on_failure=False) for name, state in states.items()}

    with tl.demo_shop(orders=300, fail_after_pages=0, fail_status=503) as shop:
        flaky = shop.source(retry=FAST_RETRY)
        refused = tl.sources.shopify(shop.url, "shpat_wrong", **shop.window)
        state = load_with_a_retry(flaky, refused, return_state=True)
    errors = state.result()
    assert type(errors["flaky"]) is tl.HttpError and errors["flaky"].status == 503
    assert type(errors["refused"]) is tl.AuthError
    runs = task_runs(state)
    flaky_run, refused_run = runs["extract-load-flaky"], runs["extract-load-refused"]
    assert flaky_run.state.message == f"Task run encountered an exception HttpError: {errors['flaky']}"
    assert flaky_run.run_count == 2  # one retry, and the 503 came back
    assert refused_run.run_count == 1  # trying again cannot fix refused credentials
    assert runs_of(Path(path), "flaky")["status"].to_list() == ["failed", "failed"]
    assert runs_of(Path(path), "refused")["status"].to_list() == ["failed"]


def test_validate_returns_the_report_and_fails_on_error_rules(tp: ModuleType, tmp_path: Path) -> None:
    from prefect import flow

    path = str(tmp_path / "rules.duckdb")
    with tl.demo_shop(orders=300) as shop, tl.warehouse.duckdb(path) as wh:
        tl.pipeline("shop", shop.source(), wh).run()
    rules = {
        "key": ["id"],
        "rules": [{"not_null": "id"}, {"between": "total_price", "min": 0, "max": 10_000}],
    }
    strict = {"key": ["id"], "rules": [{"between": "total_price", "min": 0, "max": 100}]}

    @flow
    def check() -> dict[str, Any]:
        passed = tp.validate(path, "orders", rules)
        failed = tp.validate(path, "orders", strict, return_state=True)
        return {"passed": passed, "message": failed.message, "error": failed.result(raise_on_failure=False)}

    out = check()
    passed, error = out["passed"], out["error"]
    assert passed["passed"] is True and passed["table"] == "orders" and passed["rows"] == 300
    assert passed["summary"] == "PASSED: 2 passed of 2 checks over 300 rows"
    assert type(error) is tl.ValidationError
    assert str(error).startswith("1 of 1 checks failed over 300 rows:\n  - between_total_price")
    assert out["message"] == f"Task run encountered an exception ValidationError: {error}"
    with tl.warehouse.duckdb(path) as wh:
        recorded = wh.rule_results().sort("rule")
    assert recorded.select("pipeline", "table", "rule", "passed").rows() == [
        ("validate", "orders", "between_total_price", True),
        ("validate", "orders", "between_total_price", False),
        ("validate", "orders", "not_null_id", True),
    ]

    with pytest.raises(tl.ConfigError, match=r"no table 'order' in .*rules\.duckdb"):
        tp.validate.fn(path, "order", rules)


def test_health_can_fail_the_flow(tp: ModuleType, tmp_path: Path) -> None:
    from prefect import flow

    path = str(tmp_path / "health.duckdb")
    with tl.demo_shop(orders=300) as shop:
        with pytest.raises(tl.AuthError):
            # No run context: the task logs to tillflow's own logger.
            tp.extract_load.fn(tl.sources.shopify(shop.url, "shpat_wrong", **shop.window), path, "shop_a")
        tp.extract_load.fn(shop.source(), path, "shop_a")

    @flow
    def watch() -> dict[str, Any]:
        return tp.check_health(path, "shop_a", fail_on="degraded")

    error = watch(return_state=True).result(raise_on_failure=False)
    assert type(error) is tl.TillflowError
    assert str(error) == "pipeline 'shop_a' is degraded: success rate 50% is below 95%"
    assert tp.check_health.fn(path, "shop_a", fail_on="critical")["status"] == "degraded"
    with pytest.raises(tl.ConfigError, match="fail_on: must be 'degraded', 'critical' or None, got 'bad'"):
        tp.check_health.fn(path, "shop_a", fail_on="bad")


def test_report_task_writes_the_html_report(tp: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "report.duckdb"
    report = tmp_path / "report.html"
    out = tp.shop_flow(warehouse=str(path), orders=300, report_path=str(report))
    assert out["report"] == str(report)
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "demo_shop" in html


def test_extract_load_into_postgres(tp: ModuleType, postgres_url: str, unique_name: str) -> None:
    url = f"{postgres_url}?schema={unique_name}"
    try:
        with tl.demo_shop(orders=300) as shop:
            out = tp.extract_load.fn(shop.source(rules=True), url, "pg_shop")
        assert out["row_counts"] == DEMO_300
        with tl.warehouse.postgres(postgres_url, schema=unique_name) as wh:
            assert wh.row_counts()["orders"] == 299
            assert tl.monitor.runs(wh, "pg_shop")["status"].to_list() == ["completed"]
        assert tp.compute_metrics.fn(url, "daily_summary,rfm") == {
            "metrics_daily_summary": 181,
            "metrics_rfm": 54,
        }
    finally:
        drop_schema(postgres_url, unique_name)


def test_warehouse_locations_are_checked(tp: ModuleType, tmp_path: Path) -> None:
    expected = "expected a DuckDB file path, delta:PATH or a postgresql:// URL, got int 3"
    with pytest.raises(tl.ConfigError, match=expected):
        tp.open_warehouse(3)
    with tp.open_warehouse(f"delta:{tmp_path / 'lake'}") as lake:
        assert isinstance(lake, tl.warehouse.DeltaLake)
    with pytest.raises(tl.ConfigError, match=r"unsupported URL scheme 'mysql' in 'mysql://root:\*\*\*@db/x'"):
        tp.open_warehouse("mysql://root:secret@db/x")
    with pytest.raises(tl.ConfigError, match="source: expected a tillflow source"):
        tp.extract_load.fn(42, ":memory:", "x")


def test_a_failing_sources_credentials_are_found_nowhere_in_prefect(tp: ModuleType, tmp_path: Path) -> None:
    """Sources carrying a canary credential, passed to a flow as parameters,
    fail in the task (after tillflow's retries and Prefect's); the canary, in
    any of its wire forms, is in no flow run, task run, state, parameter,
    task input, result or log line."""
    from prefect import flow
    from prefect.client.orchestration import get_client

    from support.secrets import CANARY, CANARY_USER, EchoServer, Findings

    path = str(tmp_path / "secret.duckdb")
    fast = {"max_attempts": 3, "initial_backoff_secs": 0.001, "max_backoff_secs": 0.002}
    loader = tp.extract_load.with_options(retries=1, retry_delay_seconds=0)
    auths = {
        "bearer": ("/json/500,429,401", {"type": "bearer", "token": CANARY}),
        "basic": ("/text/500,503", {"type": "basic", "username": CANARY_USER, "password": CANARY}),
        "api_key_query": ("/json/400", {"type": "api_key", "name": "api_key", "value": CANARY,
                                        "location": "query"}),
        "api_key_header": ("/json/500,401", {"type": "api_key", "name": "x-api-key", "value": CANARY}),
    }  # fmt: skip

    @flow
    def load_all(sources: dict[str, Any]) -> dict[str, Any]:
        states = {name: loader(source, path, name, return_state=True) for name, source in sources.items()}
        return {name: state.result(raise_on_failure=False) for name, state in states.items()}

    with EchoServer() as echo:
        sources: dict[str, Any] = {
            name: tl.sources.rest({"name": "things", "base_url": echo.url + where, "path": "x", "auth": auth,
                                   "retry": fast})
            for name, (where, auth) in auths.items()
        }  # fmt: skip
        sources["shopify"] = tl.sources.shopify(echo.url + "/text/401", CANARY, resources=["customers"])
        state = load_all(sources, return_state=True)
    errors = state.result()
    assert {name: type(error) for name, error in errors.items()} == {
        "bearer": tl.AuthError, "basic": tl.HttpError, "api_key_query": tl.HttpError,
        "api_key_header": tl.AuthError, "shopify": tl.AuthError,
    }  # fmt: skip

    findings = Findings()
    for name, error in errors.items():
        findings.exception(f"{name}: the task's result", error)
    findings.search("the flow's state", repr(state))
    findings.search("the flow's state message", state.message)
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
        findings.search("the flow run", flow_run.model_dump_json())
        findings.search("the flow run's parameters", json.dumps(flow_run.parameters))
        for i, flow_state in enumerate(client.read_flow_run_states(flow_run_id)):
            findings.search(f"flow run state {i} ({flow_state.type.value})", flow_state.model_dump_json())
        runs = task_runs(state)
        for name, run in runs.items():
            findings.search(f"task run {name}", run.model_dump_json())
            findings.search(f"task run {name}: task_inputs", repr(run.task_inputs))
            findings.search(f"task run {name}: state message", run.state.message)
            for i, task_state in enumerate(client.read_task_run_states(run.id)):
                findings.search(f"task run {name}: state {i} ({task_state.type.value})",
                                task_state.model_dump_json())  # fmt: skip
    findings.search("the flow run's logs", "\n".join(flow_run_logs(state)))

    # The failures happened: Prefect retried the 503, tillflow had retried each request before.
    assert runs["extract-load-basic"].run_count == 2
    assert runs["extract-load-bearer"].run_count == 1
    # Prefect stored the sources passed to the flow, their credentials masked.
    stored = flow_run.parameters["sources"]
    assert stored["bearer"]["resources"][0]["spec"]["auth"] == {"type": "bearer", "token": "***"}
    assert stored["basic"]["resources"][0]["spec"]["auth"] == {
        "type": "basic", "username": CANARY_USER, "password": "***"
    }  # fmt: skip
    assert stored["shopify"]["resources"][0]["spec"]["auth"]["value"] == "***"
    assert findings.places == {}, f"the canary leaked: {findings.places}"


def test_a_warehouse_url_passed_as_a_secret_is_stored_masked(tp: ModuleType, tmp_path: Path) -> None:
    """A ``postgresql://`` URL holds a password: passed as a ``SecretStr``, the
    flow opens the warehouse it names while Prefect stores only a mask."""
    from prefect.client.orchestration import get_client
    from pydantic import SecretStr

    location = tmp_path / "wh-tfCanaryLocation.duckdb"
    state = tp.shop_flow(warehouse=SecretStr(str(location)), orders=300, return_state=True)
    assert state.is_completed(), state
    out = state.result()
    assert out["warehouse"] == str(location)
    with tl.warehouse.duckdb(str(location), read_only=True) as wh:
        assert wh.row_counts()["orders"] == 299
    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(state.state_details.flow_run_id).parameters
    assert "tfCanaryLocation" not in json.dumps(stored, default=str), stored


def test_project_flow_runs_each_source_then_the_models_then_the_metrics(
    tp: ModuleType, tmp_path: Path
) -> None:
    from support import run_cli

    assert run_cli("init", "shop", cwd=tmp_path).returncode == 0
    project = tmp_path / "shop"
    state = tp.project_flow(str(project), return_state=True)
    assert state.is_completed(), state.message
    out = state.result()
    assert out["project"] == "shop"
    assert [s["steps"][0]["name"] for s in out["sources"]] == ["shop"]
    assert [s["name"] for s in out["models"]["steps"]] == ["paid_orders", "daily_revenue"]
    assert out["metrics"]["steps"][0]["message"] == "8 metrics tables"
    assert out["upkeep"] is None  # the project has no [publish] or [backup]
    names = task_runs(state)
    assert len(names) == 3 and all(run.state.is_completed() for run in names.values())
    with tl.warehouse.duckdb(str(project / "warehouse.duckdb"), read_only=True) as wh:
        assert {"orders", "daily_revenue", "metrics_daily_summary"} <= set(wh.tables())

    # With [publish], a last task copies the warehouse for BI tools once the metrics are in.
    toml = project / "tillflow.toml"
    toml.write_text(toml.read_text() + '\n[publish]\nto = "bi/shop.duckdb"\n')
    published = tp.project_flow(str(project), return_state=True)
    assert published.is_completed(), published.message
    assert [s["kind"] for s in published.result()["upkeep"]["steps"]] == ["publish"]
    with tl.warehouse.duckdb(str(project / "bi" / "shop.duckdb"), read_only=True) as wh:
        assert "metrics_daily_summary" in wh.tables()
    toml.write_text(toml.read_text().replace('\n[publish]\nto = "bi/shop.duckdb"\n', ""))

    # A model that breaks its rules fails its task, and so the flow; the sources' task still completed.
    (project / "rules" / "daily_revenue.yaml").write_text("rules:\n  - between: revenue\n    max: 0\n")
    failed = tp.project_flow(str(project), return_state=True)
    assert failed.is_failed()
    assert "StepsFailed" in failed.message or "daily_revenue" in failed.message
    runs = task_runs(failed)
    assert sorted(str(run.state.type.value) for run in runs.values()) == ["COMPLETED", "FAILED"]
