"""``tillflow contract convert`` and ``tillflow validate --rules CONTRACT``: the
contracts from the shell, as a user runs them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import tillflow as tl
from support import run_cli

SCHEMA = textwrap.dedent(
    """\
    version: 2
    models:
      - name: orders
        columns:
          - name: id
            data_tests: [not_null, unique]
          - name: status
            data_tests:
              - accepted_values:
                  arguments:
                    values: [paid, refunded]
      - name: customers
        columns:
          - name: email
            data_tests: [not_null]
    """
)
ORDERS = "id,status\n1,paid\n2,lost\n2,paid\n,refunded\n"


def write(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "schema.yml").write_text(SCHEMA)
    (root / "orders.csv").write_text(ORDERS)
    return root / "schema.yml"


def test_a_dbt_contract_becomes_one_rules_file_per_table(tmp_path):
    schema = write(tmp_path)
    done = run_cli("contract", "convert", str(schema), str(tmp_path / "rules"), "--to", "tillflow")
    assert done.returncode == 0, done.stderr
    assert "4 rules of 2 table(s)" in done.stdout
    expected = tl.rules.contracts.read(schema)
    for table in ("orders", "customers"):
        assert tl.RuleSet.from_file(tmp_path / "rules" / f"{table}.yaml").rules == expected[table].rules


def test_one_table_of_a_contract_converts_to_another_format(tmp_path):
    schema = write(tmp_path)
    out = tmp_path / "orders.json"
    done = run_cli("contract", "convert", str(schema), str(out), "--to", "gx", "--table", "customers")
    assert done.returncode == 0, done.stderr
    suite = json.loads(out.read_text())
    assert [e["type"] for e in suite["expectations"]] == ["expect_column_values_to_not_be_null"]
    back = tl.rules.contracts.read(out, table="customers")
    assert back["customers"].rules == tl.rules.contracts.read(schema)["customers"].rules


def test_a_tillflow_rules_file_becomes_a_contract_for_the_table_named(tmp_path):
    rules = tmp_path / "orders.yaml"
    rules.write_text("rules:\n  - not_null: id\n  - unique: id\n")
    out = tmp_path / "checks.yml"
    done = run_cli("contract", "convert", str(rules), str(out), "--to", "soda", "--table", "orders")
    assert done.returncode == 0, done.stderr
    # The same checks in the engine's form (Soda's reader spells out unique's default count).
    assert tl.rules.contracts.read(out)["orders"].checks() == tl.RuleSet.from_file(rules).checks()
    missing = run_cli("contract", "convert", str(rules), str(out), "--to", "soda")
    assert missing.returncode != 0 and "name the table" in missing.stderr


def test_what_a_format_cannot_say_stops_the_conversion_naming_it(tmp_path):
    rules = tmp_path / "orders.yaml"
    rules.write_text("rules:\n  - is_iban: account\n")
    done = run_cli("contract", "convert", str(rules), str(tmp_path / "x.yml"), "--to", "dbt", "--table", "t")
    assert done.returncode != 0
    assert "is_iban" in done.stderr
    assert not (tmp_path / "x.yml").exists()


def test_validate_reads_a_contract_and_names_the_table(tmp_path):
    schema = write(tmp_path)
    data = str(tmp_path / "orders.csv")
    done = run_cli("validate", data, "--rules", str(schema), "--table", "orders", "--quiet")
    assert done.returncode == 1, done.stderr
    # id: one null, 2 repeats (one repeated key); status: "lost" is not accepted
    for name, failing in (
        ("not_null_id", "1 failing"),
        ("unique_id", "1 failing"),
        ("is_in_status", "1 failing"),
    ):
        assert any(name in line and failing in line for line in done.stdout.splitlines()), done.stdout
    several = run_cli("validate", data, "--rules", str(schema), "--quiet")
    assert several.returncode != 0 and "several tables (orders, customers)" in several.stderr
