"""SodaCL checks files (Soda Core 3): ``checks for TABLE:`` lists read into
tillflow rules, and rules written back as such lists.

Each check becomes the rules that count its rows the way Soda Core does;
where none does, reading raises `RuleError` naming the check and where it
is. The mapping, check by check:

=====================================================  ============================================
SodaCL                                                 tillflow
=====================================================  ============================================
``row_count > 0``, ``between 10 and 15``, ...          ``row_count(min=, max=)``; ``filter`` -> ``when``
``missing_count(c) = 0`` / ``< n`` / ``<= n``          ``not_null(c)``, ``tolerance`` n - 1 / n
``missing_percent(c) < p%``                            ``not_null(c)``, share tolerance (below)
... with ``missing values`` / ``missing regex``        ``expression("c IS NOT NULL AND c NOT IN (...)
                                                       AND NOT regexp_like(c, '...')")``
``invalid_*(c)`` + ``valid values``                    ``is_in`` (missing values join the list)
``invalid_*(c)`` + ``invalid values``                  ``not_in`` (less the missing values)
``invalid_*(c)`` + ``valid min`` / ``valid max``       ``between`` (inclusive)
``invalid_*(c)`` + ``valid (min|max) length``          ``length_between``
``invalid_*(c)`` + ``valid regex`` / ``invalid regex`` ``matches`` / ``not_matches``
``invalid_*(c)`` + ``valid format: uuid``              ``is_uuid`` (both are 8-4-4-4-12 hex, any case)
``duplicate_count(a, b)``, ``duplicate_percent``       ``unique(a, b, count="keys")`` (nulls skipped)
``min``/``max``/``avg``/``sum``/``stddev(_samp)(c)``   ``min/max/mean/sum/stddev_between``, bounds
``max_length(c) <= n`` / ``min_length(c) >= n``        ``length_between(c, max=n)`` / ``(min=n)``
``freshness(c) < 1d``, alerts ``when > 1d``            ``freshness(c, max_age="1d")``
``values in (a) must exist in t (x)``                  ``relationships("a", to="t.x")``
``values in (a, b) must exist in t (x, y)``            ``relationships([a, b], to="t", field=[x, y])``
                                                       and ``expression`` ``<name>_partial_key``
``row_count same as t``                                ``row_count_matches("t")``
``failed rows`` + ``fail condition: C``                ``expression("NOT (C)")`` (``NOT (x)`` reads as x)
``schema`` + ``when wrong column type``                ``schema({col: type})``
``schema`` + ``when mismatching columns``              ``schema({col: type}, strict=True)``
``filter T [p]: where: W`` + ``checks for T [p]``      ``when=W`` on each rule of T (and'ed with a
                                                       check's own ``filter``)
``name``                                               ``name`` (on a clash of default names: the line)
=====================================================  ============================================

Thresholds. A check's line says where it passes; ``fail: when ...`` and
``warn: when ...`` where it fails or warns. A check with both becomes an
error rule and a warn rule named ``<name>_warn``, written back as one check.
A count of failing rows fits when it fails exactly above some count: ``= 0``
is no tolerance, ``< 5`` a tolerance of 4, ``fail: when > 10`` one of 10; so
``> 0`` on missing_count, ``between`` on counts from above 0, and ``!=``
do not fit (``between 0 and N`` is a tolerance of N).
``row_count`` and aggregates fit one range (``between``, ``not between``
as a fail alert, open ends with ``(`` and ``)``).

Percentages. Soda divides by the row count (after filters), nulls included,
not by the non-null values: ``missing_percent + invalid_percent +
valid_percent = 100``. It rounds the percentage to two decimals before
comparing it, so ``missing_percent(c) < 5%`` passes up to, not including,
4.995% of the rows, and ``<= 5%`` up to 5.005%; whether the exact boundary
passes depends on how its float rounds. The tolerance read is the float
fraction that fails exactly where Soda does (``0.049949999999999994`` for
``< 5%``, ``0.05005`` for ``<= 5%``), exact for tables below 10^10 rows. A
share tolerance written back must be one of these: ``"5%"`` has no SodaCL
form, because no rounded percentage fails exactly above 5%.

Formats. Soda checks ``valid format`` with its own regular expressions.
Only ``uuid`` accepts exactly what a tillflow validator does; ``email``
(a 2 to 4 letter ASCII top-level domain), ``ip address`` (any 1 to 3
digits per part), ``ipv6 address``, ``phone number``, ``credit card
number``, the dates, times, numbers, percentages and money have no tillflow
check that accepts the same values, and are not supported.

What tillflow takes as Soda gives it: patterns run with Rust's ``regex``
(as RE2 in DuckDB and BigQuery; no look-around), ``filter``, ``where`` and
``fail condition`` are SQL that Polars reads, schema types are tillflow's
names (int, integer, float, number, numeric, decimal, bool, boolean,
string, str, text, date, datetime, timestamp) judged by family, not a
warehouse's type names (``varchar``, ``bigint``: not supported). NaN is
outside what SodaCL says: Soda leaves it to the warehouse's SQL (PostgreSQL
and DuckDB order NaN above every number, BigQuery compares it false), so
tillflow's own treatment applies: missing for ``not_null``, failing
``between``, left out of aggregates. Soda measures the freshness of a DATE
column from the day's last microsecond, tillflow from its midnight.

Passed over, as they steer Soda Cloud or failed-row samples and not what
passes: ``identity``, ``attributes`` (a check's, and the dataset's
``- attributes:`` item), ``samples limit``, ``samples columns``, ``collect
failed rows``; and on missing metrics the validity keys, which Soda's
missing count does not read (``include null: false`` is the default).

Not supported, each named when met: anomaly detection and scores, change
over time, distribution, group by, group evolution, ``for each``, user-defined
metrics (``... query``, ``... expression``), ``fail query``, reconciliation,
``configurations for``, ``variables`` and the data-source sections;
``stddev_pop``, ``variance``, ``var_pop``, ``var_samp``, ``percentile``
and ``percentile_disc`` (Soda's are discrete, tillflow's interpolates),
``avg_length``, ``valid_count``, ``valid_percent``,
``distribution_difference``; ``must not exist in``; ``row_count same as`` another
partition or data source; freshness with a NOW variable or a filter; schema
validations other than types (required columns without a type, forbidden
columns, indexes, schema changes); ``include null: true`` on a validity
check (on a missing check it is passed over); several validity keys
in one check (Soda counts a row once when it breaks any); missing values
beside ranges, lengths or patterns; variables in thresholds.

Writing is the inverse for every rule with an exact SodaCL form and raises
`RuleError` naming the rule and what stands in the way for the rest: other
kinds, ``by=``, a Polars expression, a frame as ``to=``, a share tolerance
no rounded percentage matches, a tolerance on a check that takes none
(reference, ``row_count same as``), open ``between`` bounds (``valid min``
and ``valid max`` are inclusive), ``unique`` counting ``"all"`` or
``"extra"``, a compound ``relationships`` without its ``_partial_key``
rule. An expression with ``when=`` is written as a failed rows check whose
condition carries it.
"""

from __future__ import annotations

from tillflow.rules.contracts._soda_read import looks_like, read
from tillflow.rules.contracts._soda_write import write

__all__ = ["looks_like", "read", "write"]
