"""Airbyte declarative manifests, unmodified, against the demo estate's
WooCommerce API on loopback: every stream with exact counts (computed from
the API itself, page by page, with plain HTTP), two incremental runs, a
substream, transformations and a record filter; and a manifest component
outside the subset refused with its path."""

from __future__ import annotations

import base64
import copy
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

import tillflow as tl
from tillflow.demo import DemoEstate
from tillflow.exceptions import AuthError, ConfigError

MANIFESTS = Path(__file__).parent / "manifests"
WOO = MANIFESTS / "woocommerce.yaml"
START = "2015-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def estate() -> Iterator[DemoEstate]:
    e = DemoEstate(orders=150, customers=40)
    try:
        yield e
    finally:
        e.stop()


def woo_config(estate: DemoEstate, **extra: Any) -> dict[str, Any]:
    creds = estate.vendor("woocommerce").credentials
    return {"shop": "acme-store.example", "consumer_key": creds["consumer_key"],
            "consumer_secret": creds["consumer_secret"], "start_date": START, "backoff_seconds": 0.05,
            **extra}  # fmt: skip


def fetch(estate: DemoEstate, path: str) -> list[dict[str, Any]]:
    """Every record of a WooCommerce list, with plain HTTP: the reference."""
    creds = estate.vendor("woocommerce").credentials
    auth = base64.b64encode(f"{creds['consumer_key']}:{creds['consumer_secret']}".encode()).decode()
    out, page = [], 1
    while True:
        sep = "&" if "?" in path else "?"
        url = f"{estate.vendor('woocommerce').url}/wp-json/wc/v3{path}{sep}per_page=100&page={page}"
        req = urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"})
        with urllib.request.urlopen(req) as resp:
            records = json.loads(resp.read())
            pages = int(resp.headers.get("x-wp-totalpages") or 1)
        out.extend(records)
        if page >= pages:
            return out
        page += 1


def source(estate: DemoEstate, **kwargs: Any) -> tl.sources.Source:
    config = kwargs.pop("config", None) or woo_config(estate)
    return tl.sources.airbyte_manifest(
        WOO, config=config, base_url_override=estate.vendor("woocommerce").url, **kwargs
    )


def test_every_stream_loads_exactly(estate: DemoEstate, warehouse) -> None:
    orders = fetch(estate, "/orders")
    notes = sum(len(fetch(estate, f"/orders/{o['id']}/notes")) for o in orders)
    products = [p for p in fetch(estate, "/products") if p["status"] == "publish" and float(p["price"]) > 0]
    summary = tl.pipeline("woo", source(estate), warehouse).run()
    counts = summary.row_counts
    assert counts["orders"] == len(orders) == 150
    assert counts["orders__line_items"] == sum(len(o["line_items"]) for o in orders)
    assert counts["customers"] == 40
    assert counts["products"] == len(products)
    assert counts["order_notes"] == notes
    schema = warehouse.query("SELECT * FROM orders LIMIT 1").schema
    assert isinstance(schema["date_modified_gmt"], pl.Datetime)  # declared date-time in the inline schema
    assert schema["number"] == pl.String  # declared a string: "1001" stays text
    assert not warehouse.has_column("customers", "billing__phone")  # RemoveFields
    assert warehouse.has_column("customers", "billing__email")
    noted = set(warehouse.query("SELECT DISTINCT order_id FROM order_notes")["order_id"].to_list())
    assert noted == {o["id"] for o in orders}  # every order has at least its "created" note
    hashed = warehouse.query("SELECT note, note_hash FROM order_notes LIMIT 1").row(0)
    import hashlib

    assert hashed[1] == hashlib.md5(hashed[0].encode()).hexdigest()
    loads = warehouse.loads()
    assert set(loads.filter(pl.col("resource") == "order_notes")["write_mode"]) == {"merge"}


def test_two_incremental_runs_continue_from_the_cursor(estate: DemoEstate, warehouse) -> None:
    orders = fetch(estate, "/orders")
    stamps = sorted(o["date_modified_gmt"] for o in orders)
    middle = stamps[len(stamps) // 2]
    first_part = sum(1 for s in stamps if s <= middle)
    config = woo_config(estate, end_date=middle + "Z")
    first = tl.pipeline("woo", source(estate, config=config, streams=["orders"]), warehouse).run()
    assert first.row_counts["orders"] == first_part
    assert warehouse.get_state("woo", "orders") == {"date_modified_gmt": middle}
    second = tl.pipeline("woo", source(estate, streams=["orders"]), warehouse).run()
    assert second.row_counts["orders"] == len(orders) - first_part
    assert warehouse.query("SELECT count(*), count(DISTINCT id) FROM orders").row(0) == (150, 150)
    assert warehouse.get_state("woo", "orders") == {"date_modified_gmt": stamps[-1]}
    third = tl.pipeline("woo", source(estate, streams=["orders"]), warehouse).run()
    assert third.row_counts.get("orders", 0) == 0


def test_a_lookback_window_reads_the_overlap_again_and_merge_keeps_one_row(estate, warehouse) -> None:
    tl.pipeline("woo", source(estate, streams=["orders"]), warehouse).run()
    config = woo_config(estate, lookback_window="P36500D")
    again = tl.pipeline("woo", source(estate, config=config, streams=["orders"]), warehouse).run()
    assert again.row_counts["orders"] == 150
    assert warehouse.row_counts()["orders"] == 150


def test_wrong_credentials_fail_with_the_manifests_message(estate: DemoEstate, warehouse) -> None:
    config = woo_config(estate, consumer_secret="cs_wrong")
    with pytest.raises(AuthError, match="WooCommerce refused the consumer key or secret"):
        tl.pipeline("woo", source(estate, config=config, streams=["customers"]), warehouse).run()


def test_a_component_outside_the_subset_is_named_with_its_path(estate: DemoEstate) -> None:
    manifest = yaml.safe_load(WOO.read_text())
    broken = copy.deepcopy(manifest)
    broken["streams"][1]["retriever"] = {
        "type": "SimpleRetriever", "requester": {"$ref": "#/definitions/requester"},
        "record_selector": {"type": "RecordSelector", "extractor": {"type": "CustomRecordExtractor",
                                                                   "class_name": "source_x.Extractor"}},
    }  # fmt: skip
    with pytest.raises(ConfigError, match=r"streams\[1\]\.retriever\.record_selector\.extractor.*"
                                          r"\"CustomRecordExtractor\" is not supported"):  # fmt: skip
        tl.sources.airbyte_manifest(broken, config=woo_config(estate))
    broken = copy.deepcopy(manifest)
    broken["definitions"]["paginator"]["pagination_strategy"]["type"] = "StopConditionPaginationStrategy"
    with pytest.raises(ConfigError, match=r"pagination_strategy.*StopConditionPaginationStrategy"):
        tl.sources.airbyte_manifest(broken, config=woo_config(estate))


def test_unknown_streams_are_refused(estate: DemoEstate) -> None:
    with pytest.raises(ConfigError, match=r"no stream \['refunds'\]"):
        source(estate, streams=["refunds"])


def test_the_cli_runs_a_manifest(estate: DemoEstate, tmp_path: Path) -> None:
    from support import run_cli

    config = tmp_path / "config.json"
    config.write_text(json.dumps(woo_config(estate)))
    db = tmp_path / "wh.duckdb"
    result = run_cli(
        "run", str(WOO), "--config", str(config), "--streams", "customers", "products",
        "--base-url-override", estate.vendor("woocommerce").url, "--warehouse", str(db),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with tl.warehouse.duckdb(str(db), read_only=True) as wh:
        assert wh.row_counts()["customers"] == 40


def test_a_manifest_files_error_names_its_line(estate: DemoEstate, tmp_path: Path) -> None:
    text = WOO.read_text().replace("type: RemoveFields", "type: KeysToSnakeCase")
    bad = tmp_path / "manifest.yaml"
    bad.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.strip() == "- type: KeysToSnakeCase")
    with pytest.raises(ConfigError, match=rf"manifest.yaml:{line}: streams\[1\]\.transformations\[0\]: .*"
                                          r"\"KeysToSnakeCase\" is not supported"):  # fmt: skip
        tl.sources.airbyte_manifest(bad, config=woo_config(estate))


XERO = MANIFESTS / "xero.yaml"


def xero_config(estate: DemoEstate) -> dict[str, Any]:
    creds = estate.vendor("xero").credentials
    keys = ("client_id", "client_secret", "refresh_token")
    return {"tenant_id": creds["tenant_id"], "page_size": 25, "credentials": {k: creds[k] for k in keys}}


def test_oauth_refresh_tokens_rotate_and_the_new_one_is_kept(tmp_path: Path, warehouse) -> None:
    estate = DemoEstate(orders=80, customers=60)
    try:
        config_file = tmp_path / "xero.json"
        first_config = xero_config(estate)
        config_file.write_text(json.dumps(first_config))
        seen: list[dict[str, Any]] = []
        url = estate.vendor("xero").url
        src = tl.sources.airbyte_manifest(
            XERO, config=config_file, base_url_override=url, on_config_update=seen.append
        )
        summary = tl.pipeline("xero", src, warehouse).run()
        counts = estate.counts()
        assert summary.row_counts["contacts"] == counts["xero.contacts"] == 60
        assert summary.row_counts["invoices"] == counts["xero.invoices"]
        kept = json.loads(config_file.read_text())["credentials"]
        assert kept["refresh_token"] != first_config["credentials"]["refresh_token"]
        assert kept["access_token"] and kept["token_expiry_date"].endswith("Z")
        assert seen and seen[-1]["credentials"]["refresh_token"] == kept["refresh_token"]
        assert oct(config_file.stat().st_mode & 0o777) == "0o600"
        # The rotated token is the only one that works now: a new run reads it from the file.
        again = tl.sources.airbyte_manifest(XERO, config=config_file, base_url_override=url)
        assert tl.pipeline("xero", again, warehouse).run().row_counts["contacts"] == 60
        stale = tl.sources.airbyte_manifest(XERO, config=first_config, base_url_override=url)
        with pytest.raises(AuthError, match="token refresh was refused"):
            tl.pipeline("xero", stale, warehouse).run()
        assert estate.throttled("xero") == 0
    finally:
        estate.stop()
