"""The `tillflow` command as a user runs it."""

from __future__ import annotations

import json

import duckdb

from support import run_cli as run


def test_demo_twice_keeps_row_counts(tmp_path):
    db = tmp_path / "demo.duckdb"
    first = run("demo", "--orders", "800", "--warehouse", str(db), "--quiet")
    assert first.returncode == 0, first.stderr
    assert "daily summary" in first.stdout
    assert "top_product" in first.stdout
    assert "customer segments" in first.stdout and "VIP" in first.stdout
    con = duckdb.connect(str(db))
    tables = {"orders", "orders__line_items", "customers", "products", "_tf_loads"}
    assert tables <= {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    counts = {
        t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
        for t in ("orders", "orders__quarantine", "orders__line_items", "customers", "products")
    }
    # The seed's rules ran on orders: mistyped emails are held back, the rest loaded.
    results = con.execute("SELECT rule, status FROM _tf_rule_results ORDER BY rule").fetchall()
    con.close()
    assert counts["orders"] + counts["orders__quarantine"] == 800
    assert counts["orders__quarantine"] >= 1
    assert dict(results)["matches_email"] == "failed"
    assert len(results) == 6
    assert "rules on orders: FAILED" in first.stdout
    second = run("demo", "--orders", "800", "--warehouse", str(db), "--quiet", "--full-refresh")
    assert second.returncode == 0, second.stderr
    con = duckdb.connect(str(db))
    again = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in counts}
    # Merged tables keep their counts; quarantine keeps each run's rows as history.
    assert again == {**counts, "orders__quarantine": 2 * counts["orders__quarantine"]}
    assert con.execute("SELECT count(*) FROM _tf_loads WHERE status = 'completed'").fetchone()[0] == 6
    con.close()


def test_errors_exit_non_zero_with_a_message(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "x"\nbase_url = "http://127.0.0.1:9"\nretry = { max_attempts = 1 }\n')
    out = run("run", str(spec), "--warehouse", str(tmp_path / "w.duckdb"), "--quiet")
    assert out.returncode == 5  # a source error (see the README's exit codes)
    assert "HttpError" in out.stderr and "connection failed" in out.stderr


def test_version_and_help():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("tillflow ")
    assert run().returncode == 2


def test_metrics_command_stores_the_dashboard_tables(tmp_path):
    db = tmp_path / "shop.duckdb"
    assert run("demo", "--orders", "300", "--warehouse", str(db), "--quiet").returncode == 0
    done = run("metrics", "--warehouse", str(db), "--tz", "Europe/Berlin")
    assert done.returncode == 0, done.stderr
    assert "wrote metrics_daily_summary" in done.stdout and "wrote metrics_rfm" in done.stdout
    con = duckdb.connect(str(db))
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert {"metrics_daily_summary", "metrics_revenue_trend", "metrics_product_performance",
            "metrics_customer_segments", "metrics_cohort_retention"} <= tables  # fmt: skip
    assert con.execute("SELECT sum(customer_count) FROM metrics_customer_segments").fetchone()[0] > 0
    assert con.execute("SELECT count(*) FROM metrics_revenue_trend").fetchone()[0] == 30
    con.close()
    only = run("metrics", "--warehouse", str(db), "--only", "rfm", "--no-write")
    assert only.returncode == 0 and only.stdout.startswith("computed rfm: ")
    bad = run("metrics", "--warehouse", str(db), "--only", "weekly_magic")
    assert bad.returncode == 2 and "weekly_magic" in bad.stderr  # a config error


def test_demo_rerun_with_edited_orders_fetches_only_those(tmp_path):
    db = tmp_path / "demo.duckdb"
    assert run("demo", "--orders", "500", "--warehouse", str(db), "--quiet").returncode == 0
    again = run("demo", "--orders", "500", "--warehouse", str(db), "--quiet", "--edit-orders", "5")
    assert again.returncode == 0, again.stderr
    assert "refunded 5 orders" in again.stdout
    con = duckdb.connect(str(db))
    counts = con.execute(
        "SELECT row_counts FROM _tf_loads WHERE resource = 'orders' ORDER BY started_at"
    ).fetchall()
    orders = con.execute("SELECT count(*) FROM orders").fetchone()[0]
    held = con.execute("SELECT count(*) FROM orders__quarantine").fetchone()[0]
    con.close()
    first, second = (json.loads(c[0]) for c in counts)
    fetched = second.get("orders", 0) + second.get("orders__quarantine", 0)
    assert fetched == 5  # the edited orders; those at the stored cursor are known by their keys
    assert orders + held >= 500 and first["orders"] > 400
