"""Alert channels from a config file, and the monitor commands of the CLI:
`tillflow health` and `--alerts`, against a Slack-style receiver and a real
SMTP server on loopback."""

from __future__ import annotations

import datetime as dt
import json
from email import message_from_bytes
from email.policy import default as default_policy

import pytest

import tillflow as tl
from support import run_cli as cli
from tillflow.monitor import Alert, EmailChannel, SlackChannel, WebhookChannel, alerter_from_config


def test_a_yaml_file_builds_every_channel_and_secrets_come_from_the_environment(
    tmp_path, monkeypatch, slack, smtp_plain
):
    box, port = smtp_plain
    monkeypatch.setenv("SHOP_SLACK_HOOK", slack.url)
    path = tmp_path / "alerts.yaml"
    path.write_text(
        f"""
dedup_window: 30m
retries: 1
channels:
  - type: slack
    webhook_url_env: SHOP_SLACK_HOOK
    min_severity: warning
  - type: email
    host: 127.0.0.1
    port: {port}
    sender: etl@shop.example
    to: owner@shop.example
    min_severity: critical
"""
    )
    alerter = alerter_from_config(path)
    assert [type(c) for c in alerter.channels] == [SlackChannel, EmailChannel]
    assert [c.min_severity.value for c in alerter.channels] == ["warning", "critical"]
    assert alerter.dedup_window == dt.timedelta(minutes=30)
    assert alerter.retries == 1
    assert "hook-token" not in path.read_text()

    warning = Alert("shop:anomaly:volume:orders", "volume drop", "orders fell to 100", severity="warning")
    critical = Alert("shop:run_failed", "run failed", "HTTP 401", severity="critical")
    assert [d.status for d in alerter.send(warning)] == ["sent", "skipped"]
    assert [d.status for d in alerter.send(critical)] == ["sent", "sent"]
    assert slack.titles() == ["volume drop", "run failed"]
    assert len(box.envelopes) == 1
    mail = message_from_bytes(box.envelopes[0].content, policy=default_policy)
    assert mail["To"] == "owner@shop.example"
    assert mail["Subject"] == "[tillflow] CRITICAL run failed"


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_toml_and_json_read_the_same(tmp_path, suffix):
    config = {"dedup_window": "2h", "channels": [{"type": "webhook", "url": "http://127.0.0.1:9/hook"}]}
    path = tmp_path / f"alerts{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(config))
    else:
        path.write_text(
            'dedup_window = "2h"\n[[channels]]\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
        )
    alerter = alerter_from_config(path)
    assert [type(c) for c in alerter.channels] == [WebhookChannel]
    assert alerter.dedup_window == dt.timedelta(hours=2)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"channels": []}, "channels: expected a list of at least one channel"),
        ({"chanels": [{"type": "slack"}]}, "unknown setting 'chanels'"),
        ({"channels": [{"type": "teams"}]},
         r"channels\[0\]: unknown type 'teams' \(known: slack, webhook, email, pagerduty\)"),
        ({"channels": [{"type": "email", "hots": "x"}]}, r"channels\[0\] \(email\): unknown setting 'hots'"),
        ({"channels": [{"type": "slack", "webhook_url_env": "NOT_SET_ANYWHERE"}]},
         r"channels\[0\] \(slack\): webhook_url_env: environment variable 'NOT_SET_ANYWHERE' is not set"),
        ({"channels": [{"url": "http://x"}]}, r"channels\[0\]: expected a mapping with a type"),
        ({"dedup_window": "soon", "channels": [{"type": "webhook", "url": "http://127.0.0.1:9/h"}]},
         "dedup_window: cannot read 'soon'"),
        ({"channels": [{"type": "slack", "webhook_url": "ftp://hooks"}]}, "SlackChannel"),
    ],
)  # fmt: skip
def test_bad_configs_name_what_is_wrong(config, message):
    with pytest.raises(tl.ConfigError, match=message):
        alerter_from_config(config)


def test_bad_files_name_the_file(tmp_path):
    bad = tmp_path / "alerts.yaml"
    bad.write_text("channels: [type: slack")
    with pytest.raises(tl.ConfigError, match=r"alerts file .*alerts.yaml.*not valid YAML"):
        alerter_from_config(bad)
    ini = tmp_path / "alerts.ini"
    ini.write_text("[channels]\n")
    with pytest.raises(tl.ConfigError, match=r"use a .yaml, .yml, .toml or .json file"):
        alerter_from_config(ini)
    with pytest.raises(tl.ConfigError, match=r"missing.yaml.: no such file"):
        alerter_from_config(tmp_path / "missing.yaml")


def test_cli_run_alerts_through_the_file_and_health_exits_by_status(tmp_path, shop, slack):
    spec = tmp_path / "shop.yaml"
    spec.write_text(
        f"""
name: shop
defaults:
  base_url: {shop.url}/admin/api/2024-01
  primary_key: id
  paginator: {{type: link_header}}
  auth: {{type: api_key, name: X-Shopify-Access-Token, value: "${{SHOP_TOKEN}}"}}
  retry: {{max_attempts: 1}}
resources:
  - name: products
    path: products.json
    records: products
"""
    )
    alerts = tmp_path / "alerts.yaml"
    alerts.write_text("channels:\n  - type: slack\n    webhook_url_env: SHOP_SLACK_HOOK\n")
    db = str(tmp_path / "w.duckdb")
    env = {"SHOP_SLACK_HOOK": slack.url}

    for _ in range(3):
        ok = cli("run", str(spec), "--warehouse", db, "--alerts", str(alerts), "--quiet",
                 env={**env, "SHOP_TOKEN": shop.token})  # fmt: skip
        assert ok.returncode == 0, ok.stderr
    healthy = cli("health", "--warehouse", db)
    assert (healthy.returncode, healthy.stdout.split(" — ")[0]) == (0, "shop: healthy")
    assert slack.received == []

    failed = cli("run", str(spec), "--warehouse", db, "--alerts", str(alerts), "--quiet",
                 env={**env, "SHOP_TOKEN": "wrong"})  # fmt: skip
    assert failed.returncode == 5 and "AuthError" in failed.stderr  # a source error
    assert slack.titles() == ["shop: run failed", "shop is degraded"]

    degraded = cli("health", "--warehouse", db, "--json")
    assert degraded.returncode == 1
    report = json.loads(degraded.stdout)
    assert (report["status"], report["runs"], report["success_rate"]) == ("degraded", 4, 0.75)
    lenient = cli("health", "--warehouse", db, "--min-success-rate", "0.5")
    assert lenient.returncode == 0


def test_cli_health_errors(tmp_path):
    missing = cli("health", "--warehouse", str(tmp_path / "nope.duckdb"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert not (tmp_path / "nope.duckdb").exists()
    with tl.warehouse.duckdb(str(tmp_path / "empty.duckdb")):
        pass
    empty = cli("health", "--warehouse", str(tmp_path / "empty.duckdb"))
    assert (empty.returncode, empty.stdout.strip()) == (0, f"no runs in {tmp_path / 'empty.duckdb'} yet")


def test_cli_bad_alerts_file_fails_before_loading(tmp_path):
    alerts = tmp_path / "alerts.yaml"
    alerts.write_text("channels:\n  - type: teams\n")
    db = tmp_path / "demo.duckdb"
    out = cli("demo", "--orders", "100", "--warehouse", str(db), "--alerts", str(alerts), "--quiet")
    assert out.returncode == 2
    assert f"alerts file {alerts}:2: channels[0]: unknown type 'teams'" in out.stderr
    assert not db.exists()  # checked before the warehouse is opened: no file, no run
