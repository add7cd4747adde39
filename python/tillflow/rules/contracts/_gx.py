"""Great Expectations suites, in and out: a 1.x suite (``name``, ``expectations``
of ``type`` and ``kwargs``) or a 0.x one (``expectation_suite_name``,
``expectation_type``) read into rules; rules written as a 1.x suite (or, with
``version="0"``, a 0.x one). A suite names no table: the reader's is ``table``
or the suite's name.

How GX counts, and how the rules count the same:

- A column map expectation leaves missing values out, and ``mostly`` is the
  share of the rest that must pass: ``when="col IS NOT NULL"`` with a
  percentage tolerance (``mostly: 0.95`` is ``tolerance="5%"``). For
  ``expect_column_values_to_not_be_null`` and ``..._to_be_null`` every row
  counts: the tolerance alone. Without ``mostly`` (1, every value) no
  ``when=`` is needed, as tillflow's checks let nulls pass too.
- Missing means null; ``not_null`` and ``is_null`` count NaN as missing too,
  as GX's docs say of pandas. Elsewhere NaN is a value (as on GX's SQL and
  Spark engines, where NaN is not null).
- ``row_condition`` becomes the start of ``when=``: one comparison of a column
  with a number (or, for ``==``/``!=``, text), or a null or not-null test, in the
  ``great_expectations``, ``pandas`` (a missing value is unequal to
  everything) or ``spark`` syntax. Anything else is an error naming it.
- Patterns are searched for anywhere in the value, in GX as in tillflow; one
  that Rust's ``regex`` does not compile (look-around, backreferences) is an
  error naming it.

=================================================== =====================================================
expectation                                          rule
=================================================== =====================================================
expect_column_values_to_not_be_null / _to_be_null    not_null / is_null
expect_column_values_to_be_unique                    unique(count="all"): every copy of a repeated value
expect_column_values_to_be_between                   between (strict_min/max: min/max_inclusive=False)
expect_column_values_to_be_in_set / _not_be_in_set   is_in / not_in
expect_column_values_to_match_regex / _not_match_    matches / not_matches (both search anywhere); a
  regex, ..._regex_list                              list is one alternation (match_on "all" of several:
                                                     unsupported)
expect_column_value_lengths_to_be_between / _equal   length_between (strict bounds: the next length in)
expect_column_values_to_be_json_parseable            is_json (RFC 8259: Python's NaN/Infinity fail)
expect_column_values_to_match_json_schema            matches_json_schema
expect_column_values_to_be_increasing / _decreasing  increasing / decreasing (strictly: strict=True)
expect_column_distinct_values_to_be_in_set           is_in (passes exactly when no value is outside)
expect_column_distinct_values_to_contain_set         contains_values
expect_column_distinct_values_to_equal_set           is_in and contains_values: two rules
expect_column_unique_value_count_to_be_between       distinct_count
expect_column_proportion_of_unique_values_to_be_b.   distinct_ratio (strict bounds: unsupported)
expect_column_{mean,median,stdev,sum,min,max}_to_    {mean,median,stddev,sum,min,max}_between (sample
  be_between                                         standard deviation and the middle two's mean, as GX)
expect_table_row_count_to_be_between / _to_equal     row_count
expect_table_row_count_to_equal_other_table          row_count_matches(other_table_name)
expect_column_pair_values_a_to_be_greater_than_b     ignore_row_if either_value_is_missing: compare(a, ">"
  (0.x: ..._A_to_be_greater_than_B), _to_be_equal    or ">=" or "==", b); otherwise a row with one value
                                                     missing fails (as on GX's pandas engine):
                                                     expression "COALESCE(a > b, FALSE)", with
                                                     when="(a IS NOT NULL OR b IS NOT NULL)" for the
                                                     default both_values_are_missing
expect_compound_columns_to_be_unique                 unique(count="all"): any_value_is_missing as it is;
                                                     all_values_are_missing (the default) and never with
                                                     nulls="equal", missing values grouped as one key
expect_select_column_values_to_be_unique_within_     distinct_across: any_value_is_missing (with when=
  record (0.x: expect_multicolumn_values_to_be_      all present), or two columns with the default
  unique)                                            all_values_are_missing
expect_multicolumn_sum_to_equal                      expression "COALESCE(a + b = total, FALSE)"
=================================================== =====================================================

Unsupported, each an error naming it and why: expect_column_to_exist and the
table column checks (tillflow's schema rule checks types, which GX names
not), values of type or in a type list (GX's names are the engine's),
quantile values (nearest rank within a relative 1e-4), strftime and dateutil
parsing, LIKE patterns, most common value, z-scores and distribution tests,
value pairs in a set; ``info`` severity; suite parameters (``$PARAMETER``);
``parse_strings_as_datetimes``, ``allow_cross_type_comparisons``, ``auto``,
``batch_id``, ``windows`` and ``profiler_config`` when set.

Passed over, as they describe rather than check: the suite's ``id``,
``meta``, ``notes``, ``data_asset_type`` and ``ge_cloud_id``; an
expectation's ``id``, ``notes``, ``description``, ``rendered_content``,
``expectation_context``, ``ge_cloud_id`` and ``meta`` (except ``meta.name``,
which names the rule, as the writer records a rule's given name); the
kwargs ``result_format``, ``catch_exceptions``, ``include_config``, ``meta``
and ``output_strftime_format``. Severity ``critical`` (GX's default) is
``error``, ``warning`` is ``warn``.

The writer turns each rule with an exact expectation back, in GX's
canonical form (defaults left out, ``mostly`` only below 1); a rule with
none (a count tolerance, ``by=``, a Polars expression, another kind) is a
`RuleError` naming it.
"""

from __future__ import annotations

from tillflow.rules.contracts._gx_read import looks_like, read
from tillflow.rules.contracts._gx_write import write

__all__ = ["looks_like", "read", "write"]
