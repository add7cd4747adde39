"""tillflow.toml read and checked whole: every mistake named with its file,
line and key, before anything runs."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

import tillflow as tl
from support import run_cli

HEAD = """\
[project]
name = "shop"

[warehouse]
url = "duckdb:wh.duckdb"

[sources.shop]
demo = true
"""


def project(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> Path:
    """A fresh project folder under ``tmp_path`` holding ``text`` as its tillflow.toml and ``files``."""
    root = tmp_path / f"p{len(list(tmp_path.iterdir()))}"
    root.mkdir()
    (root / "tillflow.toml").write_text(textwrap.dedent(text), encoding="utf-8")
    for name, body in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body), encoding="utf-8")
    return root


def error(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> str:
    with pytest.raises((tl.ConfigError, tl.RuleError)) as caught:
        tl.project.check(project(tmp_path, text, files))
    return str(caught.value)


def test_a_typo_is_named_with_its_line_and_the_key_meant(tmp_path):
    text = HEAD + 'resourcse = ["orders"]\n'
    message = error(tmp_path, text)
    assert re.search(
        r"tillflow\.toml:9: sources\.shop\.resourcse: unknown key; did you mean 'resources'\?", message
    )
    message = error(tmp_path, HEAD.replace("[warehouse]", "[warehous]"))
    assert "tillflow.toml:4: warehous: unknown key; did you mean 'warehouse'?" in message


def test_every_section_refuses_unknown_keys(tmp_path):
    for text, key in [
        (HEAD + "[metrics]\nenable = true\n", "metrics.enable"),
        (HEAD + '[schedules.n]\ncron = "0 2 * * *"\nselct = ["shop"]\n', "schedules.n.selct"),
        (HEAD + '[project]\nname = "x"\n'.replace("[project]", "[models.m]"), "models.m.name"),
        (HEAD.replace('name = "shop"', 'name = "shop"\nowner = "me"'), "project.owner"),
    ]:
        assert f"{key}: unknown key" in error(tmp_path, text), key


def test_a_source_needs_exactly_one_kind(tmp_path):
    message = error(tmp_path, HEAD + 'preset = "stripe"\n')
    assert (
        "tillflow.toml:7: sources.shop: give exactly one of demo, preset, spec, files, database, logs"
        in message
    )
    assert "(it has demo and preset)" in message
    message = error(tmp_path, HEAD.replace("demo = true", 'resources = ["orders"]'))
    assert "(it has none)" in message


def test_unset_variables_are_named_and_env_files_fill_them(tmp_path, monkeypatch):
    text = HEAD.replace("demo = true", 'preset = "stripe"\noptions = { api_key = "${STRIPE_KEY}" }')
    monkeypatch.delenv("STRIPE_KEY", raising=False)
    message = error(tmp_path, text)
    assert "tillflow.toml:9: sources.shop.options.api_key: ${STRIPE_KEY} is not set" in message
    root = project(tmp_path, text)
    (root / ".env").write_text("STRIPE_KEY=sk_test_from_dotenv_0123456789\n")
    config = tl.project.read(root)
    assert config.sources["shop"].options == {"api_key": "sk_test_from_dotenv_0123456789"}
    assert "sk_test_from_dotenv_0123456789" not in tl.redact("key sk_test_from_dotenv_0123456789")
    monkeypatch.setenv("STRIPE_KEY", "sk_test_from_environment_987654")  # the environment wins
    assert tl.project.read(root).sources["shop"].options["api_key"] == "sk_test_from_environment_987654"
    with_default = text.replace("${STRIPE_KEY}", "${NOT_SET_ANYWHERE:-fallback}")
    assert tl.project.read(project(tmp_path, with_default)).sources["shop"].options["api_key"] == "fallback"


def test_references_to_files_models_and_sources_are_checked(tmp_path):
    message = error(tmp_path, HEAD + 'rules = { orders = "rules/missing.yaml" }\n')
    assert "tillflow.toml:9: sources.shop.rules.orders: no such file 'rules/missing.yaml'" in message
    message = error(tmp_path, HEAD, {"models/a.sql": "select * from {{ ref('nope') }}\n"})
    assert re.search(r"models/a\.sql:1: ref\('nope'\): no model 'nope' \(models: a\)", message)
    body = "select 1 as x\nunion all\nselect * from {{ source('crm', 'deals') }}\n"
    message = error(tmp_path, HEAD, {"models/a.sql": body})
    assert re.search(r"models/a\.sql:3: source\('crm', \.\.\.\): no source 'crm' in tillflow\.toml", message)
    message = error(tmp_path, HEAD + "[models.ghost]\nmaterialized = 'table'\n")
    assert "models.ghost: no file models/ghost.sql" in message
    message = error(tmp_path, HEAD + '[schedules.n]\ncron = "0 2 * * *"\nselect = ["nobody"]\n')
    assert "schedules.n.select: no source or model 'nobody'" in message


def test_models_in_a_circle_and_bad_templates(tmp_path):
    files = {"models/a.sql": "select * from {{ ref('b') }}", "models/b.sql": "select * from {{ ref('a') }}"}
    assert re.search(r"read each other in a circle: (a -> b -> a|b -> a -> b)", error(tmp_path, HEAD, files))
    message = error(tmp_path, HEAD, {"models/c.sql": "select 1\n{% if x %}\n"})
    assert re.search(r"models/c\.sql:\d+: Unexpected end of template", message)
    message = error(tmp_path, HEAD, {"models/d.sql": "{{ config(materialised='table') }}\nselect 1\n"})
    assert "models/d.sql:1: config(materialised=...): unknown option" in message
    message = error(tmp_path, HEAD, {"models/e.sql": "{{ config(materialized='ephemeral') }}\nselect 1\n"})
    assert "materialized: must be one of view, table, incremental, got 'ephemeral'" in message


def test_values_of_the_wrong_type_and_bad_cron(tmp_path):
    message = error(tmp_path, HEAD + '[schedules.n]\ncron = "61 * * * *"\n')
    assert "tillflow.toml:10: schedules.n.cron: '61 * * * *' is not a cron expression" in message
    message = error(tmp_path, HEAD.replace("demo = true", "demo = 5"))
    assert "sources.shop.demo: expected true or a table of options, got 5" in message
    message = error(tmp_path, HEAD + "[metrics]\nonly = ['daily_summary', 'weekly_magic']\n")
    assert "metrics.only.1: unknown metric 'weekly_magic'" in message
    message = error(tmp_path, HEAD.replace('url = "duckdb:wh.duckdb"', "url = 5"))
    assert "tillflow.toml:5: warehouse.url: expected non-empty text, got 5" in message


def test_a_typo_in_a_rest_spec_or_a_rules_file_is_an_error_too(tmp_path):
    spec = HEAD.replace("demo = true", 'spec = "specs/api.yaml"')
    files = {
        "specs/api.yaml": "name: api\ndefaults:\n  base_url: http://127.0.0.1:9\n"
        "resources:\n  - name: x\n    pathh: /x\n"
    }
    message = error(tmp_path, spec, files)
    assert "specs/api.yaml:6" in message and "pathh" in message, message
    files = {"rules/o.yaml": "rules:\n  - not_nul: id\n"}
    message = error(tmp_path, HEAD + 'rules = { orders = "rules/o.yaml" }\n', files)
    assert "not_nul" in message


def test_validate_project_and_init_from_the_command_line(tmp_path):
    done = run_cli("init", str(tmp_path / "p"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "p" / "tillflow.toml").is_file() and (tmp_path / "p" / ".env.example").is_file()
    again = run_cli("init", str(tmp_path / "p"))
    assert again.returncode == 2 and "exists; choose an empty folder" in again.stderr
    ok = run_cli("validate-project", cwd=tmp_path / "p")
    assert ok.returncode == 0 and "ok (1 sources, 2 models, 1 schedules)" in ok.stdout, ok.stderr
    toml = tmp_path / "p" / "tillflow.toml"
    toml.write_text(toml.read_text().replace("[metrics]", "[metric]"))
    bad = run_cli("validate-project", str(tmp_path / "p"))
    assert bad.returncode == 2 and "metric: unknown key; did you mean 'metrics'?" in bad.stderr
    toml.write_text(toml.read_text().replace("[metric]", "[metrics]"))
    cron = run_cli("schedule", str(tmp_path / "p"))
    assert cron.returncode == 0 and re.search(
        r"^0 2 \* \* \* \S*tillflow run \S+/p --quiet", cron.stdout, re.M
    )


def test_the_documented_project_file_reads(tmp_path, monkeypatch):
    page = (Path(__file__).parents[2] / "docs" / "projects.md").read_text()
    start = page.index("```toml\n") + len("```toml\n")
    text = page[start : page.index("```", start)]
    root = project(tmp_path, text)
    for name in ("rules/orders.yaml", "rules/daily_revenue.yaml"):
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_text("rules:\n  - not_null: id\n")
    (root / "alerts.yaml").write_text("channels:\n  - type: webhook\n    url: http://127.0.0.1:9/hook\n")
    for name in ("SHOPIFY_STORE", "SHOPIFY_TOKEN", "APP_DB_URL"):
        monkeypatch.setenv(name, f"value-of-{name.lower()}")
    config = tl.project.read(root)
    assert list(config.sources) == ["shop", "app", "exports"]
    assert config.sources["app"].table_prefix == "app_"
    assert config.metrics.only == ["daily_summary", "customer_segments"]
    assert sorted(config.schedules) == ["hourly_orders", "nightly"] and config.alerts == root / "alerts.yaml"
