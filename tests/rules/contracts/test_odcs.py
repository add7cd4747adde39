"""Open Data Contract Standard (v3.0) contracts: read as the standard writes
them, checked against DuckDB SQL of what the standard's terms count, written
back in the v3.0.2 JSON schema's form, and every unsupported item named."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import polars as pl
import pytest
import yaml

import tillflow as tl
from tillflow import rules as r
from tillflow.rules import contracts

DATA = Path(__file__).parent / "data"
SCHEMA = json.loads((DATA / "odcs-json-schema-v3.0.2.json").read_text(encoding="utf-8"))

# A contract as the standard's examples write one (full-example.odcs.yaml and the quality pages).
STANDARD = """\
domain: seller
dataProduct: my quantum
version: 1.1.0
status: active
id: 53581432-6c55-4ba2-a65f-72344a91553a
description:
  purpose: Views built on top of the seller tables.
  limitations: Data based on seller perspective, no buyer information
tenant: ClimateQuantumInc
kind: DataContract
apiVersion: v3.0.2
servers:
  - server: my-postgres
    type: postgres
    host: localhost
    port: 5432
    database: pypl-edw
    schema: pp_access_views
schema:
  - name: tbl
    physicalName: tbl_1
    physicalType: table
    businessName: Core Payment Metrics
    description: Provides core payment metrics
    authoritativeDefinitions:
      - url: https://catalog.data.gov/dataset/air-quality
        type: businessDefinition
    tags: ['finance', 'payments']
    dataGranularityDescription: Aggregation on columns txn_ref_dt, pmt_txn_id
    properties:
      - name: transaction_reference_date
        physicalName: txn_ref_dt
        primaryKey: false
        primaryKeyPosition: -1
        businessName: transaction reference date
        logicalType: date
        physicalType: date
        required: false
        partitioned: true
        partitionKeyPosition: 1
        criticalDataElement: false
        tags: []
        classification: public
        transformSourceObjects: [table_name_1, table_name_2]
        transformLogic: sel t1.txn_dt as txn_ref_dt from table_name_1 as t1
        transformDescription: defines the logic in business terms
        examples: ["2022-10-03", "2020-01-28"]
        customProperties:
          - property: anonymizationStrategy
            value: none
      - name: rcvr_id
        primaryKey: true
        primaryKeyPosition: 1
        businessName: receiver id
        logicalType: string
        physicalType: varchar(18)
        required: false
        classification: restricted
      - name: rcvr_cntry_code
        businessName: receiver country code
        logicalType: string
        physicalType: varchar(2)
        logicalTypeOptions:
          minLength: 2
          maxLength: 2
          pattern: ^[A-Z]+$
        encryptedName: rcvr_cntry_code_encrypted
        quality:
          - rule: nullCheck
            description: column should not contain null values
            dimension: completeness
            type: library
            severity: error
            businessImpact: operational
            schedule: 0 20 * * *
            scheduler: cron
            customProperties:
              - property: COMPARISON_TYPE
                value: Greater than
          - rule: validValues
            validValues: ['US', 'FR', 'DE']
            mustBeLessThan: 3
            unit: rows
            severity: warning
      - name: amount
        logicalType: number
        physicalType: double
        logicalTypeOptions: {minimum: 0, maximum: 100, exclusiveMinimum: true}
        quality:
          - rule: nullCheck
            mustBeLessOrEqualTo: 10
            unit: percent
      - name: email
        logicalType: string
        logicalTypeOptions: {format: email}
        unique: true
        quality:
          - type: library
            rule: duplicateCount
            mustBeLessThan: 10
            name: Fewer than 10 duplicate emails
            unit: rows
          - type: text
            description: The email address was verified by the system.
    quality:
      - rule: rowCount
        mustBeBetween: [100, 120]
        name: Verify row count range
    customProperties:
      - property: business-key
        value: [txn_ref_dt, rcvr_id]
price:
  priceAmount: 9.95
  priceCurrency: USD
  priceUnit: megabyte
team:
  - username: ceastwood
    role: Data Scientist
    dateIn: "2022-08-02"
roles:
  - role: microstrategy_user_opr
    access: read
slaDefaultElement: tab1.txn_ref_dt
slaProperties:
  - property: latency
    value: 4
    unit: d
support:
  - channel: '#product-help'
    tool: slack
    url: https://aidaug.slack.com/archives/C05UZRSBKLY
tags: [transactions]
customProperties:
  - property: refRulesetName
    value: gcsc.ruleset.name
contractCreatedTs: "2022-11-15T02:59:43+00:00"
"""


def standard() -> dict[str, Any]:
    return yaml.safe_load(STANDARD)


def valid_odcs(doc: dict[str, Any]) -> None:
    jsonschema.Draft201909Validator(SCHEMA).validate(json.loads(json.dumps(doc, default=str)))


def test_a_contract_as_the_standard_writes_it():
    doc = standard()
    valid_odcs(doc)
    assert contracts.detect(doc) == "odcs"
    tables = contracts.from_odcs(doc)
    assert list(tables) == ["tbl_1"]  # physicalName is the table, as the reference implementation reads it
    rs = tables["tbl_1"]
    assert rs.key == ("rcvr_id",)
    assert rs.rules == [
        r.schema(
            {
                "txn_ref_dt": "date",
                "rcvr_id": "string",
                "rcvr_cntry_code": "string",
                "amount": "number",
                "email": "string",
            }
        ),
        r.not_null("rcvr_id"),
        r.unique("rcvr_id"),
        r.length_between("rcvr_cntry_code", 2, 2),
        r.matches("rcvr_cntry_code", "^[A-Z]+$"),
        r.not_null("rcvr_cntry_code", severity="error"),
        r.is_in("rcvr_cntry_code", ["US", "FR", "DE"], tolerance=2, severity="warn"),
        r.between("amount", 0, 100, min_inclusive=False),
        r.not_null("amount", tolerance="10%"),
        r.unique("email"),
        r.is_email("email"),
        r.unique("email", tolerance=9, name="Fewer than 10 duplicate emails"),
        r.row_count(100, 120, name="Verify row count range"),
    ]


# -- what the checks count, against DuckDB


ORDERS = """\
apiVersion: v3.0.1
kind: DataContract
id: orders
version: 1.0.0
status: active
schema:
  - name: orders
    properties:
      - {name: line, logicalType: integer, primaryKey: true, primaryKeyPosition: 2}
      - {name: order_id, logicalType: integer, primaryKey: true, primaryKeyPosition: 1}
      - name: email
        logicalType: string
        unique: true
      - name: zip
        logicalType: string
        logicalTypeOptions: {pattern: '^\\d{5}$'}
      - name: name
        logicalType: string
        logicalTypeOptions: {minLength: 2, maxLength: 3}
      - name: status
        logicalType: string
        quality:
          - {rule: validValues, validValues: [paid, open, refunded], mustBeLessOrEqualTo: 1}
      - name: amount
        logicalType: number
        logicalTypeOptions: {minimum: 0, maximum: 100, exclusiveMaximum: true}
      - name: weight
        logicalType: number
        quality:
          - {rule: nullCheck, mustBeLessOrEqualTo: 20, unit: percent}
      - name: sku
        quality:
          - {rule: duplicateCount, mustBeLessOrEqualTo: 1}
    quality:
      - {rule: rowCount, mustBeBetween: [5, 10]}
"""

FRAME = pl.DataFrame(
    {
        "order_id": [1, 1, 2, 2, 3, 3, 4, 5, None, 6],
        "line": [1, 2, 1, 1, 1, 2, 1, 1, 1, None],
        "email": [
            "ann@x.de",
            "Ann@x.de",
            "zoë@x.de",
            "zoë@x.de",
            None,
            None,
            "東京@例え.jp",
            "東京@例え.jp",
            "東京@例え.jp",
            "b@x.de",
        ],
        "zip": ["12345", "١٢٣٤٥", "1234", "12345 ", "02134", None, "99999", "abcde", "123456", "00000"],
        "name": ["Ann", "Zoë", "🍕🍕", "", "東京", "Al ", "Bob", None, "A", "Jo"],
        "status": ["paid", "open", "PAID", "päid", "refunded", None, "open", "paid", "void", "paid"],
        "amount": [10.0, float("nan"), None, 100.0, 0.0, -1.0, 99.5, 50.0, 1e9, 0.125],
        "weight": [1.0, None, 2.0, None, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        "sku": ["a", "a", "b", "b", "c", "d", "e", "f", "g", "h"],
    }
)

# Per check: the failing count the standard's terms give (None for whole-data checks), and its verdict.
DUPLICATES = "SELECT count(*) FROM (SELECT {0} FROM t WHERE {1} GROUP BY {0} HAVING count(*) > 1)"
SQL = {
    "not_null_order_id": ("SELECT count(*) FROM t WHERE order_id IS NULL", "= 0"),
    "not_null_line": ("SELECT count(*) FROM t WHERE line IS NULL", "= 0"),
    "unique_email": (DUPLICATES.format("email", "email IS NOT NULL"), "= 0"),
    # ECMA-262's \d is [0-9] (so is RE2's), and a pattern searches unanchored; nulls are not checked.
    "matches_zip": ("SELECT count(*) FROM t WHERE NOT regexp_matches(zip, '^\\d{5}$')", "= 0"),
    # JSON Schema's lengths count characters (code points), as DuckDB's length does.
    "length_between_name": ("SELECT count(*) FROM t WHERE length(name) NOT BETWEEN 2 AND 3", "= 0"),
    "is_in_status": ("SELECT count(*) FROM t WHERE status NOT IN ('paid', 'open', 'refunded')", "<= 1"),
    # minimum inclusive, exclusiveMaximum; NaN compares to nothing (IEEE), so it is in no range.
    "between_amount": ("SELECT count(*) FROM t WHERE amount < 0 OR amount >= 100 OR isnan(amount)", "= 0"),
    # unit: percent is a share of all rows; 20% of 10 rows passes at the bound.
    "not_null_weight": ("SELECT count(*) FROM t WHERE weight IS NULL", "* 100.0 / 10 <= 20"),
    "unique_sku": (DUPLICATES.format("sku", "sku IS NOT NULL"), "<= 1"),
    "unique_order_id_line": (
        DUPLICATES.format("order_id, line", "order_id IS NOT NULL AND line IS NOT NULL"),
        "= 0",
    ),
}
WHOLE = {
    "row_count": "SELECT count(*) BETWEEN 5 AND 10 FROM t",  # mustBeBetween includes both ends
    "schema": "SELECT bool_and(CASE WHEN column_name IN ('order_id', 'line') THEN column_type = 'BIGINT' "
    "WHEN column_name IN ('amount', 'weight') THEN column_type IN ('DOUBLE', 'BIGINT', 'DECIMAL') "
    "WHEN column_name IN ('email', 'zip', 'name', 'status') THEN column_type = 'VARCHAR' ELSE true END) "
    "FROM (DESCRIBE t)",
}


def sql(query: str) -> Any:
    con = duckdb.connect()
    con.register("t", FRAME.to_arrow())
    return con.sql(query).fetchall()[0][0]


def test_checks_count_what_the_standard_says_as_sql_counts_it():
    rs = contracts.from_odcs(yaml.safe_load(ORDERS))["orders"]
    assert rs.key == ("order_id", "line")  # primaryKeyPosition orders the key
    report = rs.validate(FRAME)
    assert {res.rule for res in report} == set(SQL) | set(WHOLE)
    for res in report:
        if res.rule in WHOLE:
            assert res.failing is None and res.passed == sql(WHOLE[res.rule]), res.rule
            continue
        query, verdict = SQL[res.rule]
        assert res.failing == sql(query), res.rule
        assert res.passed == sql(f"SELECT ({query}) {verdict}"), res.rule
    counts = {res.rule: res.failing for res in report if res.failing}
    assert counts == {
        "not_null_order_id": 1,
        "not_null_line": 1,
        "unique_email": 2,
        "matches_zip": 5,
        "length_between_name": 2,
        "is_in_status": 3,
        "between_amount": 4,
        "not_null_weight": 2,
        "unique_sku": 2,
        "unique_order_id_line": 1,
    }
    assert [res.rule for res in report if not res.passed] == [
        "not_null_line",
        "not_null_order_id",
        "unique_email",
        "matches_zip",
        "length_between_name",
        "is_in_status",
        "between_amount",
        "unique_sku",
        "unique_order_id_line",
    ]


def test_required_fails_nan_as_tillflow_not_null_does():
    # SQL's IS NULL does not count NaN; tillflow's not_null does (the module says so).
    doc = yaml.safe_load(ORDERS)
    doc["schema"][0]["properties"] = [{"name": "amount", "required": True}]
    del doc["schema"][0]["quality"]
    rs = contracts.from_odcs(doc)["orders"]
    assert rs.rules == [r.not_null("amount")]
    assert rs.validate(FRAME).results[0].failing == sql("SELECT count(*) FROM t WHERE amount IS NULL") + 1


@pytest.mark.parametrize(
    ("pattern", "value", "passes"),
    [
        (r"^\d{3}$", "123", True),
        (r"^\d{3}$", "١٢٣", False),  # ECMA-262's \d is ASCII; Rust's would take Arabic-Indic digits
        (r"^\w+$", "zoë", False),
        (r"^\s$", "\u0085", False),  # NEL is white space to Rust, not to ECMA-262
        (r"^\s$", "\ufeff", True),  # and the BOM the other way round
        (r"^a.c$", "a\rc", False),  # . stops at every line terminator
        (r"^a.c$", "aéc", True),
        (r"\bé", "é", False),  # word characters are ASCII ones: no boundary before é
        (r"\bé", "xé", True),
        (r"\p{L}", "p{L}", True),  # \p is the letter p without the u flag
        (r"x{,2}", "x{,2}", True),  # a brace that starts no quantifier is a brace
        (r"^[a\-z]$", "-", True),  # an escaped dash is a dash, not a range
        (r"^[a\-z]$", "b", False),
        ("bc", "abcd", True),  # unanchored search
        ("^bc", "abcd", False),
        ("bc$", "bc\n", False),  # $ is the very end, before a final newline too
    ],
)
def test_patterns_match_as_ecma_262_does(pattern, value, passes):
    doc = {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": "p",
        "version": "1",
        "status": "active",
        "schema": [
            {
                "name": "t",
                "properties": [
                    {"name": "s", "logicalType": "string", "logicalTypeOptions": {"pattern": pattern}}
                ],
            }
        ],
    }
    rs = contracts.from_odcs(doc)["t"]
    assert rs.validate(pl.DataFrame({"s": [value]}))["matches_s"].passed is passes


# -- round trips


CANONICAL: dict[str, Any] = {
    "apiVersion": "v3.0.2",
    "kind": "DataContract",
    "id": "orders-v1",
    "name": "orders",
    "version": "1.0.0",
    "status": "active",
    "schema": [
        {
            "name": "orders",
            "properties": [
                {"name": "order_id", "primaryKey": True, "primaryKeyPosition": 1, "logicalType": "integer"},
                {"name": "line", "primaryKey": True, "primaryKeyPosition": 2, "logicalType": "integer"},
                {
                    "name": "ordered",
                    "logicalType": "date",
                    "physicalType": "date",
                    "logicalTypeOptions": {"minimum": "2020-01-01"},
                },
                {"name": "shipped_at", "logicalType": "date", "physicalType": "timestamp", "required": True},
                {
                    "name": "email",
                    "logicalType": "string",
                    "logicalTypeOptions": {"format": "email"},
                    "unique": True,
                },
                {
                    "name": "zip",
                    "logicalType": "string",
                    "logicalTypeOptions": {"minLength": 5, "maxLength": 5, "pattern": "^[0-9]+$"},
                },
                {
                    "name": "total",
                    "logicalType": "number",
                    "logicalTypeOptions": {"minimum": 0, "maximum": 10000, "exclusiveMaximum": True},
                    "quality": [
                        {
                            "rule": "nullCheck",
                            "mustBeLessOrEqualTo": 5,
                            "unit": "percent",
                            "name": "total mostly present",
                            "severity": "warning",
                        }
                    ],
                },
                {"name": "paid", "logicalType": "boolean"},
                {
                    "name": "status",
                    "logicalType": "string",
                    "quality": [
                        {
                            "rule": "validValues",
                            "validValues": ["paid", "open"],
                            "mustBeLessOrEqualTo": 3,
                            "customProperties": [{"property": "tillflowWhen", "value": "paid"}],
                        }
                    ],
                },
                {"name": "sku", "quality": [{"rule": "duplicateCount", "mustBeLessOrEqualTo": 1}]},
                {
                    "name": "updated_at",
                    "quality": [
                        {
                            "type": "custom",
                            "engine": "tillflow",
                            "implementation": {"freshness": "updated_at", "max_age": "2d"},
                        }
                    ],
                },
            ],
            "quality": [
                {"rule": "rowCount", "mustBeBetween": [1, 1000000]},
                {
                    "type": "custom",
                    "engine": "tillflow",
                    "implementation": {"compare": ["ordered", "<=", "shipped_at"], "severity": "warn"},
                },
            ],
        },
        {
            "name": "customers",
            "properties": [{"name": "id", "logicalType": "string", "required": True}],
            "quality": [{"rule": "rowCount", "mustBeGreaterOrEqualTo": 1}],
            "customProperties": [
                {"property": "tillflowKey", "value": ["id"]},
                {"property": "tillflowSampleSize", "value": 3},
            ],
        },
    ],
}


def test_a_canonical_contract_reads_and_writes_back_unchanged():
    valid_odcs(CANONICAL)
    tables = contracts.from_odcs(CANONICAL)
    assert tables["orders"].rules[:3] == [
        r.schema(
            {
                "order_id": "int",
                "line": "int",
                "ordered": "date",
                "shipped_at": "datetime",
                "email": "string",
                "zip": "string",
                "total": "number",
                "paid": "bool",
                "status": "string",
            }
        ),
        r.not_null("order_id"),
        r.not_null("line"),
    ]
    assert r.is_in("status", ["paid", "open"], tolerance=3, when="paid") in tables["orders"].rules
    assert tables["customers"].key == ("id",) and tables["customers"].sample_size == 3
    assert contracts.to_odcs(tables, id="orders-v1", name="orders") == CANONICAL


def every_kind() -> list[r.Rule]:
    """One rule of each kind (but matches_json_schema, below), each in a form ODCS has no word for."""
    return [
        r.not_null("a", "b"),  # several columns in one rule
        r.unique("id", count="all"),
        r.between("amount", 0, 10, min_inclusive=True),  # the inclusive side said out loud
        r.matches("code", r"^\d+$"),  # \d means more in tillflow's syntax than in ODCS's
        r.is_in("status", ["paid"], tolerance="2.50%"),
        r.relationships("customer_id", to="customers.id"),
        r.compare("subtotal", "<=", "total"),
        r.expression("total >= 0", severity="warn"),
        r.row_count(min=1, by="status"),
        r.freshness("updated_at", "2d"),
        r.schema({"id": "int"}, strict=True),
        r.is_null("deleted_at"),
        r.not_in("status", ["void"]),
        r.is_finite("amount"),
        r.decimal_places("amount", 2),
        r.not_matches("name", r"\s$"),
        r.not_empty("name"),
        r.trimmed("name"),
        r.length_between("name", 1, 80, when="name IS NOT NULL"),
        r.starts_with("sku", "SKU-"),
        r.ends_with("email", ".com"),
        r.contains("email", "@"),
        r.parses_as("ordered", "date", format="%Y-%m-%d"),
        r.is_email("email", when="status = 'paid'"),
        r.is_url("site", schemes=["https"]),
        r.is_uuid("token", version=4),
        r.is_ipv4("ip", severity="warn"),
        r.is_ipv6("ip6", name="ipv6 address"),
        r.is_ip("ip_any"),
        r.is_ip_in_network("ip", ["10.0.0.0/8"]),
        r.is_e164("phone"),
        r.is_currency_code("currency"),
        r.is_country_code("country", alpha=2),
        r.is_language_code("lang"),
        r.is_iban("iban"),
        r.is_card_number("card"),
        r.is_postal_code("zip", "DE"),
        r.is_json("payload"),
        r.not_in_future("ordered", slack="1h"),
        r.not_older_than("ordered", "365d"),
        r.within("ordered", "shipped", max="3d"),
        r.sum_equals("total", ["subtotal", "tax"]),
        r.distinct_across("a", "b"),
        r.complete("a", "b"),
        r.any_present("a", "b"),
        r.reconcile("total", to="lines.price", key="id", to_key="order_id"),
        r.increasing("id", strict=True),
        r.decreasing("rank"),
        r.no_outliers("amount", method="zscore"),
        r.no_sequence_gaps("id"),
        r.no_gaps("ordered", "1d"),
        r.is_daily("ordered", holidays=["2024-12-25"]),
        r.distinct_count("status", min=2),
        r.distinct_ratio("id", min=0.5),
        r.contains_values("status", ["paid"]),
        r.sum_between("amount", 0, 1000),
        r.mean_between("amount", 0, 100),
        r.stddev_between("amount", max=50),
        r.min_between("amount", min=0),
        r.max_between("amount", max=1000),
        r.median_between("amount", 1, 99),
        r.quantile_between("amount", 0.9, max=500),
        r.aggregate_compare("amount", "sum", "<=", other="total"),
        r.row_count_matches("orders_copy"),
    ]


def custom_kinds(doc: dict[str, Any]) -> list[str]:
    out = []
    for obj in doc["schema"]:
        items = [q for p in obj.get("properties", []) for q in p.get("quality", [])] + obj.get("quality", [])
        out += [next(iter(q["implementation"])) for q in items if q.get("type") == "custom"]
    return out


def test_every_tillflow_kind_round_trips_through_custom_items():
    rules = every_kind()
    assert {rule.kind for rule in rules} == set(r.KINDS) - {"matches_json_schema"}
    tables = {"orders": tl.RuleSet(rules, key=["id"], sample_size=5)}
    doc = contracts.to_odcs(tables, name="everything")
    valid_odcs(doc)
    assert sorted(custom_kinds(doc)) == sorted(rule.kind for rule in rules)
    assert contracts.from_odcs(doc) == tables


@pytest.mark.parametrize(
    "rule",
    [
        lambda: r.matches_json_schema("payload", {"type": "object"}),
        lambda: r.sum_equals("total", ["subtotal", "tax"], within=0.01),
        lambda: r.row_count_matches("orders_copy", within=0.1),
    ],
    ids=["matches_json_schema", "sum_equals", "row_count_matches"],
)
def test_options_named_like_kinds_round_trip_through_a_custom_item(rule):
    tables = {"t": tl.RuleSet([rule()])}
    assert contracts.from_odcs(contracts.to_odcs(tables)) == tables


def test_rules_take_the_standard_s_own_words_where_it_has_them():
    rules = [
        r.row_count(max=500),
        r.not_null("id"),
        r.unique("id"),
        r.matches("zip", "^[0-9]{5}$"),
        r.is_in("status", ["paid", "open"], severity="warn", name="known status"),
        r.not_null("email", tolerance=0.05),  # a fraction keeps its form in tillflowTolerance
        r.unique("email", tolerance=2, when="status = 'paid'"),
        r.schema({"id": "int", "zip": "string", "ratio": "number"}),
        r.schema({"ratio": "float"}, name="ratio is a float"),  # float has no logicalType: custom
        r.between("ratio", 0, 1, max_inclusive=False),
        r.between("size", 0, 9),  # options need a logicalType, which no schema rule gives size: custom
        r.between("ratio", max=0.5, name="ratio below a half"),  # one between per property: custom
    ]
    tables = {"t": tl.RuleSet(rules, key="id")}
    doc = contracts.to_odcs(tables, id="t")
    valid_odcs(doc)
    obj = doc["schema"][0]
    props = {p["name"]: p for p in obj["properties"]}
    assert props["id"] == {"name": "id", "primaryKey": True, "logicalType": "integer"}
    assert props["zip"] == {
        "name": "zip",
        "logicalType": "string",
        "logicalTypeOptions": {"pattern": "^[0-9]{5}$"},
    }
    assert props["status"]["quality"] == [
        {
            "rule": "validValues",
            "validValues": ["paid", "open"],
            "name": "known status",
            "severity": "warning",
        }
    ]
    assert props["email"]["quality"] == [
        {
            "rule": "nullCheck",
            "mustBeLessOrEqualTo": 5,
            "unit": "percent",
            "customProperties": [{"property": "tillflowTolerance", "value": 0.05}],
        },
        {
            "rule": "duplicateCount",
            "mustBeLessOrEqualTo": 2,
            "customProperties": [{"property": "tillflowWhen", "value": "status = 'paid'"}],
        },
    ]
    assert props["ratio"]["logicalType"] == "number"
    assert props["ratio"]["logicalTypeOptions"] == {"minimum": 0, "maximum": 1, "exclusiveMaximum": True}
    assert props["ratio"]["quality"][0]["implementation"] == {
        "between": "ratio",
        "max": 0.5,
        "name": "ratio below a half",
    }
    assert custom_kinds(doc) == ["between", "between", "schema"]
    assert obj["quality"][0] == {"rule": "rowCount", "mustBeLessOrEqualTo": 500}
    order = [m["value"] for m in obj["customProperties"] if m["property"] == "tillflowOrder"]
    assert order == [[rule.name for rule in rules]]  # the layout moved the rules: their order is kept
    assert contracts.from_odcs(doc) == tables


def test_write_then_read_a_file(tmp_path):
    tables = contracts.from_odcs(standard())
    path = contracts.write(tables, tmp_path / "orders.odcs.yaml", format="odcs")
    assert contracts.read(path) == tables
    valid_odcs(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_rules_no_file_holds_are_named():
    with pytest.raises(tl.RuleError, match="rule positive: expression: a Polars expression"):
        contracts.to_odcs({"t": tl.RuleSet([r.expression(pl.col("x") > 0, name="positive")])})
    with pytest.raises(tl.RuleError, match="rule not_null_x: when: a Polars expression"):
        contracts.to_odcs({"t": tl.RuleSet([r.not_null("x", when=pl.col("y") > 0)])})
    frame = pl.DataFrame({"id": [1]})
    with pytest.raises(tl.RuleError, match="rule relationships_id: to: a frame"):
        contracts.to_odcs({"t": tl.RuleSet([r.relationships("id", to=frame, field="id")])})


# -- what is not supported, and what is malformed


def put(doc: dict[str, Any], at: list[Any], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    target = out
    for key in at[:-1]:
        target = target[key]
    target[at[-1]] = value
    return out


PROP = ["schema", 0, "properties"]
Q = [*PROP, 2, "quality", 0]


@pytest.mark.parametrize(
    ("at", "value", "says"),
    [
        (
            Q,
            {
                "type": "sql",
                "name": "Few nulls",
                "query": "SELECT count(*) FROM ${object}",
                "mustBeLessThan": 3,
            },
            r"properties\[2\]\.quality\[0\]: sql quality 'Few nulls': not supported",
        ),
        (
            Q,
            {"type": "custom", "engine": "soda", "implementation": "type: duplicate_percent"},
            r"quality\[0\]\.engine: custom quality for engine 'soda': not supported",
        ),
        (
            Q,
            {"rule": "minCheck", "customProperties": [{"property": "min", "value": 100000}]},
            r"quality\[0\]\.rule: library rule 'minCheck': not supported",
        ),
        (Q, {"rule": "nullCheck", "mustNotBe": 3}, r"quality\[0\]\.mustNotBe: mustNotBe 3: not supported"),
        (
            Q,
            {"rule": "nullCheck", "mustNotBeBetween": [1, 3]},
            r"mustNotBeBetween: mustNotBeBetween \[1, 3\]: not supported",
        ),
        (
            Q,
            {"rule": "nullCheck", "mustBeGreaterThan": 3},
            r"quality\[0\]\.mustBeGreaterThan: mustBeGreaterThan 3 failing rows: not supported by tillflow",
        ),
        (
            Q,
            {"rule": "nullCheck", "mustBe": 2},
            r"quality\[0\]\.mustBe: mustBe 2 failing rows: not supported by tillflow; tillflow bounds",
        ),
        (Q, {"rule": "duplicateCount", "mustBeGreaterOrEqualTo": 0}, "no upper bound on failing rows"),
        (
            Q,
            {"rule": "duplicateCount", "mustBeLessThan": 1, "unit": "percent"},
            "mustBeLessThan with unit percent: not supported",
        ),
        (Q, {"rule": "nullCheck", "unit": "absolute"}, r"quality\[0\]\.unit: unit 'absolute': not supported"),
        (
            Q,
            {"rule": "nullCheck", "severity": "info"},
            r"quality\[0\]\.severity: severity 'info': not supported",
        ),
        (
            [*PROP, 2, "logicalType"],
            "array",
            r"properties\[2\]\.logicalType: property 'rcvr_cntry_code': "
            "logicalType array: not supported",
        ),
        ([*PROP, 2, "logicalType"], "object", "logicalType object: not supported"),
        ([*PROP, 0, "physicalType"], "time", "logicalType date held as 'time': not supported"),
        ([*PROP, 0, "physicalType"], "varchar(10)", "logicalType date held as 'varchar.10.': not supported"),
        ([*PROP, 0], {"name": "d", "logicalType": "date"}, "logicalType date without a date or timestamp"),
        (
            [*PROP, 0],
            {"name": "d", "logicalType": "date", "logicalTypeOptions": {"format": "HH:mm:ss"}},
            "logicalType date without",
        ),
        (
            [*PROP, 3, "logicalTypeOptions", "multipleOf"],
            5,
            r"logicalTypeOptions\.multipleOf: multipleOf: not",
        ),
        ([*PROP, 3, "logicalTypeOptions", "format"], "f64", "format 'f64': not supported"),
        ([*PROP, 4, "logicalTypeOptions", "format"], "uri", "format 'uri': not supported"),
        ([*PROP, 4, "logicalTypeOptions", "format"], "hostname", "format 'hostname': not supported"),
        (
            [*PROP, 2, "logicalTypeOptions", "pattern"],
            "^(?=A)[A-Z]+$",
            r"pattern '\^\(\?=A\)\[A-Z\]\+\$': not "
            r"supported by tillflow; lookaround",
        ),
        ([*PROP, 2, "logicalTypeOptions", "pattern"], r"^(\w)\1$", "the backreference"),
        (
            [*PROP, 2],
            {"name": "a", "properties": [{"name": "b"}]},
            r"\.properties: property 'a': nested properties",
        ),
        (
            [*PROP, 2],
            {"name": "a", "items": {"logicalType": "string"}},
            r"\.items: property 'a': nested items: not",
        ),
        (["apiVersion"], "v3.1.0", r"apiVersion: apiVersion 'v3.1.0': not supported"),
        (["apiVersion"], "v2.2.2", "apiVersion 'v2.2.2': not supported"),
    ],
)
def test_what_tillflow_cannot_check_is_named(at, value, says):
    with pytest.raises(tl.RuleError, match=says):
        contracts.from_odcs(put(standard(), at, value))


@pytest.mark.parametrize(
    ("at", "value", "says"),
    [
        (["owner"], "me", r"contract owner: unknown key for an ODCS v3.0 contract"),
        (["schema", 0, "columns"], [], r"schema\[0\]\.columns: unknown key for a schema object"),
        ([*PROP, 1, "nullable"], False, r"properties\[1\]\.nullable: unknown key for a property"),
        ([*PROP, 1, "items"], {}, r"properties\[1\]\.items: unknown key for a property"),
        (
            [*PROP, 2, "logicalTypeOptions", "minimum"],
            1,
            r"minimum: unknown key for logicalTypeOptions of a "
            "string property",
        ),
        ([*PROP, 3, "logicalTypeOptions", "exclusiveMinimum"], 0, "exclusiveMinimum: expected true or false"),
        (
            [*PROP, 2, "quality", 0, "threshold"],
            3,
            r"quality\[0\]\.threshold: unknown key for a quality item",
        ),
        (
            [*PROP, 2, "quality", 0, "query"],
            "SELECT 1",
            r"quality\[0\]\.query: query does not belong to a library",
        ),
        (
            [*PROP, 2, "quality", 0, "customProperties"],
            [{"property": "tillflowWhne", "value": "x"}],
            "tillflowWhne: unknown tillflow property",
        ),
        ([*PROP, 2, "required"], "yes", r"properties\[2\]\.required: expected true or false"),
        ([*PROP, 4, "quality", 0, "rule"], "rowCount", "rowCount belongs under a schema object"),
        (["schema", 0, "quality", 0, "rule"], "nullCheck", "nullCheck belongs under a property"),
        ([*PROP, 2, "quality", 1, "validValues"], "US", r"validValues: expected a list"),
        ([*PROP, 2, "quality", 0, "mustBeBetween"], [5, 1], "expected two numbers, the smaller first"),
        ([*PROP, 2, "quality", 0, "mustBeLessThan"], 0, "no count of failing rows passes"),
        (
            [*PROP, 2, "quality", 0],
            {"type": "custom", "engine": "tillflow", "implementation": {"frob": "x"}},
            r"quality\[0\]\.implementation: rule .*kind: no rule kind",
        ),
        (
            [*PROP, 0, "primaryKeyPosition"],
            2,
            "primaryKeyPosition: given for a property that is no primaryKey",
        ),
        (
            [*PROP, 0],
            {"name": "d", "primaryKey": True, "primaryKeyPosition": 1},
            "give each primary key property its own position",
        ),
        (["kind"], "DataProduct", "kind: expected DataContract"),
        (
            [*PROP, 3, "logicalType"],
            None,
            r"properties\[3\]\.logicalTypeOptions: give the property a logicalType",
        ),
        (["schema", 0, "properties", 3, "name"], "email", "column 'email' is described twice"),
    ],
)
def test_malformed_items_and_unknown_keys_are_errors(at, value, says):
    with pytest.raises(tl.RuleError, match=says):
        contracts.from_odcs(put(standard(), at, value))


def test_a_file_names_the_line_of_the_item(tmp_path):
    path = tmp_path / "contract.odcs.yaml"
    text = STANDARD.replace(
        "          - rule: validValues\n", "          - rule: validValues\n            foo: 1\n"
    )
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("            foo: 1") + 1
    with pytest.raises(tl.RuleError) as info:
        contracts.read(path)
    assert str(info.value).startswith(
        f"{path}:{line}: odcs contract schema[0].properties[2].quality[1].foo: "
    )
    sql_item = STANDARD.replace(
        "      - rule: rowCount\n",
        "      - type: sql\n        query: SELECT 1\n        mustBe: 1\n      - rule: rowCount\n",
    )
    path.write_text(sql_item, encoding="utf-8")
    line = sql_item.splitlines().index("      - type: sql") + 1
    with pytest.raises(tl.RuleError) as info:
        contracts.read(path)
    assert str(info.value).startswith(
        f"{path}:{line}: odcs contract schema[0].quality[0]: sql quality: not supported"
    )


def test_a_check_said_twice_is_named_apart():
    # The standard's column-completeness example: a primary key with a nullCheck of its own.
    doc = yaml.safe_load(
        """\
version: 1.0.0
apiVersion: v3.0.2
kind: DataContract
id: 53581432-6c55-4ba2-a65f-72344a91553a
status: active
name: my_table
dataProduct: my_quantum
schema:
  - name: Air_Quality
    description: Air quality of the city of New York
    dataGranularityDescription: Raw records
    physicalType: table
    tags: ['nyc', 'regional']
    properties:
    - name: UniqueID
      primaryKey: true
      businessName: Unique identifier
      logicalType: number
      physicalType: int
      quality:
      - description: This column should not contain null values
        dimension: completeness
        severity: error
        rule: nullCheck
        businessImpact: operational
"""
    )
    tables = contracts.from_odcs(doc)
    assert tables["Air_Quality"].rules == [
        r.schema({"UniqueID": "number"}),
        r.not_null("UniqueID"),
        r.unique("UniqueID"),
        r.not_null("UniqueID", severity="error", name="not_null_UniqueID#2"),
    ]
    assert contracts.from_odcs(contracts.to_odcs(tables)) == tables


def test_versions_and_descriptive_items_pass():
    for version in ("v3.0.0", "v3.0.1", "v3.0.2"):
        assert contracts.from_odcs(put(standard(), ["apiVersion"], version)) == contracts.from_odcs(
            standard()
        )
    bare = {"apiVersion": "v3.0.0", "kind": "DataContract", "id": "x", "version": "1", "status": "draft"}
    assert contracts.from_odcs(bare) == {}
    text_only = put(
        bare, ["schema"], [{"name": "t", "quality": [{"type": "text", "description": "Fresh daily."}]}]
    )
    assert contracts.from_odcs(text_only)["t"].rules == []
    # A date told from a timestamp by its format, when physicalType does not say.
    stamped = put(
        bare,
        ["schema"],
        [
            {
                "name": "t",
                "properties": [
                    {
                        "name": "at",
                        "logicalType": "date",
                        "logicalTypeOptions": {"format": "yyyy-MM-dd'T'HH:mm:ss"},
                    },
                    {
                        "name": "on",
                        "logicalType": "date",
                        "logicalTypeOptions": {"format": "yyyy-MM-dd", "minimum": dt.date(2020, 1, 1)},
                    },
                ],
            }
        ],
    )
    assert contracts.from_odcs(stamped)["t"].rules == [
        r.schema({"at": "datetime", "on": "date"}),
        r.between("on", dt.date(2020, 1, 1)),
    ]
    with pytest.raises(tl.RuleError, match="missing; a contract gives apiVersion"):
        contracts.from_odcs({"apiVersion": "v3.0.2", "kind": "DataContract"})


def test_tillflow_metadata_must_agree_with_the_standard_s_words():
    doc = put(standard(), [*Q[:-1], 1, "customProperties"], [{"property": "tillflowTolerance", "value": 5}])
    with pytest.raises(tl.RuleError, match="tillflowTolerance 5 differs from the operator's"):
        contracts.from_odcs(doc)
    doc = put(standard(), ["schema", 0, "customProperties"], [{"property": "tillflowOrder", "value": ["x"]}])
    with pytest.raises(tl.RuleError, match="tillflowOrder: expected the rules' names"):
        contracts.from_odcs(doc)
    doc = put(
        standard(), ["schema", 0, "customProperties"], [{"property": "tillflowKey", "value": ["email"]}]
    )
    with pytest.raises(tl.RuleError, match="tillflowKey: the primary key already gives the key"):
        contracts.from_odcs(doc)
    custom = {"type": "custom", "engine": "tillflow", "name": "a", "implementation": "not_null: x\nname: b\n"}
    with pytest.raises(tl.RuleError, match="name: differs from the implementation's"):
        contracts.from_odcs(put(standard(), Q, custom))
    custom["implementation"] = "not_null: rcvr_cntry_code\n"
    assert (
        r.not_null("rcvr_cntry_code", name="a")
        in contracts.from_odcs(put(standard(), Q, custom))["tbl_1"].rules
    )
