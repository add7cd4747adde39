"""Open Data Contract Standard (ODCS) v3.0 contracts, in and out.

A contract's ``schema`` holds its checks: each schema object is a table
(its ``physicalName``, else its ``name``), each property a column (likewise).
Read, they become rules:

====================================================  =====================================================
ODCS                                                  tillflow
====================================================  =====================================================
property ``required: true``                           ``not_null(col)``
property ``unique: true``                             ``unique(col)``: counts the distinct values that
                                                      repeat (ODCS does not say; as dbt and Soda count)
``primaryKey`` (and ``primaryKeyPosition``)           the rule set's key, in position order, with
                                                      ``not_null`` per column and ``unique`` of the key
``logicalType`` string, integer, number, boolean      one ``schema`` rule of the object: string, int,
                                                      number (any numeric type), bool
``logicalType: date``                                 ``date`` or ``datetime`` by physicalType (date...,
                                                      timestamp..., datetime...) or else by the date and
                                                      time letters of ``logicalTypeOptions.format``
``minimum``/``maximum``, ``exclusiveMinimum``/...     ``between(col, min, max)``, an exclusive side open
``minLength``/``maxLength``                           ``length_between`` (characters, as JSON Schema)
``pattern`` (ECMA-262)                                ``matches``: both search unanchored; the pattern is
                                                      rewritten where Rust's syntax reads it otherwise
                                                      (see `_odcs_pattern`)
``format`` email, uuid, ipv4, ipv6 (string)           ``is_email``, ``is_uuid``, ``is_ipv4``, ``is_ipv6``
quality ``rule: nullCheck``                           ``not_null(col)``
quality ``rule: duplicateCount``                      ``unique(col)`` (repeated values, as above)
quality ``rule: validValues`` + ``validValues``       ``is_in(col, values)``
quality ``rule: rowCount`` + operators                ``row_count(min, max)``
``type: custom``, ``engine: tillflow``                the rule in ``implementation`` (a rules-file entry,
                                                      as a mapping or YAML text)
====================================================  =====================================================

The operators of nullCheck, duplicateCount and validValues bound the
failing count: none (or ``mustBe: 0``) allows none; ``mustBeLessOrEqualTo:
n`` is ``tolerance=n``; ``mustBeLessThan: n`` is ``tolerance=n-1``;
``mustBeBetween: [0, n]`` is ``tolerance=n``. With ``unit: percent`` the
count is a share of all rows: ``mustBeLessOrEqualTo: 5`` is
``tolerance="5%"``. ``mustBeBetween`` includes both ends: ODCS's prose calls
it ``mustBeGreaterThan`` and ``mustBeLessThan`` together while its symbol is
the closed interval; the reference implementation (the Data Contract CLI)
includes both ends, and so does tillflow. A quality item's ``name`` and
``severity`` (error; warning as warn) are kept. logicalTypeOptions need a
logicalType (the standard's JSON schema admits none without one). A check
the contract says twice without a name (a primary key with a nullCheck of
its own) is named ``<name>#2`` the second time.

Not supported, each a `RuleError` naming the item: ``type: sql`` (an SQL
metric), ``custom`` for another engine, library rules other than the four
(v3.0's examples also show ``countCheck``, ``minCheck`` and ``between``
with their parameters in customProperties, which the standard does not
define), ``mustNotBe``/``mustNotBeBetween``, a lower bound on failing rows,
``mustBeLessThan`` with ``unit: percent`` (tillflow's share tolerance
includes its bound), units other than rows and percent, severities other
than error and warning, ``logicalType`` object and array and nested
``items`` or ``properties`` (nested data), ``date`` without physicalType or
format or held as a time or as text, ``multipleOf``, formats other than
the four (``uri`` is wider than tillflow's web URLs; integer and number
formats are storage widths), patterns with lookaround or backreferences,
and ``apiVersion`` other than v3.0.0 to v3.0.2. Unknown keys are errors
everywhere the standard's JSON schema closes an element (the contract,
schema objects, properties, logicalTypeOptions), and in quality items.

Passed over as descriptive: the contract's id, version, status, name,
domain, dataProduct, tenant, description, servers, team, roles,
slaDefaultElement, slaProperties, support, price, tags,
authoritativeDefinitions, customProperties and contractCreatedTs; an
object's physicalType, description, businessName,
dataGranularityDescription, tags, authoritativeDefinitions; a property's
businessName, description, physicalType (but for dates), partitioned,
partitionKeyPosition, classification, encryptedName, transformSourceObjects,
transformLogic, transformDescription, examples, criticalDataElement, tags,
authoritativeDefinitions and a date's format once physicalType has told
date from timestamp; a quality item's description, dimension, method,
businessImpact, schedule, scheduler, tags and authoritativeDefinitions;
``type: text`` items whole; customProperties whose names do not start
with ``tillflow``.

What the standard cannot say goes into customProperties under ``tillflow``
names: on a quality item ``tillflowWhen`` (``when=``) and
``tillflowTolerance`` (a fraction's exact form); on a schema object
``tillflowKey`` (a key that is no primary key), ``tillflowSampleSize`` and
``tillflowOrder`` (the rules' order, when the contract's layout changes it).
Any other rule is written as a ``custom`` item with ``engine: tillflow``
and its rules-file entry, so every rule a file can hold comes back as it
was. Two semantics to know: tillflow's ``not_null`` also fails NaN in a
float column, which SQL's ``IS NULL`` does not count; and a pattern counts
characters where ECMA-262 counts UTF-16 code units (they differ only
beyond U+FFFF).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tillflow.rules.contracts._common import Tables
from tillflow.rules.contracts._odcs_read import read as _read
from tillflow.rules.contracts._odcs_write import write as _write

__all__ = ["looks_like", "read", "write"]


def looks_like(data: Any) -> bool:
    """Whether ``data`` is an ODCS contract: ``kind: DataContract`` with an
    ``apiVersion`` (the reader says which versions it takes)."""
    return isinstance(data, Mapping) and data.get("kind") == "DataContract" and "apiVersion" in data


def read(data: Any) -> Tables:
    """``{table: RuleSet}`` from a parsed ODCS v3.0 contract, one rule set
    per schema object.

    Raises
    ------
    RuleError
        If an item is malformed or has no tillflow equivalent; the error's
        ``at`` is its key path.
    """
    return _read(data)


def write(tables: Tables, *, id: str | None = None, name: str | None = None) -> dict[str, Any]:
    """``{table: RuleSet}`` as an ODCS v3.0.2 contract mapping: ``id`` (by
    default derived from ``name`` and the tables), version 1.0.0, status
    active, one schema object per table.

    Raises
    ------
    RuleError
        If a rule holds what no file can (a Polars expression, a frame);
        the message names the rule.
    """
    return _write(tables, id=id, name=name)
