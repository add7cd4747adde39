"""Specs, rules files and alert files are checked whole when they are read,
and an error names the user's file, line and key (never a position in
tillflow's own JSON copy of the spec)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tillflow as tl
from tillflow._core.documents import open_document, path_keys
from tillflow.exceptions import ConfigError, RuleError

TOML = """\
name = "shop"

[defaults]
base_url = "https://api.example.com/v1"
auth = { type = "bearer", token = "${SHOP_TOKEN}" }

[[resources]]
name = "orders"
path = "orders"

[[resources]]
name = "customers"
path = "customers"
paginator = { type = "cursor", param = "after", cursor_path = "next", has_more = "more" }
"""

YAML = """\
name: shop
defaults:
  base_url: https://api.example.com/v1
resources:
  - name: orders
    path: orders
  - name: customers
    path: customers
    retry:
      max_attempts: "five"
"""


def error_of(spec: object) -> str:
    with pytest.raises(ConfigError) as caught:
        tl.sources.rest(spec)  # type: ignore[arg-type]
    return str(caught.value)


def test_a_typo_in_a_toml_spec_names_the_file_line_and_key(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_TOKEN", "tok_very_secret_value")
    spec = tmp_path / "orders.toml"
    spec.write_text(TOML)
    message = error_of(spec)
    assert message.startswith(f"invalid config: {spec}:14: resources[1].paginator")
    assert "has_more" in message and "line 1 column" not in message and " column " not in message


def test_a_typo_in_defaults_points_at_defaults(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "x"\n\n[defaults]\nbase_url = "https://e.com"\nprimary_keyy = "id"\n\n'
                    '[[resources]]\nname = "a"\n')  # fmt: skip
    message = error_of(spec)
    assert message.startswith(
        f"invalid config: {spec}:5: defaults.primary_keyy: unknown field `primary_keyy`"
    )


def test_a_wrong_type_in_yaml_names_its_line(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(YAML)
    message = error_of(spec)
    assert message.startswith(f"invalid config: {spec}:10: resources[1].retry.max_attempts: invalid type")


def test_json_specs_and_unknown_top_level_keys(tmp_path):
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"name": "x", "resources": [{"name": "a", "base_url": "https://e.com"}],
                                "defalts": {}}, indent=2))  # fmt: skip
    message = error_of(spec)
    expected = "defalts: unknown top-level key; expected one of name, defaults, resources"
    assert message == f"invalid config: {spec}:9: {expected}"
    spec.write_text(json.dumps({"name": "x", "base_url": "https://e.com", "concurrency": 0}, indent=2))
    assert error_of(spec) == f"invalid config: {spec}:4: concurrency: must be between 1 and 1000"


def test_a_secret_from_the_environment_never_shows_in_the_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_URL", "not a url with a password hunter2hunter2")
    spec = tmp_path / "s.toml"
    spec.write_text('name = "x"\nbase_url = "${SHOP_URL}"\n')
    message = error_of(spec)
    assert message.startswith(f"invalid config: {spec}:2: base_url")
    assert "hunter2" not in message


def test_dict_specs_and_presets_are_checked_when_built():
    message = error_of({"name": "x", "base_url": "https://e.com", "paginator": {"type": "sideways"}})
    assert message.startswith("invalid config: spec: paginator")
    with pytest.raises(ConfigError, match=r"windows\.count: must be between 1 and 10000"):
        tl.sources.shopify("shop.example", "tok", start="2024-01-01T00:00:00Z", windows=0)
    with pytest.raises(ConfigError, match="concurrency: must be between 1 and 1000"):
        tl.sources.shopify("shop.example", "tok", concurrency=0)


def test_rules_files_name_the_line_of_the_bad_rule(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("key: id\nrules:\n  - not_null: id\n  - between: total\n    min: 0\n    maxx: 10\n")
    with pytest.raises(RuleError) as caught:
        tl.RuleSet.from_file(rules)
    assert str(caught.value).startswith(
        f"rules file {rules}:6: rules[1]: rule between: maxx: unknown option for between"
    )
    toml = tmp_path / "rules.toml"
    toml.write_text('[[rules]]\nnot_null = "id"\n\n[[rules]]\nmatches = "email"\npattern = "[a-"\n')
    with pytest.raises(RuleError, match=rf"rules file {toml}:6: rules\[1\]: rule matches_email: pattern"):
        tl.RuleSet.from_file(toml)


def test_alert_files_name_the_line_of_the_bad_setting(tmp_path):
    alerts = tmp_path / "alerts.toml"
    alerts.write_text('dedup_window = "1h"\n\n[[channels]]\ntype = "slack"\nwebhook_url = "https://h"\n\n'
                      '[[channels]]\ntype = "email"\nhostt = "smtp.example.com"\n')  # fmt: skip
    with pytest.raises(
        ConfigError, match=rf"alerts file {alerts}:9: channels\[1\] \(email\): unknown setting 'hostt'"
    ):
        tl.monitor.alerter_from_config(alerts)


@pytest.mark.parametrize(
    ("text", "keys", "line"),
    [
        ('a = 1\n[t]\n"dotted.key".x = 2\n', ["t", "dotted.key", "x"], 3),
        ("[[r]]\nn = 1\n[[r]]\nn = 2\n[r.sub]\nk = 3\n", ["r", 1, "sub", "k"], 6),
        ('s = """\nk = 1\n"""\nk = 2\n', ["k"], 4),
        ("arr = [\n  1,\n  { z = 2 },\n]\nnext = 1\n", ["next"], 5),
        ("e = 'ünïcode ✓'\n'weird key' = 1\n", ["weird key"], 2),
    ],
)
def test_toml_keys_are_found_where_they_are_written(tmp_path, text, keys, line):
    path = tmp_path / "x.toml"
    path.write_text(text, encoding="utf-8")
    assert open_document(path).find(keys) == (len(keys), line)


def test_path_keys():
    assert path_keys("resources[1].paginator.type") == ["resources", 1, "paginator", "type"]
    assert path_keys("") == []


def test_a_missing_key_is_located_at_its_parent(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("a:\n  b: 1\n")
    document = open_document(path)
    assert document.find(["a", "zz"]) == (1, 1)
    assert document.where(["nothing"]) == str(path)
    assert Path(document.where(["a", "b"])) == Path(f"{path}:2")
