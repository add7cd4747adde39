"""The shipped Grafana dashboard reads only metrics the exporter serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import tillflow as tl
from support import run_cli
from tillflow import rules as r


def _served_families(tmp_path: Path) -> set[str]:
    path = str(tmp_path / "wh.duckdb")
    rules = tl.RuleSet([r.not_null("email"), r.between("total_price", 0, 1)], key="id")
    with tl.demo_shop(orders=60) as shop, tl.warehouse.duckdb(path) as wh:
        tl.pipeline("shop", shop.source(resources=["orders"]).with_rules(orders=rules), wh).run()
    text = tl.monitor.prometheus_text(path)
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_every_panel_queries_served_metrics_for_the_chosen_pipelines(tmp_path: Path) -> None:
    served = _served_families(tmp_path)
    dash = tl.monitor.grafana_dashboard(tmp_path / "dash.json")
    assert json.loads((tmp_path / "dash.json").read_text()) == dash
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) == 12
    used = set()
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        for target in panel["targets"]:
            names = set(re.findall(r"tillflow_[a-z_]+", target["expr"]))
            assert names and names <= served, (panel["title"], names - served)
            if names != {"tillflow_warehouse_up"}:
                assert 'pipeline=~"$pipeline"' in target["expr"], panel["title"]
            used |= names
    # The health, freshness, rows, rules and anomaly families all have a panel.
    assert {"tillflow_health_status", "tillflow_freshness_lag_seconds", "tillflow_rows_loaded_total",
            "tillflow_rule_failing_ratio", "tillflow_anomalies_total"} <= used  # fmt: skip
    variable = dash["templating"]["list"][0]
    assert variable["name"] == "pipeline" and "tillflow_runs_total" in variable["query"]["query"]


def test_the_command_writes_the_dashboard(tmp_path: Path) -> None:
    out = tmp_path / "tillflow-dashboard.json"
    done = run_cli("grafana-dashboard", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["uid"] == "tillflow-runs"
