"""What the GX reader and writer share: expectation names, the ``when=``
forms of GX's null filters (``mostly``'s denominators and ``ignore_row_if``),
and row conditions in GX's three syntaxes against the SQL of ``when=``.

A ``when=`` the reader writes is ``CONDITION AND FILTER``: the expectation's
row condition, if any, then the rows GX counts (``col IS NOT NULL``; all of a
pair or list present: ``a IS NOT NULL AND b IS NOT NULL``; any present:
``(a IS NOT NULL OR b IS NOT NULL)``). The writer takes it apart the same way.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from typing import Any

from tillflow.exceptions import RuleError
from tillflow.rules.contracts import _common

FMT = "gx"

GREATER = "expect_column_pair_values_a_to_be_greater_than_b"
GREATER_0X = "expect_column_pair_values_A_to_be_greater_than_B"
PAIR_EQUAL = "expect_column_pair_values_to_be_equal"

AGGREGATES = {
    "expect_column_mean_to_be_between": "mean_between",
    "expect_column_median_to_be_between": "median_between",
    "expect_column_stdev_to_be_between": "stddev_between",
    "expect_column_sum_to_be_between": "sum_between",
    "expect_column_min_to_be_between": "min_between",
    "expect_column_max_to_be_between": "max_between",
}

# Keys of an expectation, a suite and its kwargs that describe rather than
# check: read and passed over (listed in the module docstring of ``_gx``).
EXPECTATION_KEYS_1X = ("type", "kwargs", "meta", "id", "notes", "description", "severity",
                       "rendered_content", "expectation_context")  # fmt: skip
EXPECTATION_KEYS_0X = ("expectation_type", "kwargs", "meta", "ge_cloud_id", "rendered_content",
                       "expectation_context")  # fmt: skip
SUITE_KEYS_1X = ("name", "id", "expectations", "meta", "notes", "suite_parameters")
SUITE_KEYS_0X = ("expectation_suite_name", "expectations", "meta", "data_asset_type", "ge_cloud_id",
                 "evaluation_parameters")  # fmt: skip
DESCRIPTIVE_KWARGS = ("result_format", "catch_exceptions", "include_config", "meta", "output_strftime_format")


# Settings that, switched off, mean what their absence means; switched on,
# they change what is compared (the reason names how).
OFF_OK = {
    "parse_strings_as_datetimes": "it parses text as dates with dateutil before comparing",
    "allow_cross_type_comparisons": "it compares values of different types by their text",
    "auto": "its arguments are estimated from data by a profiler",
    "batch_id": "it is bound to one batch of data",
    "windows": "its bounds come from earlier runs' values",
    "profiler_config": "its arguments are estimated from data by a profiler",
}

UNSUPPORTED = {
    "expect_column_to_exist": "tillflow's schema rule checks a column with its type, and GX names none",
    "expect_table_columns_to_match_set": "tillflow's schema rule checks columns with their types",
    "expect_table_columns_to_match_ordered_list": "tillflow's schema rule checks no column order",
    "expect_table_column_count_to_be_between": "tillflow has no column count check",
    "expect_table_column_count_to_equal": "tillflow has no column count check",
    "expect_column_values_to_be_of_type": "GX's type names are the engine's (numpy dtypes, SQL or Spark "
    "types, each of one width); tillflow's schema types are classes (int is every integer width)",
    "expect_column_values_to_be_in_type_list": "GX's type names are the engine's; tillflow's are classes",
    "expect_column_quantile_values_to_be_between": "GX takes the nearest-rank quantile and accepts values "
    "within a relative 1e-4 of a bound; tillflow's quantile_between interpolates and compares exactly",
    "expect_column_values_to_match_strftime_format": "Python's strptime and tillflow's parser differ "
    "(unpadded numbers, %f, %z)",
    "expect_column_values_to_be_dateutil_parseable": "dateutil's guessing parser has no tillflow equal",
    "expect_column_values_to_match_like_pattern": "a LIKE pattern's case and collation are the database's",
    "expect_column_values_to_match_like_pattern_list": "LIKE patterns' case and collation are the database's",
    "expect_column_values_to_not_match_like_pattern": "a LIKE pattern's case and collation are the "
    "database's",
    "expect_column_values_to_not_match_like_pattern_list": "LIKE patterns' case and collation are the "
    "database's",
    "expect_column_most_common_value_to_be_in_set": "tillflow has no most-common-value check",
    "expect_column_value_z_scores_to_be_less_than": "tillflow's no_outliers uses the sample standard "
    "deviation and |z| > k; GX's z-scores use the population one",
    "expect_column_kl_divergence_to_be_less_than": "tillflow has no distribution tests",
    "expect_column_chisquare_test_p_value_to_be_greater_than": "tillflow has no distribution tests",
    "expect_column_bootstrapped_ks_test_p_value_to_be_greater_than": "tillflow has no distribution tests",
    "expect_column_parameterized_distribution_ks_test_p_value_to_be_greater_than": "tillflow has no "
    "distribution tests",
    "expect_column_pair_cramers_phi_value_to_be_less_than": "tillflow has no distribution tests",
    "expect_column_pair_values_to_be_in_set": "tillflow has no check of value pairs",
}


_OPWORD = {">": "gt", ">=": "ge", "=": "eq"}


def pair_name(left: str, op: str, right: str) -> str:
    """The name a pair expectation read as an expression rule gets."""
    return f"compare_{left}_{_OPWORD[op]}_{right}"


def sum_name(columns: Sequence[str]) -> str:
    """The name a multicolumn sum read as an expression rule gets."""
    return "multicolumn_sum_" + "_".join(columns)


def fail(rule: Any, what: str) -> RuleError:
    """The writer's error for a rule without an exact GX form."""
    return RuleError(f"rule {rule.name}: {what}")


# -- null filters


def present(column: str) -> str:
    return _common.non_null_when(column)


def all_present(columns: Sequence[str]) -> str:
    return " AND ".join(present(c) for c in columns)


def any_present(columns: Sequence[str]) -> str:
    return "(" + " OR ".join(present(c) for c in columns) + ")"


def join_when(condition: str | None, filter_: str | None) -> str | None:
    parts = [p for p in (condition, filter_) if p]
    return " AND ".join(parts) if parts else None


def split_when(when: Any, filters: Sequence[str]) -> tuple[str | None, str | None]:
    """``when`` as ``(condition, filter)``: the one of ``filters`` it ends
    with (or None), and what comes before it."""
    if when is None:
        return None, None
    for f in filters:
        if when == f:
            return None, f
        if when.endswith(" AND " + f):
            return when[: -len(f) - 5], f
    return when, None


# -- row conditions

_NUM = r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?"
_GX_TEXT_CHARS = set(string.ascii_letters + string.digits + " \t") | (set(string.punctuation) - {'"', "'"})
_GX_COLUMN = r'col\("([A-Za-z][A-Za-z0-9_\-.]*)"\)'
_GX_CMP = re.compile(
    rf"""^\s*{_GX_COLUMN}\s*(>=|<=|==|!=|>|<)\s*(?:({_NUM})|"([^"']*)"|'([^"']*)'|(date\s*\(.*\)))\s*$"""
)
_GX_NOTNULL = re.compile(rf"^\s*{_GX_COLUMN}\s*\.notnull\(\)\s*$", re.I)
_PY_NAME = r"([A-Za-z_][A-Za-z0-9_]*|`[^`]+`)"
_PD_CMP = re.compile(rf"""^\s*{_PY_NAME}\s*(==|!=|>=|<=|>|<)\s*(?:({_NUM})|"([^"'\\]*)"|'([^"'\\]*)')\s*$""")
_PD_NOTNULL = re.compile(rf"^\s*{_PY_NAME}\s*\.\s*(?:notnull|notna)\(\)\s*$")
_SP_CMP = re.compile(rf"""^\s*{_PY_NAME}\s*(==|=|!=|<>|>=|<=|>|<)\s*(?:({_NUM})|'([^'\\]*)')\s*$""")
_SP_NULL = re.compile(rf"^\s*{_PY_NAME}\s+IS\s+(NOT\s+)?NULL\s*$", re.I)
_SQL_OP = {"==": "=", "=": "=", "!=": "<>", "<>": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


def condition_sql(args: dict[str, Any], at: Sequence[_common.Key]) -> str | None:
    """The SQL ``when=`` of an expectation's ``row_condition``, or None.

    Only one comparison of a column with a literal (or a not-null test) is
    translated, in each parser's own semantics: ``great_expectations`` and
    ``spark`` filter as SQL does (a null compares to nothing), ``pandas``
    as ``DataFrame.query`` does (a missing value is unequal to everything).
    """
    cond, parser = args.get("row_condition"), args.get("condition_parser")
    if cond is None or cond == "":  # GX filters nothing then, whatever the parser
        return None
    where = [*at, "row_condition"]
    if not isinstance(cond, str):
        raise _common.unsupported(FMT, where, f"row_condition {cond!r}", "only a condition written as text")
    if parser in ("great_expectations", "great_expectations__experimental__"):
        m = _GX_NOTNULL.match(cond)
        if m:
            return f"{_common.quote(m.group(1))} IS NOT NULL"
        m = _GX_CMP.match(cond)
        if m and not m.group(6):
            column, op, number, text = m.group(1), m.group(2), m.group(3), _first(m.group(4), m.group(5))
            if number is not None or op in ("==", "!="):
                return _comparison(column, op, number, text, cond, where)
    elif parser == "pandas":
        m = _PD_NOTNULL.match(cond)
        if m:
            return f"{_common.quote(_name(m.group(1)))} IS NOT NULL"
        m = _PD_CMP.match(cond)
        if m:
            column, op = _name(m.group(1)), m.group(2)
            sql = _comparison(column, op, m.group(3), _first(m.group(4), m.group(5)), cond, where)
            # DataFrame.query keeps a missing value for !=: NaN != x is true.
            return f"({sql} OR {_common.quote(column)} IS NULL)" if op == "!=" else sql
    elif parser == "spark":
        m = _SP_NULL.match(cond)
        if m:
            return f"{_common.quote(_name(m.group(1)))} IS {'NOT ' if m.group(2) else ''}NULL"
        m = _SP_CMP.match(cond)
        if m and (m.group(3) is not None or m.group(2) in ("==", "=", "!=", "<>")):
            return _comparison(_name(m.group(1)), m.group(2), m.group(3), m.group(4), cond, where)
    elif parser is None:
        raise _common.invalid(FMT, where, "a row_condition needs its condition_parser")
    else:
        raise _common.unsupported(FMT, [*at, "condition_parser"], f"condition_parser {parser!r}")
    raise _common.unsupported(
        FMT,
        where,
        f"row_condition {cond!r}",
        "only one comparison of a column with a number (or text, for == and !=) is translated exactly",
    )


def _first(*values: str | None) -> str | None:
    return next((v for v in values if v is not None), None)


def _name(token: str) -> str:
    return token[1:-1] if token.startswith("`") else token


def _comparison(column: str, op: str, number: str | None, text: str | None, cond: str, where: Any) -> str:
    if number is not None:
        value = _number(number)
        if value is None:
            raise _common.unsupported(FMT, where, f"row_condition {cond!r}", "the number is not finite")
        literal = str(value)
    else:
        literal = "'" + (text or "").replace("'", "''") + "'"
    return f"{_common.quote(column)} {_SQL_OP[op]} {literal}"


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        value = float(text)
        return value if value not in (float("inf"), float("-inf")) else None


_W_IDENT = r'(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_]*))'
_W_LIT = r"(" + _NUM + r"|'(?:[^']|'')*')"
_W_CMP = re.compile(rf"^{_W_IDENT} (=|<>|>=|<=|>|<) {_W_LIT}$")
_W_NULL = re.compile(rf"^{_W_IDENT} IS (NOT )?NULL$")
_W_PD_NE = re.compile(rf"^\({_W_IDENT} <> {_W_LIT} OR {_W_IDENT} IS NULL\)$")
_GX_OP = {"=": "==", "<>": "!="}


def ident(m: re.Match[str], group: int) -> str:
    """The column a quoted or bare identifier in ``m`` names."""
    quoted = m.group(group)
    return quoted.replace('""', '"') if quoted is not None else m.group(group + 1)


def gx_condition(rule: Any, sql: str) -> tuple[str, str]:
    """A ``when=`` condition as ``(row_condition, condition_parser)``, in
    GX's own syntax where it fits, else Spark SQL's (or, for the form the
    ``pandas`` parser reads into, pandas')."""
    m = _W_PD_NE.match(sql)
    if m and ident(m, 1) == ident(m, 4) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", ident(m, 1)):
        literal = m.group(3)
        if not literal.startswith("'"):
            return f"{ident(m, 1)} != {literal}", "pandas"
        text = literal[1:-1].replace("''", "'")
        if not set(text) & {'"', "'", "\\"}:
            return f'{ident(m, 1)} != "{text}"', "pandas"
    m = _W_NULL.match(sql)
    if m:
        column, negated = ident(m, 1), bool(m.group(3))
        if negated and re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-.]*", column):
            return f'col("{column}").notnull()', "great_expectations"
        if _spark_name(column):
            return f"{_spark_name(column)} IS {'NOT ' if negated else ''}NULL", "spark"
    m = _W_CMP.match(sql)
    if m:
        column, op, literal = ident(m, 1), m.group(3), m.group(4)
        text = literal[1:-1].replace("''", "'") if literal.startswith("'") else None
        number = literal if text is None else None
        gx_ok = re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-.]*", column) and (
            number is not None or (op in ("=", "<>") and set(text or "") <= _GX_TEXT_CHARS)
        )
        if gx_ok:
            value = number if number is not None else f'"{text}"'
            return f'col("{column}") {_GX_OP.get(op, op)} {value}', "great_expectations"
        if _spark_name(column) and (text is None or not set(text) & {"'", "\\"}):
            return f"{_spark_name(column)} {op} {literal}", "spark"
    raise fail(
        rule,
        f"when: {sql!r} has no GX row_condition; GX conditions compare one column with a literal",
    )


def _spark_name(column: str) -> str | None:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column):
        return column
    return f"`{column}`" if "`" not in column else None
