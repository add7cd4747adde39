"""What the rule tests share: a fixed "now", extreme values, and the check of one rule on one frame.
Every expected count in those tests is worked out by hand from the small frame written beside it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import tillflow as tl

UTC = dt.timezone.utc
NOW = dt.datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
I64_MAX = 2**63 - 1
I64_MIN = -(2**63)
NAN = float("nan")
D = Decimal


def check(rule, df, **ruleset_kwargs):
    """Validate `df` against one single-column rule and return its only CheckResult."""
    report = tl.RuleSet([rule], **ruleset_kwargs).validate(df, now=NOW)
    (result,) = report.results
    return result


def failing(rule, df) -> int | None:
    return check(rule, df).failing
