"""matches: a regular expression searched in each string, character by character."""

from __future__ import annotations

import polars as pl

from support.rules import check, failing
from tillflow import rules as r

# ---------------------------------------------------------------------------------------------- matches

EMAIL = r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"


def test_matches_email_pattern():
    df = pl.DataFrame({"email": ["ann@shop.io", "bad", "", None, "zoë@例え.jp", "two@@x.io", " ann@shop.io"]})
    res = check(r.matches("email", EMAIL, name="email_format"), df)
    # fail: "bad", "", "two@@x.io", " ann@shop.io"; null passes
    assert (res.rule, res.kind, res.failing) == ("email_format", "matches", 4)


def test_matches_is_an_unanchored_case_sensitive_search():
    df = pl.DataFrame({"s": ["xaby", "ab", "ba", "AB", "a\nb"]})
    assert failing(r.matches("s", "ab"), df) == 3


def test_matches_counts_characters_not_bytes():
    df = pl.DataFrame({"s": ["東京都", "abc", "ab", "🍕🍕🍕", "Zoë", "Zoe\u0308"]})
    assert failing(r.matches("s", r"^.{3}$"), df) == 2  # "ab" and the 4-character "Zoe" + U+0308


def test_matches_word_class_is_unicode():
    df = pl.DataFrame({"s": ["東京", "Zoë", "a b", "🍕", "x_1"]})
    assert failing(r.matches("s", r"^\w+$"), df) == 2  # "a b" and the emoji
