"""The `tillflow` command as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import duckdb


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tillflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


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
    assert out.returncode == 1
    assert "HttpError" in out.stderr and "connection failed" in out.stderr


def test_version_and_help():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("tillflow ")
    assert run().returncode == 2
