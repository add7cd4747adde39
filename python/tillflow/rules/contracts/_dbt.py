"""dbt's ``schema.yml``: its data tests, model contracts and source
freshness read into rules, and rules written back as generic tests.

A table is a model, seed or snapshot by its name, and a source's table as
``"source.table"``. Tests sit under a column's or the table's
``data_tests`` (``tests``, its old name; never both on one node), as a
name, ``{test: {arguments: ..., config: ...}}`` (arguments may also sit at
the test's top level, as before dbt 1.10.5) or ``{test_name: ..., name:
...}``. Each test becomes the rule that counts what its SQL counts:

- ``not_null`` -> ``not_null(col)``
- ``unique`` -> ``unique(col, count="keys")`` (repeated values, nulls skipped)
- ``accepted_values`` -> ``is_in(col, values)`` (``quote: false``: numbers)
- ``relationships`` (``to: ref('x')``, ``field: f``) -> ``relationships(col, to="x.f")``
- ``dbt_utils.accepted_range`` -> ``between(col, min, max)`` (``inclusive: false``: both ends open)
- ``dbt_utils.not_accepted_values`` -> ``not_in(col, values)``
- ``dbt_utils.unique_combination_of_columns`` -> ``unique(cols, count="keys", nulls="equal")``
- ``dbt_utils.expression_is_true`` -> ``expression(sql)``; on a column ``expression("col <sql>",
  columns=[col])``
- ``dbt_utils.not_empty_string`` -> ``not_matches(col, "^ *$")`` (SQL's trim takes spaces);
  with ``trim_whitespace: false``, ``length_between(col, min=1)``
- ``dbt_utils.at_least_one`` -> ``row_count(min=1, when="col IS NOT NULL")``
- ``dbt_utils.recency`` -> ``freshness(field, "<interval><s|m|h|d|w>")``
- ``dbt_utils.equal_rowcount`` -> ``row_count_matches("x")`` (a source's table ``"s.t"``)
- ``dbt_utils.not_null_proportion`` -> ``not_null(col, tolerance="<1 - at_least>%")``
- ``dbt_utils.relationships_where`` -> ``relationships(..., when=from_condition)``
- an enforced model contract -> ``schema({col: type}, strict=True)`` from each ``data_type``
- its constraints (dbt applies them only then): ``not_null``, ``unique``, ``primary_key`` (the
  rule set's key, ``not_null`` and ``unique``), ``check`` (``expression``), ``foreign_key``
  with ``to``/``to_columns`` (``relationships``)
- a source table's ``freshness`` with ``loaded_at_field`` -> ``freshness(field, max_age)``:
  ``error_after`` an error rule, ``warn_after`` a warn rule

Configs: ``severity`` (either case) is the rule's severity; ``where`` its
``when=``; ``enabled: false`` (on a test, model, source or table) makes no
rule. dbt judges ``error_if`` (unless the severity is warn), then
``warn_if`` (both ``!=0`` by default) against the failure count; a
condition ``> N``, ``>= N`` or ``!= 0`` is a count tolerance. A test that
can end in error above N failures and in warn above M < N becomes two
rules: an error rule with tolerance N and a warn rule with tolerance M,
named ``<name>__warn``; a source's ``warn_after`` below its
``error_after`` is named the same way. ``limit`` caps the count (a level
at or above it can never be reached). Passed over: ``tags``, ``meta``,
``alias``, ``schema``, ``database``, ``group``, ``store_failures``,
``store_failures_as``, ``quoting``, ``static_analysis``, and a test's
``description``. Not supported (an error naming them): ``fail_calc`` other
than dbt's own, ``sql_header``, other conditions (``=0``, ``between``),
``error_if``/``warn_if`` on ``accepted_values`` and
``not_accepted_values`` (they count distinct values) and on
``equal_rowcount`` (a difference in rows), Jinja anywhere, ``ref`` to
another package or version, ``source()`` as a ``relationships`` or
``foreign_key`` target, a constraint ``foreign_key`` by ``expression``,
``column_name`` or ``loaded_at_field`` as an SQL expression, values and
bounds that are SQL rather than numbers or quoted literals,
``relationships_where``'s ``to_condition``, ``not_null_proportion``'s
``at_most``, ``dbt_utils.sequential_values``, ``not_constant``,
``equality``, ``fewer_rows_than``, ``cardinality_equality``,
``mutually_exclusive_ranges``, ``dbt_expectations.*`` and custom tests,
``group_by_columns``, ``recency`` by month or year or with
``ignore_time_component`` or ``where``, source freshness with ``filter``,
``loaded_at_query`` or no ``loaded_at_field``, ``custom`` constraints,
``data_type`` outside tillflow's schema types, model ``versions`` and
source ``overrides``.

Passed over as description, not checks: the top-level ``analyses``,
``exposures``, ``metrics``, ``semantic_models``, ``saved_queries``,
``groups``, ``macros``, ``unit_tests`` (they test a model's logic on
fixtures), ``data_tests`` (singular tests' properties) and ``functions``;
on a node ``description``, ``docs``, ``meta``, ``tags``, ``access``,
``group``, ``latest_version``, ``deprecation_date``, ``time_spine``,
``identifier``, ``quoting``, ``external``, ``relation``, ``event_time``,
``database``, ``schema``, ``loader`` and ``config`` beyond ``enabled``,
a model's ``contract`` and a source's ``freshness``/``loaded_at_field``
(a model's ``freshness`` schedules builds); on a column ``description``, ``docs``,
``meta``, ``tags``, ``config``, ``quote``, ``policy_tags``,
``granularity``, ``dimension``, ``entity``, and ``data_type`` and
``constraints`` unless the model's contract is enforced (dbt applies
constraints only then); a constraint's ``name``, ``warn_unenforced`` and
``warn_unsupported``. Unknown keys are errors.

dbt's tests run the warehouse's SQL, whose NaN differs from tillflow's:
PostgreSQL, Snowflake and DuckDB count NaN as a value above every number,
where tillflow counts it missing for ``not_null`` and failing for
``between``. A ``recency`` or freshness compares naive timestamps as UTC.

The writer gives each rule its test in the modern form (``data_tests``,
``arguments``, ``config``), models under ``models`` and ``"s.t"`` tables
under ``sources`` (freshness as the table's ``freshness`` block), an
error rule's tolerance N as ``error_if: '>N'`` with ``warn_if: '>N'``, and
a rule it has no exact test for (``compare``, ``matches``, a share
tolerance other than on ``not_null``, which becomes
``dbt_utils.not_null_proportion``, ``by=``, a Polars expression, a frame, ``not_empty``, which
trims all Unicode whitespace, ...) is a `RuleError` naming the rule. A
rule set's ``key`` is not written (it is no check).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tillflow.rules.contracts._common import Tables
from tillflow.rules.contracts._dbt_read import read as _read
from tillflow.rules.contracts._dbt_write import write as _write

__all__ = ["looks_like", "read", "write"]


def looks_like(data: Any) -> bool:
    """Whether ``data`` is a dbt properties file: ``version: 2`` (or none,
    as dbt 1.5+ allows) and a list of models, sources, seeds or snapshots."""
    if not isinstance(data, Mapping) or data.get("version", 2) != 2:
        return False
    return any(isinstance(data.get(k), list) for k in ("models", "sources", "seeds", "snapshots"))


def read(data: Any) -> Tables:
    """The rules of a parsed ``schema.yml``, per table.

    Parameters
    ----------
    data
        The file's mapping.

    Returns
    -------
    dict[str, RuleSet]
        The rules of each model, seed and snapshot (by name) and source
        table (``"source.table"``), in the file's order.

    Raises
    ------
    RuleError
        If an item is malformed or has no exact tillflow form; ``.at``
        holds its key path.
    """
    return _read(data)


def write(tables: Tables) -> dict[str, Any]:
    """``{table: RuleSet}`` as a ``schema.yml`` mapping.

    Parameters
    ----------
    tables
        The rules per table; ``"source.table"`` names a source's table.

    Returns
    -------
    dict[str, Any]
        ``version: 2``, ``models`` and ``sources``, ready for YAML.

    Raises
    ------
    RuleError
        If a rule has no dbt generic test that checks the same; the
        message names the rule and why.
    """
    return _write(tables)
