"""Validation rules: every check of a rule set in one native pass, with a
report an analyst can read.

>>> import tillflow as tl
>>> from tillflow import rules as r
>>> rs = tl.RuleSet(
...     [
...         r.not_null("id", "email", "total_price", tolerance=0.01),
...         r.unique("id"),
...         r.between("total_price", 0, 10000),
...         r.matches("email", r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$"),
...     ],
...     key=["id"],
... )
>>> report = rs.validate(orders)  # doctest: +SKIP
>>> report.raise_for_errors()  # doctest: +SKIP

Semantics, in short: only ``not_null`` fails on null (and on NaN); every
other row check lets nulls pass. ``unique`` fails the second and later
copies of a key. Patterns use Rust's ``regex`` syntax and search anywhere in
the value unless anchored. Tolerances are a count (``5``), a fraction
(``0.01``) or a percentage (``"1%"``), inclusive at the boundary.
"""

from __future__ import annotations

from tillflow.exceptions import RuleError, ValidationError
from tillflow.rules._constructors import (
    between,
    compare,
    expression,
    freshness,
    is_in,
    matches,
    not_null,
    relationships,
    row_count,
    schema,
    unique,
)
from tillflow.rules._report import CheckResult, Report
from tillflow.rules._rule import KINDS, Rule
from tillflow.rules._ruleset import RuleSet
from tillflow.rules._validation import MODES, Validation

__all__ = [
    "KINDS",
    "MODES",
    "CheckResult",
    "Report",
    "Rule",
    "RuleError",
    "RuleSet",
    "Validation",
    "ValidationError",
    "between",
    "compare",
    "expression",
    "freshness",
    "is_in",
    "matches",
    "not_null",
    "relationships",
    "row_count",
    "schema",
    "unique",
]
