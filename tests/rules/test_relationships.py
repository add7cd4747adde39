"""relationships: keys that must be found in another table."""

from __future__ import annotations

import polars as pl

from support.rules import I64_MAX, I64_MIN, check, failing
from tillflow import rules as r

# ---------------------------------------------------------------------------------------- relationships


def test_relationships_against_a_frame():
    customers = pl.DataFrame({"id": [1, 2, 3, None]})
    orders = pl.DataFrame({"customer_id": [1, 2, 3, None, 99, 99, 0]})
    res = check(r.relationships("customer_id", to=customers, field="id"), orders)
    assert (res.kind, res.columns, res.failing) == ("relationships", ("customer_id",), 3)  # 99, 99, 0


def test_relationships_unicode_keys():
    parents = pl.DataFrame({"name": ["Zoë", "東京", "🍕"]})
    df = pl.DataFrame({"who": ["Zoë", "東京", "zoë", "🍕", None, "Zoe\u0308"]})
    assert failing(r.relationships("who", to=parents, field="name"), df) == 2  # "zoë", decomposed "Zoë"


def test_relationships_extreme_ints():
    parents = pl.DataFrame({"id": [I64_MAX, I64_MIN]})
    df = pl.DataFrame({"ref": [I64_MAX, I64_MIN, I64_MAX - 1, I64_MIN + 1]})
    assert failing(r.relationships("ref", to=parents, field="id"), df) == 2
