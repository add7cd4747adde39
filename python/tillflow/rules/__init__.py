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
from tillflow.rules import contracts  # contracts from other tools, in and out
from tillflow.rules._aggregates import (
    max_between,
    mean_between,
    median_between,
    min_between,
    stddev_between,
    sum_between,
)
from tillflow.rules._codes import (
    is_card_number,
    is_country_code,
    is_currency_code,
    is_e164,
    is_iban,
    is_json,
    is_language_code,
    is_postal_code,
    matches_json_schema,
)
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
from tillflow.rules._crosses import (
    any_present,
    complete,
    decimal_places,
    distinct_across,
    is_finite,
    is_null,
    not_in,
    not_in_future,
    not_older_than,
    sum_equals,
    within,
)
from tillflow.rules._formats import (
    is_email,
    is_ip,
    is_ip_in_network,
    is_ipv4,
    is_ipv6,
    is_url,
    is_uuid,
)
from tillflow.rules._measures import (
    aggregate_compare,
    contains_values,
    distinct_count,
    distinct_ratio,
    quantile_between,
    reconcile,
    row_count_matches,
)
from tillflow.rules._report import CheckResult, Report
from tillflow.rules._rule import KINDS, Rule
from tillflow.rules._ruleset import RuleSet
from tillflow.rules._sequences import (
    bucket,
    decreasing,
    increasing,
    is_daily,
    no_gaps,
    no_outliers,
    no_sequence_gaps,
)
from tillflow.rules._texts import (
    contains,
    ends_with,
    length_between,
    not_empty,
    not_matches,
    parses_as,
    starts_with,
    trimmed,
)
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
    "aggregate_compare",
    "any_present",
    "between",
    "bucket",
    "compare",
    "complete",
    "contains",
    "contains_values",
    "contracts",
    "decimal_places",
    "decreasing",
    "distinct_across",
    "distinct_count",
    "distinct_ratio",
    "ends_with",
    "expression",
    "freshness",
    "increasing",
    "is_card_number",
    "is_country_code",
    "is_currency_code",
    "is_daily",
    "is_e164",
    "is_email",
    "is_finite",
    "is_iban",
    "is_in",
    "is_ip",
    "is_ip_in_network",
    "is_ipv4",
    "is_ipv6",
    "is_json",
    "is_language_code",
    "is_null",
    "is_postal_code",
    "is_url",
    "is_uuid",
    "length_between",
    "matches",
    "matches_json_schema",
    "max_between",
    "mean_between",
    "median_between",
    "min_between",
    "no_gaps",
    "no_outliers",
    "no_sequence_gaps",
    "not_empty",
    "not_in",
    "not_in_future",
    "not_matches",
    "not_null",
    "not_older_than",
    "parses_as",
    "quantile_between",
    "reconcile",
    "relationships",
    "row_count",
    "row_count_matches",
    "schema",
    "starts_with",
    "stddev_between",
    "sum_between",
    "sum_equals",
    "trimmed",
    "unique",
    "within",
]
