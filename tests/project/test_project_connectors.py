"""The connectors others wrote, as project sources: an Airbyte manifest
(``airbyte = "connectors/woocommerce.yaml"``) against the demo estate, and
a Singer tap (``singer = "taps/tap-fake"``) in the project's folder, each
feeding a model."""

from __future__ import annotations

import json
import shutil
import stat
import sys
from pathlib import Path

import tillflow as tl
from tillflow.demo import DemoEstate

TESTS = Path(__file__).parents[1]


def project(root: Path, sources: str, model: str) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "models" / "summary.sql").write_text(model)
    (root / "tillflow.toml").write_text(
        '[project]\nname = "shop"\n[warehouse]\nurl = "duckdb:wh.duckdb"\n' + sources
    )
    return root


def test_an_airbyte_manifest_is_a_project_source(tmp_path: Path) -> None:
    estate = DemoEstate(orders=60, customers=20)
    try:
        (tmp_path / "connectors").mkdir()
        shutil.copy(TESTS / "sources" / "manifests" / "woocommerce.yaml", tmp_path / "connectors")
        creds = estate.vendor("woocommerce").credentials
        config = {"shop": "acme.example", "start_date": "2015-01-01T00:00:00Z", **creds}
        (tmp_path / "woo.json").write_text(json.dumps(config))
        root = project(
            tmp_path,
            f'[sources.woo]\nairbyte = "connectors/woocommerce.yaml"\nresources = ["orders", "customers"]\n'
            f'table_prefix = "woo_"\n[sources.woo.options]\nconfig = "woo.json"\n'
            f'base_url_override = "{estate.vendor("woocommerce").url}"\n',
            "select count(*) as orders, (select count(*) from {{ source('woo', 'customers') }}) as customers "
            "from {{ source('woo', 'orders') }}\n",
        )
        result = tl.project.run(root, select=["summary"])
        assert result.status == "ok", result
        with tl.warehouse.duckdb(str(root / "wh.duckdb"), read_only=True) as wh:
            assert wh.query("select orders, customers from summary").row(0) == (60, 20)
            assert "woo_products" not in wh.tables()
    finally:
        estate.stop()


def test_a_singer_tap_is_a_project_source(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "taps").mkdir()
    tap = tmp_path / "taps" / "tap-fake"
    tap.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{TESTS / "support" / "fake_tap.py"}" "$@"\n')
    tap.chmod(tap.stat().st_mode | stat.S_IXUSR)
    monkeypatch.delenv("FAKE_TAP_MODE", raising=False)
    monkeypatch.delenv("FAKE_TAP_LOG", raising=False)
    root = project(
        tmp_path,
        '[sources.app]\nsinger = "taps/tap-fake"\nresources = ["orders"]\ntable_prefix = "app_"\n'
        "[sources.app.options]\nconfig = { orders = 7 }\n",
        "select count(*) as n from {{ source('app', 'orders') }}\n",
    )
    result = tl.project.run(root, select=["summary"])
    assert result.status == "ok", result
    with tl.warehouse.duckdb(str(root / "wh.duckdb"), read_only=True) as wh:
        assert wh.query("select n from summary").item() == 7
        assert "app_events" not in wh.tables() and "app_orders__lines" in wh.tables()
