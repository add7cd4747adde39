"""Benchmark P3: validate N shop orders against 12 data-quality rules, with
tillflow's rules engine and its peers, and build the full failure report.

A first child process generates the orders once (numpy + polars, fixed seed,
untimed) with an exact, known number of injected failures per rule, and
writes them to one Parquet file. Each contender then runs in its own child
process (the parent stays small: Linux counts the parent's RSS at spawn time
into a child's ru_maxrss, so it must not hold the data): it reads
the file and builds its rule set / schema / suite (untimed "setup"), then
validates the frame --repeat times; the best run is reported. A run is the
validation plus building the contender's report and reading the per-rule
failing counts out of it. Peak RSS is the child's own ru_maxrss, with the
kernel's high-water mark reset after setup, so it is the peak while the data
sits in memory and is validated (the load/convert peak is printed apart).

Contenders:
  tillflow            tl.RuleSet([...], key=["id"]).validate(df), report.to_polars() and the
                      samples of failing rows (10 per check)
  polars_hand         the same 12 checks written by hand as Polars expressions in one df.select(...);
                      failing counts only, no samples
  pandera_polars      pandera.polars DataFrameSchema, validate(df, lazy=True) at SCHEMA_AND_DATA
                      depth; SchemaErrors.failure_cases counted per check
  pandera_pandas      pandera.pandas DataFrameSchema on df.to_pandas() (conversion in the untimed
                      setup; its time is printed); failure_cases counted per check
  great_expectations  GX 1.x, ephemeral context, pandas dataframe asset, an expectation suite run
                      through a ValidationDefinition (result_format SUMMARY: counts + 20 samples)

Every contender's failing count per rule is printed beside the injected truth.
polars_hand must match the truth exactly (the script exits 1 otherwise); other
contenders' differences are printed, with the rule semantics they match
where one is known (e.g. "every copy" of a duplicated key instead of "every
copy after the first").

Run by hand, never in the test suite:

    python benchmarks/p3_rules.py --rows 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

ALL = ["tillflow", "polars_hand", "pandera_polars", "pandera_pandas", "great_expectations"]
EMAIL_PATTERN = r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$"
STATUSES = ["paid", "pending", "refunded", "partially_refunded", "voided"]
CURRENCIES = ["USD", "EUR", "GBP", "CAD"]
PRICE_MIN, PRICE_MAX = 0, 10_000
QTY_MIN, QTY_MAX = 1, 100

# The 12 checks, in report order. Every contender reports its failing counts
# under these names. Semantics (tillflow's contract): a null passes every rule
# but not_null; unique fails each repeat of a key after its first row and
# ignores rows with a null key part. (No NaN is generated.)
RULES: list[tuple[str, str]] = [
    ("not_null_id", "id is not null"),
    ("not_null_customer_email", "customer_email is not null"),
    ("not_null_total_price", "total_price is not null"),
    ("unique_id", "id is unique"),
    ("between_total_price", f"{PRICE_MIN} <= total_price <= {PRICE_MAX}"),
    ("matches_customer_email", "customer_email matches the e-mail pattern"),
    ("is_in_financial_status", "financial_status in " + "/".join(STATUSES)),
    ("unique_store_order", "(store_id, order_number) is unique"),
    ("between_quantity", f"{QTY_MIN} <= quantity <= {QTY_MAX}"),
    ("subtotal_le_total", "subtotal_price <= total_price"),
    ("not_null_created_at", "created_at is not null"),
    ("is_in_currency", "currency in " + "/".join(CURRENCIES)),
]
RULE_NAMES = [name for name, _ in RULES]

# Fraction of rows that break each rule. Every injected failure lands on rows
# of its own (disjoint blocks of one random permutation), so the counts are exact.
RATES: dict[str, float] = {
    "not_null_id": 0.001,
    "not_null_customer_email": 0.015,
    "not_null_total_price": 0.005,
    "unique_id": 0.001,
    "between_total_price": 0.003,
    "matches_customer_email": 0.01,
    "is_in_financial_status": 0.005,
    "unique_store_order": 0.002,
    "between_quantity": 0.005,
    "subtotal_le_total": 0.008,
    "not_null_created_at": 0.002,
    "is_in_currency": 0.003,
}

# The value rules that also see the nulls of each not_null rule's column (for
# the "nulls fail" variants below).
NULLS_ALSO_CHECKED_BY = {
    "not_null_id": ["unique_id"],
    "not_null_customer_email": ["matches_customer_email"],
    "not_null_total_price": ["between_total_price", "subtotal_le_total"],
}

Counts = dict[str, int]


# --------------------------------------------------------------------------
# Data: deterministic shop orders with exact injected failures
# --------------------------------------------------------------------------

FIRST_NAMES = [
    "anna", "ben", "carla", "dev", "elif", "femi", "grace", "hugo", "ines", "jonas",
    "kim", "liam", "maya", "noah", "olga", "pia", "quinn", "rosa", "sam", "tariq",
]  # fmt: skip
LAST_NAMES = [
    "smith", "mueller", "garcia", "khan", "nguyen", "okafor", "rossi", "dubois",
    "kowalski", "tanaka", "silva", "jensen", "oconnor", "haddad", "novak", "berg",
]  # fmt: skip
# (host, top-level domain); hosts hold no dot, so "local@host" alone never matches.
DOMAINS = [
    ("gmail", "com"), ("outlook", "com"), ("yahoo", "co.uk"), ("icloud", "com"),
    ("web", "de"), ("orange", "fr"), ("shop-mail", "net"), ("proton", "me"),
]  # fmt: skip
BAD_STATUSES = ["PAID", "authorized", "unknown", "Pending", ""]
BAD_CURRENCIES = ["usd", "AUD", "JPY", "US$"]
BAD_QUANTITIES = [0, -1, -3, 101, 120, 250, 1000]
BASE_ID = 5_000_000_000_000  # Shopify-sized order ids
START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z in microseconds
SPAN_US = 2 * 365 * 86_400 * 1_000_000


def injected_counts(n: int) -> Counts:
    return {rule: max(1, round(n * rate)) for rule, rate in RATES.items()}


SPREAD = 1_000_003  # --sparse-keys: the stride between consecutive keys


def generate_orders(n: int, seed: int) -> pl.DataFrame:
    """Orders with exactly ``injected_counts(n)[rule]`` rows breaking each rule."""
    import numpy as np
    import polars as pl

    counts = injected_counts(n)
    # unique rules also need the rows whose keys get copied
    needed = sum(counts.values()) + counts["unique_id"] + counts["unique_store_order"]
    if needed > n:
        raise SystemExit(f"--rows {n} is too small for the injected failures (needs {needed})")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    blocks: dict[str, np.ndarray] = {}
    pos = 0
    for name, k in [*counts.items(), ("id_sources", counts["unique_id"]),
                    ("key_sources", counts["unique_store_order"])]:  # fmt: skip
        blocks[name] = np.sort(perm[pos : pos + k])
        pos += k

    def cycle(block: str, values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """The rows of a block and a bad value for each, cycling through ``values``."""
        rows = blocks[block]
        return rows, np.asarray(values)[np.arange(len(rows)) % len(values)]

    # ids: sequential; the unique_id rows repeat the id of another (source) row
    ids = BASE_ID + np.arange(n, dtype=np.int64)
    ids[blocks["unique_id"]] = ids[blocks["id_sources"]]

    # (store_id, order_number): per-store running numbers from 1001; some rows
    # repeat the key of another (source) row
    store_id = rng.integers(1, 51, n).astype(np.int32)
    by_store = np.argsort(store_id, kind="stable")
    sorted_store = store_id[by_store]
    order_number = np.empty(n, dtype=np.int64)
    order_number[by_store] = 1001 + np.arange(n) - np.searchsorted(sorted_store, sorted_store)
    store_id[blocks["unique_store_order"]] = store_id[blocks["key_sources"]]
    order_number[blocks["unique_store_order"]] = order_number[blocks["key_sources"]]

    # prices: subtotal = total / 1.08 (tax), both rounded to cents
    total = np.round(np.clip(rng.lognormal(4.0, 1.0, n), 1.0, 9_999.99), 2)
    rows = blocks["between_total_price"]
    half = len(rows) // 2
    total[rows[:half]] = -np.round(rng.uniform(1, 200, half), 2)  # negative (refund booked as a sale)
    total[rows[half:]] = np.round(PRICE_MAX + 0.01 + rng.uniform(0, 5_000, len(rows) - half), 2)
    subtotal = np.where(total < 0, total, np.round(total / 1.08, 2))
    rows = blocks["subtotal_le_total"]  # subtotal above total
    subtotal[rows] = total[rows] + np.round(rng.uniform(0.01, 50, len(rows)), 2)

    quantity = np.minimum(rng.geometric(0.45, n), QTY_MAX).astype(np.int64)
    rows, bad = cycle("between_quantity", BAD_QUANTITIES)
    quantity[rows] = bad

    created_us = START_US + np.arange(n, dtype=np.int64) * (SPAN_US // n) + rng.integers(0, 60_000_000, n)

    def pick(values: list[str], p: list[float], block: str, bad: list[str]) -> pl.Series:
        codes = rng.choice(len(values), size=n, p=p)
        s = pl.Series(values).gather(codes)
        rows, bad_values = cycle(block, bad)
        return s.scatter(rows, pl.Series(bad_values, dtype=pl.String))

    financial_status = pick(STATUSES, [0.86, 0.05, 0.04, 0.03, 0.02], "is_in_financial_status", BAD_STATUSES)
    currency = pick(CURRENCIES, [0.7, 0.12, 0.1, 0.08], "is_in_currency", BAD_CURRENCIES)

    # e-mails: first.last<n>[+shop]@host.tld; the bad ones take one of four broken shapes
    email_kind = np.full(n, -1, dtype=np.int8)
    email_kind[blocks["matches_customer_email"]] = np.arange(len(blocks["matches_customer_email"])) % 4
    domain = rng.integers(0, len(DOMAINS), n)
    parts = pl.DataFrame(
        {
            "first": pl.Series(FIRST_NAMES).gather(rng.integers(0, len(FIRST_NAMES), n)),
            "last": pl.Series(LAST_NAMES).gather(rng.integers(0, len(LAST_NAMES), n)),
            "num": rng.integers(1, 10_000, n),
            "tag": rng.random(n) < 0.05,
            "host": pl.Series([h for h, _ in DOMAINS]).gather(domain),
            "tld": pl.Series([t for _, t in DOMAINS]).gather(domain),
            "kind": email_kind,
        }
    )
    local = pl.concat_str(
        pl.col("first"), pl.lit("."), pl.col("last"), pl.col("num").cast(pl.String),
        pl.when(pl.col("tag")).then(pl.lit("+shop")).otherwise(pl.lit("")),
    )  # fmt: skip
    fqdn = pl.concat_str(pl.col("host"), pl.lit("."), pl.col("tld"))
    kind = pl.col("kind")
    email = (
        pl.when(kind == 0).then(pl.concat_str(local, pl.lit(" at "), fqdn))  # no @
        .when(kind == 1).then(pl.concat_str(local, pl.lit("@"), pl.col("host")))  # no top-level domain
        .when(kind == 2).then(pl.concat_str(pl.col("first"), pl.lit(" "), pl.col("last"), pl.lit("@"), fqdn))
        .when(kind == 3).then(pl.concat_str(local, pl.lit("@@"), fqdn))  # double @
        .otherwise(pl.concat_str(local, pl.lit("@"), fqdn))
    )  # fmt: skip
    customer_email = parts.select(email.alias("customer_email")).to_series()

    def nulls_at(block: str) -> np.ndarray:
        mask = np.zeros(n, dtype=bool)
        mask[blocks[block]] = True
        return mask

    df = pl.DataFrame(
        {
            "id": ids,
            "store_id": store_id,
            "order_number": order_number,
            "customer_email": customer_email,
            "financial_status": financial_status,
            "currency": currency,
            "quantity": quantity,
            "subtotal_price": subtotal,
            "total_price": total,
            "created_at": pl.Series(created_us).cast(pl.Datetime("us", "UTC")),
            "_null_id": nulls_at("not_null_id"),
            "_null_email": nulls_at("not_null_customer_email"),
            "_null_total": nulls_at("not_null_total_price"),
            "_null_created": nulls_at("not_null_created_at"),
        }
    )
    nullify = {"id": "_null_id", "customer_email": "_null_email",
               "total_price": "_null_total", "created_at": "_null_created"}  # fmt: skip
    return df.with_columns(
        pl.when(~pl.col(mask)).then(pl.col(column)).alias(column) for column, mask in nullify.items()
    ).drop(nullify.values())


def semantic_variants(n: int) -> dict[str, list[tuple[str, int]]]:
    """Counts other tools' semantics give on the generated data, to explain
    a difference from the truth (which follows tillflow's contract)."""
    c = injected_counts(n)
    null_ids = c["not_null_id"]
    variants: dict[str, list[tuple[str, int]]] = {
        "unique_id": [
            ("every copy of a repeated key (keep=False)", 2 * c["unique_id"]),
            ("every copy, null ids counted as one repeated key",
             2 * c["unique_id"] + (null_ids if null_ids > 1 else 0)),
            ("after the first copy, null ids counted as one key", c["unique_id"] + null_ids - 1),
        ],
        "unique_store_order": [("every copy of a repeated key (keep=False)", 2 * c["unique_store_order"])],
    }  # fmt: skip
    for null_rule, rules in NULLS_ALSO_CHECKED_BY.items():
        for rule in rules:
            if rule != "unique_id":
                variants.setdefault(rule, []).append(("nulls fail", c[rule] + c[null_rule]))
    return variants


# --------------------------------------------------------------------------
# Contenders. Each setup_* runs untimed in the child and returns the timed
# callable, which validates, builds the report and returns failing counts.
# --------------------------------------------------------------------------


def setup_tillflow(df: pl.DataFrame) -> Callable[[], Counts]:
    import tillflow as tl
    from tillflow import rules as r

    rule_set = tl.RuleSet(
        [
            r.not_null("id", name="not_null_id"),
            r.not_null("customer_email", name="not_null_customer_email"),
            r.not_null("total_price", name="not_null_total_price"),
            r.unique("id", name="unique_id"),
            r.between("total_price", min=PRICE_MIN, max=PRICE_MAX, name="between_total_price"),
            r.matches("customer_email", EMAIL_PATTERN, name="matches_customer_email"),
            r.is_in("financial_status", STATUSES, name="is_in_financial_status"),
            r.unique("store_id", "order_number", name="unique_store_order"),
            r.between("quantity", min=QTY_MIN, max=QTY_MAX, name="between_quantity"),
            r.compare("subtotal_price", "<=", "total_price", name="subtotal_le_total"),
            r.not_null("created_at", name="not_null_created_at"),
            r.is_in("currency", CURRENCIES, name="is_in_currency"),
        ],
        key=["id"],
    )

    def run() -> Counts:
        report = rule_set.validate(df)
        table = report.to_polars()
        if sum(result.sample.height for result in report.results) > 10 * len(RULES):
            raise RuntimeError("more sampled rows than sample_size allows")
        return dict(zip(table["rule"].to_list(), table["failing"].to_list(), strict=True))

    return run


def setup_polars_hand(df: pl.DataFrame) -> Callable[[], Counts]:
    import polars as pl

    def fails(ok: pl.Expr) -> pl.Expr:
        """Rows where the check is false; a null outcome (null input) passes."""
        return (~ok).sum()

    def repeats(*columns: str) -> pl.Expr:
        """Rows repeating an earlier row's key; rows with a null key part are ignored."""
        key = pl.col(columns[0]) if len(columns) == 1 else pl.struct(columns)
        has_key = pl.all_horizontal(pl.col(c).is_not_null() for c in columns)
        return (has_key & ~key.is_first_distinct()).sum()

    total = pl.col("total_price")
    checks = {
        "not_null_id": pl.col("id").is_null().sum(),
        "not_null_customer_email": pl.col("customer_email").is_null().sum(),
        "not_null_total_price": (total.is_null() | total.is_nan()).sum(),  # NaN counts as missing
        "unique_id": repeats("id"),
        "between_total_price": fails(total.is_between(PRICE_MIN, PRICE_MAX)),
        "matches_customer_email": fails(pl.col("customer_email").str.contains(EMAIL_PATTERN)),
        "is_in_financial_status": fails(pl.col("financial_status").is_in(STATUSES)),
        "unique_store_order": repeats("store_id", "order_number"),
        "between_quantity": fails(pl.col("quantity").is_between(QTY_MIN, QTY_MAX)),
        "subtotal_le_total": fails(pl.col("subtotal_price") <= total),
        "not_null_created_at": pl.col("created_at").is_null().sum(),
        "is_in_currency": fails(pl.col("currency").is_in(CURRENCIES)),
    }

    def run() -> Counts:
        row = df.select(**checks).row(0, named=True)
        return {name: int(value) for name, value in row.items()}

    return run


def _failure_case_counts(cases: Any) -> Counts:
    """Failing rows per rule from pandera's failure_cases frame (polars or
    pandas): each (column, check) pair is mapped to a rule, and a rule counts
    each failing row index once (a dataframe-level check lists a failing row
    once per column)."""
    import polars as pl

    if not isinstance(cases, pl.DataFrame):
        cases = pl.from_pandas(cases[["column", "check", "index"]].astype({"column": str, "check": str}))
    pairs = cases.select("column", "check").unique()
    rules = pairs.with_columns(
        rule=pl.Series(
            [_pandera_rule_of(column, check) for column, check in pairs.iter_rows()], dtype=pl.String
        )
    )
    index = pl.col("index")
    per_rule = (
        cases.join(rules, on=["column", "check"], nulls_equal=True)
        .group_by("rule")
        .agg(index.drop_nulls().n_unique() + index.null_count())
    )
    counts = dict.fromkeys(RULE_NAMES, 0)
    counts.update(dict(per_rule.iter_rows()))
    return counts


def _pandera_rule_of(column: str | None, check: str) -> str:
    """Maps a pandera (column, check) failure to one of the 12 rule names."""
    stem = check.split("(")[0]
    if stem in RULE_NAMES:
        return stem  # the named dataframe-level check
    if stem == "multiple_fields_uniqueness":
        return "unique_store_order"
    prefix = {
        "not_nullable": "not_null_",
        "field_uniqueness": "unique_",
        "in_range": "between_",
        "str_matches": "matches_",
        "isin": "is_in_",
    }.get(stem)
    if prefix and f"{prefix}{column}" in RULE_NAMES:
        return f"{prefix}{column}"
    raise RuntimeError(f"pandera failure case not mapped to a rule: column={column!r} check={check!r}")


def pandera_columns(pa: Any, **id_options: Any) -> dict[str, Any]:
    """The 12 rules' column checks, in pandera's polars or pandas flavour (``pa``)."""
    return {
        "id": pa.Column(None, nullable=False, unique=True, **id_options),
        "store_id": pa.Column(None, nullable=True),
        "order_number": pa.Column(None, nullable=True),
        "customer_email": pa.Column(None, nullable=False, checks=pa.Check.str_matches(EMAIL_PATTERN)),
        "financial_status": pa.Column(None, nullable=True, checks=pa.Check.isin(STATUSES)),
        "currency": pa.Column(None, nullable=True, checks=pa.Check.isin(CURRENCIES)),
        "quantity": pa.Column(None, nullable=True, checks=pa.Check.in_range(QTY_MIN, QTY_MAX)),
        "subtotal_price": pa.Column(None, nullable=True),
        "total_price": pa.Column(None, nullable=False, checks=pa.Check.in_range(PRICE_MIN, PRICE_MAX)),
        "created_at": pa.Column(None, nullable=False),
    }


def setup_pandera_polars(df: pl.DataFrame) -> Callable[[], Counts]:
    import pandera.polars as pa
    import polars as pl

    schema = pa.DataFrameSchema(
        pandera_columns(pa),
        checks=[
            pa.Check(
                lambda data: data.lazyframe.select(pl.col("subtotal_price") <= pl.col("total_price")),
                name="subtotal_le_total",
            )
        ],
        unique=["store_id", "order_number"],
    )

    def run() -> Counts:
        try:
            schema.validate(df, lazy=True)
        except pa.errors.SchemaErrors as err:
            return _failure_case_counts(err.failure_cases)
        return dict.fromkeys(RULE_NAMES, 0)

    return run


def setup_pandera_pandas(df: pl.DataFrame) -> Callable[[], Counts]:
    import pandera.pandas as pa

    pdf = df.to_pandas()
    schema = pa.DataFrameSchema(
        pandera_columns(pa, report_duplicates="exclude_first"),
        # pandas compares NaN as False: let missing prices pass, as in the other contenders
        checks=[
            pa.Check(
                lambda d: (
                    (d["subtotal_price"] <= d["total_price"])
                    | d["subtotal_price"].isna()
                    | d["total_price"].isna()
                ),
                name="subtotal_le_total",
            )
        ],
        unique=["store_id", "order_number"],
        report_duplicates="exclude_first",
    )

    def run() -> Counts:
        try:
            schema.validate(pdf, lazy=True)
        except pa.errors.SchemaErrors as err:
            return _failure_case_counts(err.failure_cases)
        return dict.fromkeys(RULE_NAMES, 0)

    return run


def setup_great_expectations(df: pl.DataFrame) -> Callable[[], Counts]:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    pdf = df.to_pandas()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("p3")
        .add_dataframe_asset("orders")
        .add_batch_definition_whole_dataframe("all_orders")
    )
    e = gx.expectations
    expectations: dict[str, Any] = {
        "not_null_id": e.ExpectColumnValuesToNotBeNull(column="id"),
        "not_null_customer_email": e.ExpectColumnValuesToNotBeNull(column="customer_email"),
        "not_null_total_price": e.ExpectColumnValuesToNotBeNull(column="total_price"),
        "unique_id": e.ExpectColumnValuesToBeUnique(column="id"),
        "between_total_price": e.ExpectColumnValuesToBeBetween(
            column="total_price", min_value=PRICE_MIN, max_value=PRICE_MAX
        ),
        "matches_customer_email": e.ExpectColumnValuesToMatchRegex(
            column="customer_email", regex=EMAIL_PATTERN
        ),
        "is_in_financial_status": e.ExpectColumnValuesToBeInSet(
            column="financial_status", value_set=STATUSES
        ),
        "unique_store_order": e.ExpectCompoundColumnsToBeUnique(column_list=["store_id", "order_number"]),
        "between_quantity": e.ExpectColumnValuesToBeBetween(
            column="quantity", min_value=QTY_MIN, max_value=QTY_MAX
        ),
        "subtotal_le_total": e.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="total_price",
            column_B="subtotal_price",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
        "not_null_created_at": e.ExpectColumnValuesToNotBeNull(column="created_at"),
        "is_in_currency": e.ExpectColumnValuesToBeInSet(column="currency", value_set=CURRENCIES),
    }
    suite = context.suites.add(gx.ExpectationSuite(name="p3_orders"))
    for rule, expectation in expectations.items():
        expectation.meta = {"rule": rule}
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="p3", data=batch, suite=suite)
    )

    def run() -> Counts:
        result = definition.run(batch_parameters={"dataframe": pdf})
        counts: Counts = {}
        for r in result.results:
            if r.expectation_config is None:
                raise RuntimeError("a GX validation result without its expectation")
            rule = r.expectation_config.meta["rule"]
            if r.exception_info and r.exception_info.get("raised_exception"):
                raise RuntimeError(f"{rule}: {r.exception_info.get('exception_message')}")
            counts[rule] = int(r.result["unexpected_count"])
        return counts

    return run


SETUPS: dict[str, Callable[[pl.DataFrame], Callable[[], Counts]]] = {
    "tillflow": setup_tillflow,
    "polars_hand": setup_polars_hand,
    "pandera_polars": setup_pandera_polars,
    "pandera_pandas": setup_pandera_pandas,
    "great_expectations": setup_great_expectations,
}
# The distributions whose versions each contender reports.
PACKAGES = {
    "tillflow": ["tillflow", "polars"],
    "polars_hand": ["polars"],
    "pandera_polars": ["pandera", "polars"],
    "pandera_pandas": ["pandera", "pandas", "pyarrow"],
    "great_expectations": ["great_expectations", "pandas", "pyarrow"],
}
# Contenders that are skipped, not failed, when they cannot run here.
OPTIONAL = {"great_expectations"}
IMPORTS = {"tillflow": "tillflow.rules", "pandera_polars": "pandera.polars",
           "pandera_pandas": "pandera.pandas", "great_expectations": "great_expectations"}  # fmt: skip


def child_main(args: argparse.Namespace) -> int:
    contender = args.child
    result = harness.start_child(contender, IMPORTS, PACKAGES)
    if "skipped" in result:
        return harness.write_result(result)

    import polars as pl

    df = pl.read_parquet(args.data)
    try:
        t0 = time.perf_counter()
        run = SETUPS[contender](df)
        result["setup_seconds"] = time.perf_counter() - t0
        del df
        result.update(harness.settle())
        times, counts = harness.timed_runs(run, args.repeat)
    except Exception as exc:
        traceback.print_exc()
        if contender in OPTIONAL:
            result["skipped"] = f"could not run: {type(exc).__name__}: {exc}"
        else:
            result["error"] = f"{type(exc).__name__}: {exc}"
        return harness.write_result(result)
    result.update(times=times, counts=counts)
    return harness.write_result(result)


# --------------------------------------------------------------------------
# Parent: data, children, agreement, table
# --------------------------------------------------------------------------

CHILD_ENV = {
    "PANDERA_VALIDATION_DEPTH": "SCHEMA_AND_DATA",  # polars LazyFrames default to SCHEMA_ONLY
    "GX_ANALYTICS_ENABLED": "false",
}


def run_child(contender: str, args: argparse.Namespace, data: Path, script: str = __file__) -> dict[str, Any]:
    """Runs ``script`` in child mode for one contender; its result row, best time as ``seconds``."""
    argv = ["--data", str(data), "--repeat", str(args.repeat)]
    return harness.run_child(script, contender, argv, timeout=args.timeout, env=CHILD_ENV)


def report_row(row: dict[str, Any]) -> None:
    """The line printed as each contender ends."""
    name = row["contender"]
    if "seconds" in row:
        print(f"  {name}: {row['seconds']:.3f}s, peak RSS {row['rss_mib']:,.0f} MiB", flush=True)
    else:
        print(f"  {name}: {'skipped: ' + row['skipped'] if 'skipped' in row else row['error']}", flush=True)


def timing_columns(name_width: int, n: int) -> list[harness.Column]:
    """The columns of P3's tables: seconds, rows/s, RSS and the ratio to tillflow."""
    return [
        harness.Column("contender", name_width, "contender", left=True),
        harness.Column("seconds", 8, "seconds", ".3f"),
        harness.Column("rows/s", 12, lambda r: n / r["seconds"], ",.0f"),
        harness.Column("peak RSS MiB", 12, "rss_mib", ",.0f"),
        harness.Column("tillflow ×", 10, "ratio"),
        harness.Column("resident MiB", 12, "resident_mib", ",.0f"),
        harness.Column("load peak MiB", 13, "load_peak_mib", ",.0f"),
        harness.Column("setup s", 8, "setup_seconds", ".2f"),
    ]


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """``ratio``: each contender's seconds ÷ tillflow's."""
    base = next((r for r in rows if r["contender"] == "tillflow" and "seconds" in r), None)
    for r in rows:
        if "seconds" in r:
            r["ratio"] = f"{r['seconds'] / base['seconds']:.1f}×" if base else "-"


def print_table(rows: list[dict[str, Any]], n: int, repeat: int) -> None:
    add_ratios(rows)
    title = f"P3: {n:,} rows x {len(RULES)} rules, best of {repeat}"
    harness.print_table(rows, timing_columns(19, n), title=title, status=harness.run_status)
    print(
        "\nseconds: best in-child time of validate + build the report + read the per-rule counts from it"
        "\n(excludes interpreter start, imports, the Parquet read and setup); 'tillflow ×' = seconds ÷"
        "\ntillflow's seconds. peak RSS: the child's ru_maxrss with the high-water mark reset after setup"
        "\n(data resident + validation); resident: RSS just before the first run; load peak: ru_maxrss"
        "\nbefore the reset (Parquet read + setup). setup (untimed): building the rule set / schema /"
        "\nsuite, plus df.to_pandas() for pandera_pandas and great_expectations."
    )
    floor = max((r["parent_rss_mib"] for r in rows), default=0.0)
    print(f"Every ru_maxrss includes this parent's RSS at spawn time (at most {floor:,.0f} MiB), a floor.")
    harness.print_notes(rows)


def generate_main(args: argparse.Namespace) -> int:
    """Child mode: writes the orders to Parquet (kept out of the parent, whose
    RSS at spawn time every later child's ru_maxrss would otherwise include)."""
    import polars as pl

    t0 = time.perf_counter()
    df = generate_orders(args.rows, args.seed)
    if args.sparse_keys:
        # The same keys and repeats, spread over a range far wider than the
        # row count (as with a vendor's ids), so no key is a narrow integer range.
        df = df.with_columns(
            (pl.col("id") - BASE_ID) * SPREAD + BASE_ID,
            pl.col("order_number") * SPREAD,
        )
    df.write_parquet(args.data)
    size = Path(args.data).stat().st_size / 2**20
    print(
        f"generated {df.height:,} orders (seed {args.seed}) -> {args.data} ({size:,.0f} MiB) "
        f"in {time.perf_counter() - t0:.1f}s (untimed)",
        flush=True,
    )
    return 0


def parent_main(args: argparse.Namespace) -> int:
    contenders = harness.chosen_contenders(args, ALL)
    with harness.parent_run(args, "tillflow_p3_") as out:
        data = out / "orders.parquet"
        generate = [
            sys.executable, str(Path(__file__).resolve()), "--generate",
            "--rows", str(args.rows), "--seed", str(args.seed), "--data", str(data),
            *(["--sparse-keys"] if args.sparse_keys else []),
        ]  # fmt: skip
        subprocess.run(generate, check=True)
        truth = injected_counts(args.rows)
        rows = []
        for contender in harness.contenders_in_turn(args, contenders):
            row = run_child(contender, args, data)
            report_row(row)
            rows.append(row)
        print_table(rows, args.rows, args.repeat)
        harness.print_counts(
            rows,
            [rule for rule, _ in RULES],
            truth,
            semantic_variants(args.rows),
            kind="rule",
            truth_label="injected",
        )
        print(f"python {sys.version.split()[0]}, nproc {os.cpu_count()}")
        if args.json:
            Path(args.json).write_text(
                json.dumps({"rows": args.rows, "truth": truth, "results": rows}, indent=1)
            )
        status = 0
        hand = next((r for r in rows if r["contender"] == "polars_hand"), None)
        if hand is not None and hand.get("counts") != truth:
            print("ERROR: polars_hand does not match the injected failures", file=sys.stderr)
            status = 1
        return status or harness.failed(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000, help="orders to generate (default 10,000,000)")
    p.add_argument("--seed", type=int, default=20260301, help="data generator seed")
    p.add_argument(
        "--sparse-keys",
        action="store_true",
        help=f"multiply ids and order numbers by {SPREAD:,} (same repeats; keys no longer a narrow range)",
    )
    harness.add_options(p, ALL, keep="keep the Parquet file")
    return harness.dispatch(p, argv, generate_main, child_main, parent_main)


if __name__ == "__main__":
    sys.exit(main())
