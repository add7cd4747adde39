"""Rules that cannot run: unknown columns, mismatched types and bad settings raise RuleError
naming the rule."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import tillflow as tl
from support.rules import NOW
from tillflow import rules as r

# ----------------------------------------------------------------------------------------- bad configs

CONFIG = pl.DataFrame(
    {
        "qty": [1, 2],
        "email": ["a@b.io", "x"],
        "price": [1.5, 2.0],
        "day": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)],
        "at": [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)],
    }
)
CODES = pl.DataFrame({"code": ["1", "2"]})


@pytest.mark.parametrize(
    "make",
    [
        lambda: r.not_null("nope", name="bad_rule"),
        lambda: r.unique("nope", name="bad_rule"),
        lambda: r.unique("qty", "nope", name="bad_rule"),
        lambda: r.between("nope", min=0, max=1, name="bad_rule"),
        lambda: r.matches("nope", "x", name="bad_rule"),
        lambda: r.is_in("nope", ["a"], name="bad_rule"),
        lambda: r.relationships("nope", to=CODES, field="code", name="bad_rule"),
        lambda: r.relationships("email", to=CODES, field="nope", name="bad_rule"),
        lambda: r.freshness("nope", max_age="1d", name="bad_rule"),
        lambda: r.compare("qty", "<", "nope", name="bad_rule"),
        lambda: r.expression("nope > 1", name="bad_rule"),
        lambda: r.expression(pl.col("nope") > 1, name="bad_rule"),
    ],
)
def test_unknown_column_raises_rule_error(make):
    with pytest.raises(tl.RuleError) as exc:
        tl.RuleSet([make()]).validate(CONFIG, now=NOW)
    assert "bad_rule" in str(exc.value)
    assert "nope" in str(exc.value)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: r.between("email", min=0, max=1, name="bad_rule"), id="between-string"),
        pytest.param(lambda: r.is_in("qty", ["1", "2"], name="bad_rule"), id="is_in-str-values-on-int"),
        pytest.param(lambda: r.is_in("email", [1, 2], name="bad_rule"), id="is_in-int-values-on-str"),
        pytest.param(lambda: r.is_in("qty", [1, "2"], name="bad_rule"), id="is_in-mixed-values"),
        pytest.param(lambda: r.matches("qty", "1", name="bad_rule"), id="matches-int"),
        pytest.param(lambda: r.compare("qty", "<", "email", name="bad_rule"), id="compare-int-string"),
        pytest.param(
            lambda: r.relationships("qty", to=CODES, field="code", name="bad_rule"),
            id="relationships-int-string",
        ),
        pytest.param(lambda: r.freshness("email", max_age="1d", name="bad_rule"), id="freshness-string"),
        pytest.param(
            lambda: r.between("day", min="yesterday", max="2024-12-31", name="bad_rule"),
            id="between-bad-date",
        ),
    ],
)
def test_type_mismatch_raises_rule_error(make):
    """The message names the rule; the contract's "field" is the config field, not the data column."""
    with pytest.raises(tl.RuleError, match="bad_rule"):
        tl.RuleSet([make()]).validate(CONFIG, now=NOW)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: r.matches("email", "(", name="bad_rule"), id="regex-open-paren"),
        pytest.param(lambda: r.matches("email", "[a-", name="bad_rule"), id="regex-open-class"),
        pytest.param(lambda: r.matches("email", "a{2,1}", name="bad_rule"), id="regex-bad-range"),
        pytest.param(lambda: r.matches("email", "(?<=a)b", name="bad_rule"), id="regex-lookbehind"),
        pytest.param(lambda: r.compare("qty", "=>", "price", name="bad_rule"), id="op-=>"),
        pytest.param(lambda: r.compare("qty", "<>", "price", name="bad_rule"), id="op-<>"),
        pytest.param(lambda: r.compare("qty", "=", "price", name="bad_rule"), id="op-="),
        pytest.param(lambda: r.compare("qty", "lt", "price", name="bad_rule"), id="op-lt"),
        pytest.param(lambda: r.not_null("qty", tolerance=1.0, name="bad_rule"), id="tolerance-1.0"),
        pytest.param(lambda: r.not_null("qty", tolerance=1.5, name="bad_rule"), id="tolerance-1.5"),
        pytest.param(lambda: r.unique("qty", tolerance=2.0, name="bad_rule"), id="tolerance-2.0"),
        pytest.param(lambda: r.unique("qty", tolerance="lots", name="bad_rule"), id="tolerance-text"),
        pytest.param(lambda: r.not_null("qty", severity="fatal", name="bad_rule"), id="severity"),
        pytest.param(lambda: r.freshness("at", max_age="2x", name="bad_rule"), id="max-age-unit"),
        pytest.param(lambda: r.schema({"qty": "banana"}, name="bad_rule"), id="schema-type"),
        pytest.param(lambda: r.expression("qty >>> 0", name="bad_rule"), id="sql-syntax"),
        pytest.param(lambda: r.expression(pl.col("qty") + 1, name="bad_rule"), id="expr-not-boolean"),
    ],
)
def test_bad_config_raises_rule_error(make):
    with pytest.raises(tl.RuleError, match="bad_rule"):
        tl.RuleSet([make()]).validate(CONFIG, now=NOW)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: r.not_null("a", severity="fatal", name="c"), "rule c: severity: unknown variant `fatal`"),
        (lambda: r.compare("a", "=>", "b", name="c"), "rule c: op: unknown variant `=>`"),
        (lambda: r.matches("a", "(", name="c"), "rule c: pattern: invalid regex"),
        (lambda: r.between("a", name="c"), "rule c: min: give min, max or both"),
        (lambda: r.row_count(min=5, max=1, name="c"), "rule c: min: min 5 is above max 1"),
        (lambda: r.between("a", min=300, max=-30, name="c"), "rule c: min: min 300 is above max -30"),
        (
            lambda: r.between("a", min=2.5, max=2.5, min_inclusive=False, name="c"),
            "rule c: min: min 2.5 equals",
        ),
        (
            lambda: r.between("a", min="2024-03-02", max="2024-03-01T23:59:59Z", name="c"),
            "rule c: min: min 2024-03-02 is above max 2024-03-01T23:59:59Z",
        ),
        (lambda: r.row_count(min=-1, name="c"), "rule c: min: invalid value: integer `-1`"),
        (lambda: r.unique(["a", "a"], name="c"), 'rule c: columns: column "a" appears twice'),
        (lambda: r.between("a", min=1, min_inclusive=1, name="c"), "rule c: min_inclusive: invalid type"),
        (lambda: r.schema({"a": "int"}, strict="yes", name="c"), "rule c: strict: invalid type"),
        (lambda: r.not_null("a", tolerance=1.0, name="c"), "rule c: tolerance: a fraction must be"),
    ],
)
def test_rule_arguments_are_checked_once_by_the_engine_naming_the_field(make, message):
    with pytest.raises(tl.RuleError) as caught:
        make()
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_compound_target_names_its_columns_not_a_python_list():
    with pytest.raises(tl.RuleError) as caught:
        r.relationships(["store_id", "day"], to=CODES, field="code")
    message = str(caught.value)
    assert message.startswith("rule relationships_store_id_day: ")
    assert "[" not in message.split(":")[0]
