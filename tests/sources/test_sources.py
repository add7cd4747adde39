"""Declarative specs from dicts and files, and the errors bad ones get."""

from __future__ import annotations

import json

import pytest

import tillflow as tl

SPEC_TOML = """
name = "shop"

[defaults]
base_url = "{url}/admin/api/2024-01"
primary_key = "id"
paginator = {{ type = "link_header" }}
auth = {{ type = "api_key", name = "X-Shopify-Access-Token", value = "${{SHOP_TOKEN}}" }}

[[resources]]
name = "products"
path = "products.json"
records = "products"
params = {{ limit = 10 }}

[[resources]]
name = "customers"
path = "customers.json"
records = "customers"
write_mode = "append"
schema_contract = "freeze"
"""

SPEC_YAML = """
name: shop
defaults:
  base_url: {url}/admin/api/2024-01
  primary_key: id
  paginator: {{type: link_header}}
  auth: {{type: api_key, name: X-Shopify-Access-Token, value: "${{SHOP_TOKEN}}"}}
resources:
  - name: products
    path: products.json
    records: products
    params: {{limit: 10}}
  - name: customers
    path: customers.json
    records: customers
    write_mode: append
    schema_contract: freeze
"""


@pytest.mark.parametrize(("suffix", "text"), [(".toml", SPEC_TOML), (".yaml", SPEC_YAML)])
def test_spec_files_load_and_run(shop, warehouse, tmp_path, monkeypatch, suffix, text):
    monkeypatch.setenv("SHOP_TOKEN", shop.token)
    path = tmp_path / f"spec{suffix}"
    path.write_text(text.format(url=shop.url))
    src = tl.sources.rest(path)
    assert [r.name for r in src.resources] == ["products", "customers"]
    assert src["customers"].write_mode == "append"
    assert (src["customers"].schema_contract, src["products"].schema_contract) == ("freeze", None)
    assert shop.token not in repr(src["products"])
    tl.pipeline(src.name, src, warehouse).run()
    assert warehouse.row_counts() == {"customers": 200, "products": 24, "products__variants": 72}


def test_missing_env_var_is_named(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC_TOML.format(url="http://x"))
    with pytest.raises(tl.ConfigError, match=r"defaults.auth.value refers to \$\{SHOP_TOKEN\}"):
        tl.sources.rest(path)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"name": "x", "base_url": "http://h", "paginator": {"type": "offset"}}, "paginator"),
        ({"name": "x", "base_url": "http://h", "paginator": {"type": "sideways"}}, "paginator"),
        ({"name": "x", "base_url": "nope"}, "base_url"),
        ({"name": "x", "base_url": "http://h", "concurrency": 0}, "concurrency"),
        ({"name": "x", "base_url": "http://h", "retry": {"max_attempts": "many"}}, "retry.max_attempts"),
        (
            {"name": "x", "base_url": "http://h", "retry": {"initial_backoff_secs": -1}},
            "retry.initial_backoff_secs",
        ),
        ({"name": "x", "base_url": "http://h", "timeout_secs": float("inf")}, "timeout_secs"),
        ({"name": "x", "base_url": "http://h", "auth": {"type": "bearer"}}, "auth"),
        ({"name": "x", "base_url": "http://h", "colour": "red"}, "colour"),
        (
            {"name": "x", "base_url": "http://h", "normalize": {"numeric_strings": "roman"}},
            "normalize.numeric_strings",
        ),
        (
            {
                "name": "x",
                "base_url": "http://h",
                "windows": {"min_param": "a", "max_param": "b", "start": "yesterday"},
            },
            "windows.start",
        ),
    ],
)
def test_bad_specs_name_the_field(spec, field):
    with pytest.raises(tl.ConfigError) as info:
        tl.sources.rest(spec)["x"].open()
    assert field in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(tl.ConfigError, match="no such file"):
        tl.sources.rest(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(tl.ConfigError, match="bad.toml"):
        tl.sources.rest(bad)
    other = tmp_path / "spec.ini"
    other.write_text("x")
    with pytest.raises(tl.ConfigError, match="toml"):
        tl.sources.rest(other)


def test_source_selection_and_modes():
    src = tl.sources.shopify("myshop.myshopify.com", "tok")
    assert src["orders"].spec["base_url"] == "https://myshop.myshopify.com/admin/api/2024-01"
    assert "tok" not in repr(src)
    with pytest.raises(tl.ConfigError, match="unknown"):
        src.with_resources("refunds")
    with pytest.raises(tl.ConfigError, match="write_mode"):
        tl.sources.Resource({"name": "a"}, write_mode="upsert")
    with pytest.raises(tl.ConfigError, match=r"a.schema_contract: must be one of evolve, freeze"):
        tl.sources.Resource({"name": "a"}, schema_contract="melt")
    with pytest.raises(tl.ConfigError, match="duplicate"):
        tl.sources.Source("s", [tl.sources.Resource({"name": "a"}), tl.sources.Resource({"name": "a"})])


def test_stream_is_iterable_and_closable(shop):
    stream = shop.source(resources=["products"])["products"].open()
    batches = list(stream)
    # Only the last batch says so; with several workers it may hold no rows.
    assert [b["last"] for b in batches] == [False] * (len(batches) - 1) + [True]
    assert sum(b["tables"]["products"].height for b in batches if b["tables"]) == 24
    stream.close()
    assert list(stream) == []


def test_normalize_in_memory_records():
    tables = tl.normalize(
        [{"id": 1, "tags": ["a"], "price": "1.50"}, {"id": 2, "tags": [], "price": None}],
        "t",
        primary_key="id",
    )
    assert list(tables) == ["t", "t__tags"]
    assert tables["t"]["price"].dtype.is_decimal()
    with pytest.raises(tl.SchemaError, match="primary key"):
        tl.normalize([{"x": 1}], "t", primary_key="id")
    with pytest.raises(tl.ConfigError, match="JSON array"):
        tl.normalize(json.dumps({"x": 1}), "t")
