"""tillflow's Airflow operators and TaskFlow tasks in a DAG that real Airflow
runs (``dag.test()``): a project's sources, models and metrics, a validation,
a health check; a failure not worth a retry is not retried.

Airflow runs from a virtualenv of its own (its pins are not Prefect's), with
tillflow installed from the same built wheel: .ci/run puts its Python in
TILLFLOW_AIRFLOW_PYTHON."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import tillflow as tl
from support import run_cli
from support.services import external_tool

DAG_FILE = """
import json
import os

import pendulum
from airflow.sdk import DAG

from tillflow.integrations import airflow as tfa

project = os.environ["TILLFLOW_PROJECT"]
wh = os.path.join(project, "warehouse.duckdb")
start = pendulum.datetime(2024, 1, 1, tz="UTC")

with DAG("tillflow_shop", schedule=None, start_date=start) as shop:
    chain = tfa.project_tasks(project)
    rules = os.path.join(project, "rules", "daily_revenue.yaml")
    checked = tfa.validate(warehouse=wh, table="daily_revenue", rules=rules)
    health = tfa.HealthOperator(task_id="health", warehouse=wh, pipeline="shop", fail_on="critical")
    page = os.path.join(project, "report-{{ ds }}.html")
    report = tfa.ReportOperator(task_id="report", warehouse=wh, path=page)
    chain[-1] >> checked >> health >> report

with DAG("tillflow_broken", schedule=None, start_date=start, default_args={"retries": 3}) as broken:
    at_most_one = {"rules": [{"row_count": {"max": 1}}]}
    tfa.ValidateOperator(task_id="strict", warehouse=wh, table="orders", rules=at_most_one)

if __name__ == "__main__":
    out = {}
    for dag in (shop, broken):
        run = dag.test()
        out[dag.dag_id] = {
            "state": str(run.state),
            "tasks": {ti.task_id: [str(ti.state), ti.try_number] for ti in run.get_task_instances()},
        }
    print("RESULT " + json.dumps(out))
"""


def airflow_python() -> Path:
    return Path(external_tool("TILLFLOW_AIRFLOW_PYTHON", "Python with Airflow and tillflow"))


def test_a_dag_of_tillflow_tasks_runs_in_real_airflow(tmp_path):
    python = airflow_python()
    assert run_cli("init", "shop", cwd=tmp_path).returncode == 0
    project = tmp_path / "shop"
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "tillflow_dags.py").write_text(textwrap.dedent(DAG_FILE))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "TILLFLOW_PROJECT": str(project),
    }
    migrate = subprocess.run(
        [str(python.parent / "airflow"), "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    done = subprocess.run(
        [str(python), str(dags / "tillflow_dags.py")], env=env, capture_output=True, text=True, timeout=900
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))

    shop = result["tillflow_shop"]
    assert shop["state"] == "success", shop
    assert {t: s for t, (s, _n) in shop["tasks"].items()} == {
        "load_shop": "success", "models": "success", "metrics": "success",
        "tillflow_validate": "success", "health": "success", "report": "success",
    }  # fmt: skip
    with tl.warehouse.duckdb(str(project / "warehouse.duckdb"), read_only=True) as wh:
        tables = set(wh.tables())
        assert {"orders", "daily_revenue", "metrics_daily_summary"} <= tables
        assert wh.query("select count(*) from _tf_runs where status = 'completed'").item() >= 1
        validated = "select count(*) from _tf_rule_results where pipeline = 'validate' and \"table\" = "
        checked = wh.query(validated + "'daily_revenue'").item()
        assert checked == len(tl.RuleSet.from_file(project / "rules" / "daily_revenue.yaml").checks())
    assert list(project.glob("report-*.html")), "the templated report path was not rendered"

    broken = result["tillflow_broken"]
    assert broken["state"] == "failed"
    # ValidationError cannot pass on a retry: one try, though the DAG allows three retries.
    assert broken["tasks"]["strict"] == ["failed", 1]
