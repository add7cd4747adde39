"""Rule sets as YAML, TOML and JSON files: they load, validate like Python-built ones and round-trip."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
import tomllib
import yaml
from polars.testing import assert_frame_equal

import tillflow as tl
from tillflow import rules as r

NOW = dt.datetime(2024, 3, 10, 12, 0, tzinfo=dt.timezone.utc)

# The rule set of the API contract, verbatim.
SEED_YAML = r"""
key: [id]
sample_size: 10
rules:
  - not_null: [id, customer_email, total_price]
    tolerance: 0.01
  - unique: id
  - between: total_price
    min: 0
    max: 10000
  - matches: customer_email
    pattern: '^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$'
  - is_in: financial_status
    values: [paid, pending]
  - relationships: customer_id
    to: customers.id
  - row_count: {min: 1}
  - freshness: created_at
    max_age: 2d
  - schema: {id: int, total_price: decimal}
    strict: false
  - expression: total_price >= subtotal_price
    name: total_ge_subtotal
  - compare: [subtotal_price, "<=", total_price]
    severity: warn
"""
SEED = yaml.safe_load(SEED_YAML)

RULES_YAML = r"""
key: [id]
sample_size: 2
rules:
  - not_null: [id, email]
  - unique: id
  - between: price
    min: 0
    max: 100
    max_inclusive: false
  - matches: email
    pattern: '^[^@\s]+@[^@\s]+$'
  - is_in: status
    values: [paid, pending]
    severity: warn
  - row_count: {min: 1, max: 10}
  - freshness: at
    max_age: 1d
  - schema: {id: int, price: float}
    strict: false
  - expression: price >= 0
    name: price_non_negative
  - compare: [price, "<=", limit]
    tolerance: 1
"""

RULES_TOML = r"""
key = ["id"]
sample_size = 2

[[rules]]
not_null = ["id", "email"]

[[rules]]
unique = "id"

[[rules]]
between = "price"
min = 0
max = 100
max_inclusive = false

[[rules]]
matches = "email"
pattern = '^[^@\s]+@[^@\s]+$'

[[rules]]
is_in = "status"
values = ["paid", "pending"]
severity = "warn"

[[rules]]
row_count = { min = 1, max = 10 }

[[rules]]
freshness = "at"
max_age = "1d"

[[rules]]
schema = { id = "int", price = "float" }
strict = false

[[rules]]
expression = "price >= 0"
name = "price_non_negative"

[[rules]]
compare = ["price", "<=", "limit"]
tolerance = 1
"""

FRAME = pl.DataFrame(
    {
        "id": [1, 2, 2, 3, None],
        "email": ["a@b.io", "nope", None, "c@d.io", "e@f.io"],
        "price": [0.0, 100.0, 50.0, -5.0, 99.5],
        "limit": [1.0, 90.0, 60.0, 0.0, 80.0],
        "status": ["paid", "void", "pending", "paid", None],
        "at": [dt.datetime(2024, 3, d) for d in (10, 9, 8, 7, 6)],
    }
)
# One entry per check, in file order (not_null expands into two).
EXPECTED_FAILING = [
    1,  # not_null id: the null
    1,  # not_null email: the null
    1,  # unique id: the second 2
    2,  # between price [0, 100): 100.0 and -5.0
    1,  # matches email: "nope"
    1,  # is_in status (warn): "void"
    None,  # row_count: 5 rows in [1, 10]
    None,  # freshness: latest 03-10 00:00 is 12 h old
    None,  # schema: id int, price float
    1,  # price_non_negative: -5.0
    2,  # compare price <= limit: (100, 90) and (99.5, 80); tolerance 1 is exceeded
]
EXPECTED_PASSED = [False, False, False, False, False, False, True, True, True, False, False]


def test_the_yaml_and_toml_fixtures_say_the_same():
    assert yaml.safe_load(RULES_YAML) == tomllib.loads(RULES_TOML)


@pytest.mark.parametrize(
    ("suffix", "text"),
    [
        (".yaml", RULES_YAML),
        (".yml", RULES_YAML),
        (".toml", RULES_TOML),
        (".json", json.dumps(yaml.safe_load(RULES_YAML))),
    ],
)
def test_rule_file_loads_and_validates(tmp_path, suffix, text):
    path = tmp_path / f"rules{suffix}"
    path.write_text(text, encoding="utf-8")
    rs = tl.RuleSet.from_file(path)
    assert rs.to_dict() == yaml.safe_load(RULES_YAML)
    report = rs.validate(FRAME, now=NOW)
    assert report.rows == 5
    assert [c.failing for c in report.results] == EXPECTED_FAILING
    assert [c.passed for c in report.results] == EXPECTED_PASSED
    assert [c.severity for c in report.results].count("warn") == 1
    assert report.passed is False
    assert report["between_price"].sample.select("id", "price").rows() == [(2, 100.0), (3, -5.0)]


def test_file_rules_match_python_rules(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_YAML, encoding="utf-8")
    in_python = tl.RuleSet(
        [
            r.not_null("id", "email"),
            r.unique("id"),
            r.between("price", min=0, max=100, max_inclusive=False),
            r.matches("email", r"^[^@\s]+@[^@\s]+$"),
            r.is_in("status", ["paid", "pending"], severity="warn"),
            r.row_count(min=1, max=10),
            r.freshness("at", max_age="1d"),
            r.schema({"id": "int", "price": "float"}, strict=False),
            r.expression("price >= 0", name="price_non_negative"),
            r.compare("price", "<=", "limit", tolerance=1),
        ],
        key=["id"],
        sample_size=2,
    )
    assert_frame_equal(
        tl.RuleSet.from_file(path).validate(FRAME, now=NOW).to_polars(),
        in_python.validate(FRAME, now=NOW).to_polars(),
    )


def test_seed_round_trips_through_from_dict():
    assert tl.RuleSet.from_dict(SEED).to_dict() == SEED


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".toml", ".json"])
def test_save_then_from_file_is_equal(tmp_path, suffix):
    path = tmp_path / f"saved{suffix}"
    tl.RuleSet.from_dict(SEED).save(path)
    assert tl.RuleSet.from_file(path).to_dict() == SEED


def test_to_yaml_and_to_toml_parse_back_to_the_dict():
    rs = tl.RuleSet.from_dict(SEED)
    assert yaml.safe_load(rs.to_yaml()) == SEED
    assert tomllib.loads(rs.to_toml()) == SEED


def test_python_rules_round_trip():
    rs = tl.RuleSet(
        [
            r.not_null("id", "email", tolerance="1%"),
            r.unique("order_id", "line_no", name="line_key", severity="warn"),
            r.between("day", min="2024-01-01", max="2024-12-31", min_inclusive=False),
            r.compare("a", "!=", "b", tolerance=3),
            r.freshness("at", max_age=dt.timedelta(hours=36)),
        ],
        key=["id"],
        sample_size=5,
    )
    d = rs.to_dict()
    assert tl.RuleSet.from_dict(d).to_dict() == d
    assert yaml.safe_load(tl.RuleSet.from_dict(d).to_yaml()) == d


def test_unicode_survives_a_file(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - is_in: city\n    values: [東京, Zoë, 🍕]\n    name: städte\n", encoding="utf-8"
    )
    df = pl.DataFrame({"city": ["東京", "Zoë", "🍕", "Paris", None]})
    report = tl.RuleSet.from_file(path).validate(df)
    assert (report["städte"].failing, report["städte"].passed) == (1, False)
    saved = tmp_path / "saved.toml"
    tl.RuleSet.from_file(path).save(saved)
    assert tl.RuleSet.from_file(saved).to_dict() == tl.RuleSet.from_file(path).to_dict()


@pytest.mark.parametrize(
    "d",
    [
        {"rules": [{"nonsense": "id", "name": "bad_rule"}]},
        {"rules": [{"compare": ["a", "=>", "b"], "name": "bad_rule"}]},
        {"rules": [{"matches": "a", "pattern": "[a-", "name": "bad_rule"}]},
        {"rules": [{"not_null": "a", "tolerance": 1.5, "name": "bad_rule"}]},
    ],
    ids=["unknown-kind", "unknown-op", "bad-regex", "tolerance"],
)
def test_bad_rule_dict_raises_rule_error(d):
    with pytest.raises(tl.RuleError, match="bad_rule"):
        tl.RuleSet.from_dict(d).validate(pl.DataFrame({"a": ["x"], "b": ["y"]}))
