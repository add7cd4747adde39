"""Every kind's rules-file entry, with every option it takes, read and written back unchanged:
in Python (Rule -> to_dict -> from_dict) and through YAML, TOML and JSON files."""

from __future__ import annotations

import pytest

import tillflow as tl
from tillflow import rules as r
from tillflow.rules._rule import _OPTIONS

_BOUNDS = {"min": 0, "max": 10, "min_inclusive": False, "max_inclusive": True}
_DAYS = {"weekdays": ["mon", "tue", "wed"], "holidays": ["2024-01-01"]}

# One entry per kind (two for aggregate_compare: against a column, and against another table),
# each with every option of its kind.
ENTRIES: list[dict] = [
    {"not_null": ["a", "b"]},
    {"unique": ["a", "b"], "count": "all", "nulls": "equal"},
    {"between": "a", **_BOUNDS},
    {"matches": "s", "pattern": "^x"},
    {"is_in": "s", "values": ["x", "y"]},
    {"relationships": "a", "to": "customers", "field": "id"},
    {"compare": ["a", "<=", "b"]},
    {"expression": "a >= b", "columns": ["a", "b"]},
    {"row_count": {"min": 1, "max": 10}},
    {"freshness": "d", "max_age": "2d"},
    {"schema": {"a": "int", "s": "string"}, "strict": True},
    {"is_null": "a"},
    {"not_in": "s", "values": ["z"]},
    {"is_finite": "f"},
    {"decimal_places": "f", "max": 2},
    {"not_matches": "s", "pattern": "\\s"},
    {"not_empty": "s"},
    {"trimmed": "s"},
    {"length_between": "s", "min": 1, "max": 5},
    {"starts_with": "s", "text": "x"},
    {"ends_with": "s", "text": "y"},
    {"contains": "s", "text": "@"},
    {"parses_as": "s", "type": "date", "format": "%Y-%m-%d"},
    {"is_email": "s"},
    {"is_url": "s", "schemes": ["https"]},
    {"is_uuid": "s", "version": 4},
    {"is_ipv4": "s"},
    {"is_ipv6": "s"},
    {"is_ip": "s"},
    {"is_ip_in_network": "s", "networks": ["10.0.0.0/8"]},
    {"is_e164": "s"},
    {"is_currency_code": "s"},
    {"is_country_code": "s", "alpha": 3},
    {"is_language_code": "s", "part": 1},
    {"is_iban": "s"},
    {"is_card_number": "s"},
    {"is_postal_code": "s", "country": "US"},
    {"is_json": "s"},
    {"matches_json_schema": "s", "schema": {"type": "object", "required": ["id"]}},
    {"not_in_future": "d", "slack": "1h"},
    {"not_older_than": "d", "max_age": "30d"},
    {"within": ["d", "e"], "min": "0s", "max": "3d"},
    {"sum_equals": "t", "columns": ["a", "b"], "within": 0.01},
    {"distinct_across": ["a", "b"]},
    {"complete": ["a", "b"]},
    {"any_present": ["a", "b"]},
    {"reconcile": "t", "to": "lines", "key": "id", "to_key": "order_id", "to_column": "price",
     "within": 0.01},
    {"increasing": "a", "strict": True},
    {"decreasing": "a", "strict": True},
    {"no_outliers": "f", "method": "zscore", "threshold": 2.5},
    {"no_sequence_gaps": "a", "step": 2},
    {"no_gaps": "d", "every": "1d", **_DAYS},
    {"is_daily": "d", **_DAYS},
    {"distinct_count": ["a", "b"], "min": 1, "max": 10},
    {"distinct_ratio": "a", "min": 0.5, "max": 1.0},
    {"contains_values": "s", "values": ["x", "y"]},
    *({f"{a}_between": "a", **_BOUNDS} for a in ("sum", "mean", "stddev", "min", "max", "median")),
    {"quantile_between": "a", "q": 0.9, **_BOUNDS},
    {"aggregate_compare": "a", "agg": "sum", "op": "<=", "other": "b", "other_agg": "max", "within": 0.5},
    {"aggregate_compare": "a", "agg": "mean", "op": "==", "to": "payments", "to_column": "amount",
     "other_agg": "median", "within": 0.01},
    {"row_count_matches": "raw_orders", "within": 0.05},
]  # fmt: skip
# Judged on the whole data: they take no tolerance.
_AGGREGATES = {f"{a}_between" for a in ("sum", "mean", "stddev", "min", "max", "median", "quantile")}
_WHOLE = {"row_count", "row_count_matches", "freshness", "schema", "distinct_count", "distinct_ratio",
          "contains_values", "no_sequence_gaps", "no_gaps", "is_daily", "aggregate_compare",
          *_AGGREGATES}  # fmt: skip
# Some of those that take by= (the others take it alike).
_GROUPED = {"row_count", "no_gaps", "is_daily", "distinct_count", "contains_values", "sum_between",
            "aggregate_compare"}  # fmt: skip


def _kind(entry: dict) -> str:
    return next(iter(entry))


def _full(i: int, entry: dict) -> dict:
    """The entry with the options every rule takes, where its kind takes them."""
    kind = _kind(entry)
    out = {**entry, "name": f"rule_{i}", "severity": "warn"}
    if kind not in ("schema", "freshness"):
        out["when"] = "a > 0"
    if kind not in _WHOLE:
        out["tolerance"] = "5%"
    if kind in _GROUPED:
        out["by"] = ["g", {"column": "d", "every": "1w"}]
    return out


FULL = [_full(i, e) for i, e in enumerate(ENTRIES)]


def test_the_entries_cover_every_kind_and_every_option():
    assert {_kind(e) for e in ENTRIES} == set(r.KINDS)
    for kind in r.KINDS:
        given = {k for e in ENTRIES if _kind(e) == kind for k in e if k != kind}
        assert given == set(_OPTIONS[kind]), kind


@pytest.mark.parametrize("entry", FULL, ids=[f"{i}-{_kind(e)}" for i, e in enumerate(FULL)])
def test_every_kind_round_trips_its_file_form_with_every_option(entry):
    kind = _kind(entry)
    rule = r.Rule(kind, entry[kind], {k: v for k, v in entry.items() if k != kind})
    written = rule.to_dict()
    assert written == entry
    assert list(written) == list(entry)  # the order of the keys too
    assert r.Rule.from_dict(written) == rule


@pytest.mark.parametrize("suffix", [".yaml", ".toml", ".json"])
def test_every_kind_round_trips_a_rules_file(tmp_path, suffix):
    rs = tl.RuleSet.from_dict({"key": ["a"], "rules": FULL})
    back = tl.RuleSet.from_file(rs.save(tmp_path / f"rules{suffix}"))
    assert back == rs
    assert back.to_dict() == rs.to_dict()


def test_options_named_like_kinds_read_as_options():
    total = r.Rule.from_dict({"sum_equals": "total", "columns": ["a", "b"], "within": 0.01})
    assert total == r.sum_equals("total", ["a", "b"], within=0.01)
    doc = r.Rule.from_dict({"matches_json_schema": "doc", "schema": {"type": "object"}})
    assert doc == r.matches_json_schema("doc", {"type": "object"})
    # The key order does not matter: the option may come first.
    assert r.Rule.from_dict({"within": 0.01, "sum_equals": "total", "columns": ["a", "b"]}) == total


@pytest.mark.parametrize(
    "entry",
    [
        {"not_null": "a", "unique": "a"},
        {"within": ["a", "b"], "schema": {"a": "int"}},
        {"sum_equals": "t", "columns": ["a"], "within": 0.1, "schema": {"a": "int"}},
    ],
)
def test_two_kinds_in_one_entry_are_still_refused(entry):
    with pytest.raises(tl.RuleError, match="several kinds"):
        r.Rule.from_dict(entry)
