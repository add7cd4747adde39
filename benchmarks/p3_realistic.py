"""Benchmark P3 realistic: validate N order lines against 12 checks dominated
by reference lookups, patterns and a compound key, on data with the shape of
a shop's operational export: tillflow's rules engine and its peers.

A first child process generates the data once (numpy + polars, fixed seed,
untimed) and writes six Parquet files to the work folder:

  order_lines     N rows: order_id, line_no, day, store_id, customer_id, customer_name,
                  customer_email, phone, sku, category_code, quantity, unit_price. Orders of
                  1-12 lines (1 + Poisson(1.3)); each order's customer drawn Zipf-skewed over
                  the customers, 3 % guest checkouts (null customer_id, name and phone, an
                  e-mail of their own); its (store, day) drawn over the calendar's open days,
                  weighted by store size; each line's SKU drawn Zipf-skewed over the products.
  customers       ~N/20 (at least 1,000): sparse ids, unicode names, e-mails, E.164 phones (60 %)
  products        50,000 SKUs (3 capitals, a dash, 4-6 digits) with a category and a list price
  stores          40 stores, about a third closed on Sundays
  store_calendar  (store_id, day) of every open day in 2024-2025 (holidays, Sundays and
                  renovations closed)
  categories      60 category codes

On top of the clean lines it injects an exact, known number of rows breaking
each check (disjoint blocks of one random permutation, 0.05-0.4 % per check):
null order ids and SKUs, (order_id, line_no) pairs copied from another line,
customer ids of deleted or not-yet-synced customers, discontinued and
malformed SKUs (a malformed SKU breaks both the pattern and the reference),
lines on a closed day or an unknown store, legacy category codes, broken
e-mails (unicode local parts among them) and phones, quantities and prices
out of range; plus nulls that must pass (guest checkouts, missing e-mails
and prices). The truth per check follows from the construction; the
generator recomputes every count with an independent DuckDB query and stops
if any differs.

Each contender then runs in its own child process (the parent holds no
data): it reads the files and builds its rules (untimed "setup"), then
validates --repeat times; the best run is reported. A run is the validation
(reference lookups included) plus building the contender's report and
reading the per-check failing counts out of it. Peak RSS is the child's own
ru_maxrss with the high-water mark reset after setup.

Contenders:
  tillflow        tl.RuleSet([...], key=["order_id", "line_no"]).validate(lines, references={...}):
                  customers and products named as "table.column", the calendar as "table" with a
                  compound key, the categories as a frame; report.to_polars() and 10 samples per check
  polars_hand     the same checks by hand: one select (is_in(ref.implode()) for the single-column
                  references, str.contains, is_duplicated on the compound key) and an anti-join
                  for the calendar, collected together with pl.collect_all; failing counts only
  pandera_polars  a pandera.polars DataFrameSchema: built-in checks (nullable, str_matches,
                  in_range, the schema's unique=[order_id, line_no]) and custom Checks (is_in / a
                  struct is_in) for the references; validate(lazy=True) at SCHEMA_AND_DATA depth,
                  SchemaErrors.failure_cases counted per check

Every contender's failing count per check is printed beside the truth.
tillflow and polars_hand must match it exactly (the script exits 1
otherwise); pandera's differences are printed with the semantics they
follow (e.g. null key parts compared as equal in unique).

--per-rule also times each check alone in the tillflow and polars_hand
children (best of --repeat; a one-check RuleSet's validate + to_polars, and
the one expression or anti-join alone), to show where the time goes.

Run by hand, never in the test suite:

    python benchmarks/p3_realistic.py --rows 10000000
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402
import p3_rules  # noqa: E402  (the e-mail pattern, the child runner and the table columns)

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

ALL = ["tillflow", "polars_hand", "pandera_polars"]
EMAIL_PATTERN = p3_rules.EMAIL_PATTERN
SKU_PATTERN = r"^[A-Z]{3}-\d{4,6}$"
PHONE_PATTERN = r"^\+[1-9]\d{6,14}$"  # E.164
QTY_MIN, QTY_MAX = 1, 100
PRICE_MIN, PRICE_MAX = 0.01, 10_000.0
# unique counts every copy of a repeated key (GX, SQL HAVING count(*) > 1,
# polars is_duplicated, pandera); every contender counts it so.
UNIQUE_COUNT = "all"
TABLES = ["order_lines", "customers", "products", "stores", "store_calendar", "categories"]

# The checks, in report order; every contender reports its counts under these
# names. Semantics (tillflow's contract): a null passes every check but
# not_null; unique skips rows with a null key part. (No NaN is generated.)
RULES: list[tuple[str, str]] = [
    ("not_null_order_id", "order_id is not null"),
    ("not_null_sku", "sku is not null"),
    ("unique_order_line", "(order_id, line_no) is unique; every copy of a repeated key fails"),
    ("relationships_customer", "customer_id in customers.id (null: a guest checkout, passes)"),
    ("relationships_sku", "sku in products.sku"),
    ("relationships_store_day", "(store_id, day) in store_calendar: the store was open"),
    ("relationships_category", "category_code in categories.code"),
    ("matches_email", "customer_email matches the e-mail pattern"),
    ("matches_sku", f"sku matches {SKU_PATTERN}"),
    ("matches_phone", f"phone matches {PHONE_PATTERN} (E.164)"),
    ("between_quantity", f"{QTY_MIN} <= quantity <= {QTY_MAX}"),
    ("between_unit_price", f"{PRICE_MIN} <= unit_price <= {PRICE_MAX:g}"),
]
RULE_NAMES = [name for name, _ in RULES]

# Fraction of lines in each injected block (disjoint rows of one permutation).
RATES: dict[str, float] = {
    "null_order_id": 0.0005,
    "null_sku": 0.001,
    "duplicate": 0.001,  # each copies the whole line of a clean source line
    "orphan_customer": 0.002,
    "orphan_sku": 0.0015,  # discontinued: well formed, not in products
    "bad_sku": 0.002,  # malformed: breaks the pattern and the reference
    "orphan_store_day": 0.001,
    "orphan_category": 0.0008,
    "bad_email": 0.004,
    "bad_phone": 0.003,
    "bad_quantity": 0.002,
    "bad_price": 0.0015,
    # nulls that must pass
    "null_email": 0.005,
    "null_price": 0.0005,
}

Counts = dict[str, int]


def block_sizes(n: int) -> Counts:
    return {block: max(1, round(n * rate)) for block, rate in RATES.items()}


def truth_of(k: Counts) -> Counts:
    """The failing lines per check that the injected blocks make."""
    return {
        "not_null_order_id": k["null_order_id"],
        "not_null_sku": k["null_sku"],
        "unique_order_line": 2 * k["duplicate"],  # the copy and its source
        "relationships_customer": k["orphan_customer"],
        "relationships_sku": k["orphan_sku"] + k["bad_sku"],
        "relationships_store_day": k["orphan_store_day"],
        "relationships_category": k["orphan_category"],
        "matches_email": k["bad_email"],
        "matches_sku": k["bad_sku"],
        "matches_phone": k["bad_phone"],
        "between_quantity": k["bad_quantity"],
        "between_unit_price": k["bad_price"],
    }


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

# (display name, ASCII slug for the e-mail)
FIRST_NAMES = [
    ("Anna", "anna"), ("Zoë", "zoe"), ("José", "jose"), ("Łukasz", "lukasz"), ("Søren", "soren"),
    ("Ayşe", "ayse"), ("Ngọc", "ngoc"), ("Chloé", "chloe"), ("Jürgen", "juergen"), ("Siobhán", "siobhan"),
    ("François", "francois"), ("Björn", "bjorn"), ("Mei", "mei"), ("Priya", "priya"), ("Tomás", "tomas"),
    ("Noah", "noah"), ("Kateřina", "katerina"), ("Ольга", "olga"), ("太郎", "taro"), ("Dmitri", "dmitri"),
    ("Fatma", "fatma"), ("Liam", "liam"), ("Émilie", "emilie"), ("Oğuz", "oguz"),
]  # fmt: skip
LAST_NAMES = [
    ("Müller", "mueller"), ("García", "garcia"), ("Nguyễn", "nguyen"), ("O'Connor", "o-connor"),
    ("Kowalczyk", "kowalczyk"), ("Yılmaz", "yilmaz"), ("Dubois", "dubois"), ("Smith", "smith"),
    ("Sørensen", "sorensen"), ("田中", "tanaka"), ("Иванова", "ivanova"), ("Rossi", "rossi"),
    ("van der Berg", "vanderberg"), ("Đorđević", "dordevic"), ("Håkansson", "hakansson"),
    ("Papadopoulos", "papadopoulos"), ("Núñez", "nunez"), ("Schröder", "schroeder"),
]  # fmt: skip
# (host, top-level domain); hosts hold no dot, so "local@host" never matches.
DOMAINS = [
    ("gmail", "com"), ("outlook", "com"), ("yahoo", "co.uk"), ("web", "de"), ("orange", "fr"),
    ("icloud", "com"), ("gmx", "at"), ("proton", "me"), ("libero", "it"), ("shop-mail", "net"),
]  # fmt: skip
DOMAIN_P = [0.34, 0.14, 0.08, 0.1, 0.06, 0.12, 0.04, 0.03, 0.04, 0.05]
# (country calling code, national digits)
PHONE_PLANS = [("1", 10), ("44", 10), ("49", 11), ("33", 9), ("81", 10), ("39", 10)]
UNICODE_LOCALS = ["zoë", "josé", "łukasz", "søren", "ayşe", "田中", "ольга", "ngọc"]
BAD_PHONES = [
    "(555) 123-4567", "+44 20 7946 0958", "0049301234567", "+1-202-555-0143", "",
    "n/a", "+0123456789", "+1234", "555.123.4567", "+49 (0)30 1234567",
]  # fmt: skip
BAD_QUANTITIES = [0, -1, -2, 101, 144, 1000, 10_000]
BAD_PRICES = [-4.99, 0.0, -0.01, 10_000.01, 12_500.0, 99_999.99, 0.001]
DEPARTMENTS = ["KIT", "HOM", "GRD", "TOY", "APP", "BTY", "ELC", "SPT", "BKS", "FOD"]
LEGACY_CATEGORIES = ["KIT-00", "LEG-01", "kit-01", "HOM-07", ""]
N_PRODUCTS, N_DISCONTINUED, N_STORES = 50_000, 2_500, 40
CUSTOMER_BASE = 6_200_000_000_000  # slot i holds id BASE + 13 i + (0..11); + 12 is never an id
CUSTOMER_STRIDE = 13
ORDER_BASE = 4_100_000_000
UNKNOWN_STORE = 999
FIRST_DAY, END_DAY = "2024-01-01", "2026-01-01"  # the calendar's span (end exclusive)
HOLIDAYS = ["01-01", "12-25", "12-26"]  # every store is closed (month-day)
CLOSED_DAYS = ["2024-12-25", "2025-12-25", "2025-01-01", "2024-12-26"]  # for the orphans
OUTSIDE_DAYS = ["2023-12-31", "2026-01-01"]


def _zipf(rng: np.random.Generator, n: int, s: float) -> np.ndarray:
    """Probabilities 1/rank^s over ``n`` items, ranks shuffled."""
    import numpy as np

    w = 1.0 / np.arange(1, n + 1) ** s
    w = rng.permutation(w)
    return w / w.sum()


def _emails(rng: np.random.Generator, n: int) -> tuple[pl.DataFrame, pl.Series]:
    """``n`` people: (name frame, e-mail Series) with unicode names and ASCII e-mails."""
    import polars as pl

    fi = rng.integers(0, len(FIRST_NAMES), n)
    li = rng.integers(0, len(LAST_NAMES), n)
    di = rng.choice(len(DOMAINS), n, p=DOMAIN_P)
    parts = pl.DataFrame(
        {
            "fd": pl.Series([d for d, _ in FIRST_NAMES]).gather(fi),
            "fs": pl.Series([s for _, s in FIRST_NAMES]).gather(fi),
            "ld": pl.Series([d for d, _ in LAST_NAMES]).gather(li),
            "ls": pl.Series([s for _, s in LAST_NAMES]).gather(li),
            "num": rng.integers(1, 10_000, n),
            "sep": pl.Series([".", "_", ""]).gather(rng.choice(3, n, p=[0.7, 0.2, 0.1])),
            "tag": rng.random(n) < 0.05,
            "host": pl.Series([h for h, _ in DOMAINS]).gather(di),
            "tld": pl.Series([t for _, t in DOMAINS]).gather(di),
        }
    )
    email = pl.concat_str(
        "fs", "sep", "ls", pl.col("num").cast(pl.String),
        pl.when("tag").then(pl.lit("+shop")).otherwise(pl.lit("")),
        pl.lit("@"), "host", pl.lit("."), "tld",
    )  # fmt: skip
    out = parts.select(name=pl.concat_str("fd", pl.lit(" "), "ld"), email=email)
    return out.select("name"), out["email"]


def _phones(rng: np.random.Generator, n: int, share: float) -> pl.Series:
    """E.164 numbers, null for ``1 - share`` of them."""
    import numpy as np
    import polars as pl

    plan = rng.integers(0, len(PHONE_PLANS), n)
    digits = np.array([d for _, d in PHONE_PLANS])[plan]
    low = 10 ** (digits.astype(np.int64) - 1)
    national = rng.integers(low, 10 * low)  # first digit 1-9
    phone = pl.select(
        pl.concat_str(
            pl.lit("+"),
            pl.Series([c for c, _ in PHONE_PLANS]).gather(plan),
            pl.Series(national).cast(pl.String),
        )
    ).to_series()
    return phone.scatter(np.flatnonzero(rng.random(n) >= share), None).alias("phone")


def generate_tables(n: int, seed: int) -> tuple[dict[str, pl.DataFrame], Counts, dict[str, Any]]:
    """The tables, the size of each injected block, and a few shape figures."""
    import numpy as np
    import polars as pl

    k = block_sizes(n)
    needed = sum(k.values()) + k["duplicate"]
    if needed > n // 2:
        raise SystemExit(f"--rows {n} is too small for the injected failures (needs {needed} of half)")
    rng = np.random.default_rng(seed)

    # -- reference tables
    categories = pl.DataFrame(
        {"code": [f"{d}-{i:02d}" for d in DEPARTMENTS for i in range(1, 7)]}
    ).with_columns(name=pl.concat_str(pl.lit("Category "), "code"))
    n_cust = max(1_000, n // 20)
    names, emails = _emails(rng, n_cust)
    customers = pl.DataFrame(
        {
            "id": CUSTOMER_BASE
            + np.arange(n_cust, dtype=np.int64) * CUSTOMER_STRIDE
            + rng.integers(0, CUSTOMER_STRIDE - 1, n_cust),
            "name": names["name"],
            "email": emails,
            "phone": _phones(rng, n_cust, 0.6),
        }
    )
    n_all = N_PRODUCTS + N_DISCONTINUED
    numbers = rng.choice(np.arange(1_000, 1_000_000), n_all, replace=False)  # 4-6 digits, distinct
    letters = rng.integers(0, 26, (400, 3))
    prefixes = pl.Series(["".join(chr(65 + c) for c in row) for row in letters])
    all_products = pl.DataFrame(
        {
            "sku": pl.select(
                pl.concat_str(
                    prefixes.gather(rng.integers(0, len(prefixes), n_all)),
                    pl.lit("-"),
                    pl.Series(numbers).cast(pl.String),
                )
            ).to_series(),
            "category_code": categories["code"].gather(rng.integers(0, categories.height, n_all)),
            "list_price": np.round(np.clip(rng.lognormal(2.8, 0.9, n_all), 0.5, 2_000.0), 2),
        }
    )
    products = all_products.head(N_PRODUCTS)
    discontinued = all_products.tail(N_DISCONTINUED)["sku"]
    store_ids = np.arange(101, 101 + N_STORES, dtype=np.int32)
    sunday_closed = rng.random(N_STORES) < 0.35
    sunday_closed[0] = True
    stores = pl.DataFrame(
        {
            "store_id": store_ids,
            "name": [f"Store {s}" for s in store_ids],
            "country": pl.Series(["DE", "FR", "GB", "US", "AT"]).gather(rng.integers(0, 5, N_STORES)),
            "sunday_closed": sunday_closed,
        }
    )
    days = np.arange(np.datetime64(FIRST_DAY), np.datetime64(END_DAY))
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    month_day = np.array([str(d)[5:] for d in days])
    holiday = np.isin(month_day, HOLIDAYS)
    grid_store = np.repeat(np.arange(N_STORES), len(days))
    grid_day = np.tile(np.arange(len(days)), N_STORES)
    open_ = ~holiday[grid_day] & ~(sunday_closed[grid_store] & (weekday[grid_day] == 6))
    renovating = rng.random(N_STORES) < 0.25  # closed 14 days in a row
    start = rng.integers(0, len(days) - 14, N_STORES)
    open_ &= ~(renovating[grid_store] & (grid_day >= start[grid_store]) & (grid_day < start[grid_store] + 14))
    cal_store, cal_day = grid_store[open_], grid_day[open_]
    calendar = pl.DataFrame({"store_id": store_ids[cal_store], "day": days[cal_day]})

    # -- orders, then their lines
    per = np.minimum(1 + rng.poisson(1.3, n), 12)
    cum = np.cumsum(per)
    n_orders = int(np.searchsorted(cum, n)) + 1
    per = per[:n_orders]
    per[-1] -= int(cum[n_orders - 1]) - n
    order = np.repeat(np.arange(n_orders), per)
    starts = np.concatenate(([0], np.cumsum(per)[:-1]))
    line_no = (np.arange(n) - starts[order] + 1).astype(np.int32)
    customer = rng.choice(n_cust, n_orders, p=_zipf(rng, n_cust, 0.7))
    guest = rng.random(n_orders) < 0.03
    store_weight = rng.lognormal(0.0, 0.6, N_STORES)
    cal_p = store_weight[cal_store]
    slot = rng.choice(len(cal_store), n_orders, p=cal_p / cal_p.sum())
    _, guest_emails = _emails(rng, int(guest.sum()))
    guest_rank = np.cumsum(guest) - 1
    product = rng.choice(N_PRODUCTS, n, p=_zipf(rng, N_PRODUCTS, 0.9))
    quantity = np.minimum(rng.geometric(0.6, n), QTY_MAX).astype(np.int32)
    discount = np.where(rng.random(n) < 0.1, 0.8, 1.0)
    unit_price = np.round(products["list_price"].to_numpy()[product] * discount, 2)

    line_guest = guest[order]
    who = customers.select("id", "name", "email", "phone")[customer[order]]
    guest_email = guest_emails.gather(np.maximum(guest_rank[order], 0))
    bought = products.select("sku", "category_code")[product]
    lines = pl.DataFrame(
        {
            "order_id": ORDER_BASE + order.astype(np.int64),
            "line_no": line_no,
            "day": calendar["day"].gather(slot[order]),
            "store_id": calendar["store_id"].gather(slot[order]),
            "customer_id": who["id"],
            "customer_name": who["name"],
            "customer_email": who["email"],
            "phone": who["phone"],
            "sku": bought["sku"],
            "category_code": bought["category_code"],
            "quantity": quantity,
            "unit_price": unit_price,
            "_guest": line_guest,
            "_guest_email": guest_email,
        }
    )
    del who, bought, guest_email
    lines = lines.with_columns(
        *(pl.when(~pl.col("_guest")).then(c) for c in ("customer_id", "customer_name", "phone")),
        pl.when(pl.col("_guest"))
        .then(pl.col("_guest_email"))
        .otherwise("customer_email")
        .alias("customer_email"),
    ).drop("_guest", "_guest_email")

    # -- injections: disjoint blocks of one permutation
    perm = rng.permutation(n)
    blocks: dict[str, np.ndarray] = {}
    pos = 0
    for name, size in [*k.items(), ("duplicate_source", k["duplicate"])]:
        blocks[name] = np.sort(perm[pos : pos + size])
        pos += size
    del perm
    take = np.arange(n)
    take[blocks["duplicate"]] = blocks["duplicate_source"]  # a whole line sent twice
    lines = lines[take]
    del take

    def cycled(block: str, values: list[Any]) -> np.ndarray:
        return np.asarray(values, dtype=object)[np.arange(len(blocks[block])) % len(values)]

    def column(name: str) -> pl.Series:
        return lines.get_column(name).clone()

    def at(block: str, series: pl.Series, values: Any) -> pl.Series:
        return series.scatter(blocks[block], values)

    rows = blocks["orphan_customer"]
    half = len(rows) // 2
    orphan_ids = np.empty(len(rows), dtype=np.int64)
    slots = rng.integers(0, n_cust, half)  # deleted: between two ids of the table
    orphan_ids[:half] = CUSTOMER_BASE + slots * CUSTOMER_STRIDE + CUSTOMER_STRIDE - 1
    newer = n_cust + rng.integers(0, 1_000, len(rows) - half)  # newer than the table's snapshot
    orphan_ids[half:] = (
        CUSTOMER_BASE + newer * CUSTOMER_STRIDE + rng.integers(0, CUSTOMER_STRIDE - 1, len(newer))
    )

    sku = column("sku")
    sku = at("orphan_sku", sku, discontinued.gather(rng.integers(0, N_DISCONTINUED, k["orphan_sku"])))
    bad = pl.DataFrame({"s": sku.gather(blocks["bad_sku"]), "kind": np.arange(k["bad_sku"]) % 8})
    s, kind = pl.col("s"), pl.col("kind")
    bad_sku = bad.select(
        pl.when(kind == 0).then(s.str.to_lowercase())
        .when(kind == 1).then(s.str.replace("-", "", literal=True))
        .when(kind == 2).then(pl.concat_str(s.str.slice(0, 4), pl.lit("123")))  # 3 digits
        .when(kind == 3).then(pl.concat_str(s.str.slice(0, 4), pl.lit("1234567")))  # 7 digits
        .when(kind == 4).then(pl.concat_str(s, pl.lit(" ")))
        .when(kind == 5).then(pl.concat_str(pl.lit("X"), s))  # 4 letters
        .when(kind == 6).then(pl.concat_str(pl.lit("Ä"), s.str.slice(1)))
        .otherwise(pl.lit(""))
    ).to_series()  # fmt: skip
    sku = at("bad_sku", sku, bad_sku)
    sku = at("null_sku", sku, None)

    email = column("customer_email")
    bad = pl.DataFrame(
        {"e": email.gather(blocks["bad_email"]), "kind": np.arange(k["bad_email"]) % 7,
         "u": cycled("bad_email", UNICODE_LOCALS).tolist()}
    )  # fmt: skip
    e, kind = pl.col("e"), pl.col("kind")
    bad_email = bad.select(
        pl.when(kind == 0).then(e.str.replace("@", " at ", literal=True))
        .when(kind == 1).then(e.str.replace(r"\.[a-z.]+$", ""))  # no top-level domain
        .when(kind == 2).then(e.str.replace("@", "@@", literal=True))
        .when(kind == 3).then(pl.concat_str(pl.lit(" "), e))
        .when(kind == 4).then(pl.concat_str("u", pl.lit("@"), e.str.split("@").list.last()))
        .when(kind == 5).then(pl.concat_str(e, pl.lit(".")))
        .otherwise(e.str.replace(r"\.([a-z]+)$", ",$1"))  # a comma for the last dot
    ).to_series()  # fmt: skip
    email = at("null_email", at("bad_email", email, bad_email), None)

    store, day = column("store_id"), column("day")
    rows = blocks["orphan_store_day"]
    kind = np.arange(len(rows)) % 4
    sundays = days[weekday == 6]
    closed_on_sunday = store_ids[sunday_closed]
    new_store = store.gather(rows).to_numpy().copy()
    new_day = day.gather(rows).to_numpy().copy()
    new_day[kind == 0] = np.asarray(CLOSED_DAYS, dtype="datetime64[D]")[np.arange((kind == 0).sum()) % 4]
    new_store[kind == 1] = UNKNOWN_STORE
    new_day[kind == 2] = np.asarray(OUTSIDE_DAYS, dtype="datetime64[D]")[np.arange((kind == 2).sum()) % 2]
    new_store[kind == 3] = closed_on_sunday[rng.integers(0, len(closed_on_sunday), (kind == 3).sum())]
    new_day[kind == 3] = sundays[rng.integers(0, len(sundays), (kind == 3).sum())]
    store = store.scatter(rows, new_store)
    day = day.scatter(rows, pl.Series(new_day).cast(pl.Date))

    order_id = at("null_order_id", column("order_id"), None)
    phone = at("bad_phone", column("phone"), cycled("bad_phone", BAD_PHONES).tolist())
    category = at(
        "orphan_category", column("category_code"), cycled("orphan_category", LEGACY_CATEGORIES).tolist()
    )
    qty = at("bad_quantity", column("quantity"), cycled("bad_quantity", BAD_QUANTITIES).astype(np.int32))
    price = at("bad_price", column("unit_price"), cycled("bad_price", BAD_PRICES).astype(np.float64))
    price = at("null_price", price, None)
    customer_id = at("orphan_customer", column("customer_id"), orphan_ids)
    lines = lines.with_columns(order_id, store, day, customer_id, email, phone, sku, category, qty, price)
    shape = {
        "orders": n_orders,
        "customers": n_cust,
        "guest_lines": int(line_guest.sum()),
        "calendar_rows": calendar.height,
        "top_1pct_customers_share": _top_share(customer[order][~line_guest], n_cust),
        "top_1pct_products_share": _top_share(product, N_PRODUCTS),
    }
    tables = {
        "order_lines": lines,
        "customers": customers,
        "products": products.select("sku", "category_code", "list_price"),
        "stores": stores,
        "store_calendar": calendar,
        "categories": categories,
    }
    return tables, k, shape


def _top_share(index: np.ndarray, n: int) -> float:
    """The share of ``index`` that goes to the top 1 % of the ``n`` items."""
    import numpy as np

    counts = np.sort(np.bincount(index, minlength=n))[::-1]
    return float(counts[: max(1, n // 100)].sum() / max(1, counts.sum()))


def duckdb_counts(tables: dict[str, pl.DataFrame]) -> Counts:
    """Every check's failing count by an independent engine (DuckDB SQL)."""
    import duckdb

    con = duckdb.connect()
    for name, frame in tables.items():
        con.register(name, frame.to_arrow())

    def one(sql: str) -> int:
        row = con.execute(sql).fetchone()
        return int(row[0] or 0) if row else 0

    email, sku, phone = (p.replace("'", "''") for p in (EMAIL_PATTERN, SKU_PATTERN, PHONE_PATTERN))
    counts = dict(
        zip(
            RULE_NAMES[:2] + RULE_NAMES[3:],
            con.execute(
                f"""
                SELECT count_if(order_id IS NULL), count_if(sku IS NULL),
                       count_if(customer_id IS NOT NULL AND customer_id NOT IN (SELECT id FROM customers)),
                       count_if(sku IS NOT NULL AND sku NOT IN (SELECT sku FROM products)),
                       count_if(store_id IS NOT NULL AND day IS NOT NULL AND NOT EXISTS (
                           SELECT 1 FROM store_calendar c WHERE c.store_id = l.store_id AND c.day = l.day)),
                       count_if(category_code IS NOT NULL
                                AND category_code NOT IN (SELECT code FROM categories)),
                       count_if(NOT regexp_matches(customer_email, '{email}')),
                       count_if(NOT regexp_matches(sku, '{sku}')),
                       count_if(NOT regexp_matches(phone, '{phone}')),
                       count_if(quantity NOT BETWEEN {QTY_MIN} AND {QTY_MAX}),
                       count_if(unit_price NOT BETWEEN {PRICE_MIN} AND {PRICE_MAX})
                FROM order_lines l
                """
            ).fetchone()
            or (),
            strict=True,
        )
    )
    counts["unique_order_line"] = one(
        "SELECT sum(c) FROM (SELECT count(*) AS c FROM order_lines WHERE order_id IS NOT NULL "
        "AND line_no IS NOT NULL GROUP BY order_id, line_no HAVING count(*) > 1)"
    )
    return {name: counts[name] for name in RULE_NAMES}


def semantic_variants(tables: dict[str, pl.DataFrame], truth: Counts) -> dict[str, list[tuple[str, int]]]:
    """Counts other semantics give on this data, to label a contender's
    difference from the truth (which follows tillflow's contract)."""
    import polars as pl

    lines = tables["order_lines"]
    key = pl.struct("order_id", "line_no")
    nulls_equal = int(lines.select(key.is_duplicated().sum()).item())
    nulls = lines.null_count().row(0, named=True)
    column_of = {
        "relationships_customer": "customer_id",
        "relationships_sku": "sku",
        "relationships_category": "category_code",
        "matches_email": "customer_email",
        "matches_sku": "sku",
        "matches_phone": "phone",
        "between_quantity": "quantity",
        "between_unit_price": "unit_price",
    }
    variants: dict[str, list[tuple[str, int]]] = {
        "unique_order_line": [
            ("every copy, null key parts compared as equal (polars is_duplicated)", nulls_equal),
            ("distinct repeated keys (count='keys')", truth["unique_order_line"] // 2),
        ]
    }
    for rule, col in column_of.items():
        if nulls[col]:
            variants[rule] = [(f"nulls fail ({nulls[col]:,} null {col})", truth[rule] + nulls[col])]
    return variants


# --------------------------------------------------------------------------
# Contenders. Each setup_* runs untimed in the child and returns the timed
# callable (validate, build the report, read the failing counts) and a
# callable per check for --per-rule.
# --------------------------------------------------------------------------

Setup = tuple[Callable[[], Counts], dict[str, Callable[[], object]]]


def setup_tillflow(lines: pl.DataFrame, refs: dict[str, pl.DataFrame]) -> Setup:
    import tillflow as tl
    from tillflow import rules as r

    rules = [
        r.not_null("order_id", name="not_null_order_id"),
        r.not_null("sku", name="not_null_sku"),
        r.unique("order_id", "line_no", count=UNIQUE_COUNT, name="unique_order_line"),
        r.relationships("customer_id", to="customers.id", name="relationships_customer"),
        r.relationships("sku", to="products.sku", name="relationships_sku"),
        r.relationships(["store_id", "day"], to="store_calendar", name="relationships_store_day"),
        r.relationships("category_code", to=refs["categories"], field="code", name="relationships_category"),
        r.matches("customer_email", EMAIL_PATTERN, name="matches_email"),
        r.matches("sku", SKU_PATTERN, name="matches_sku"),
        r.matches("phone", PHONE_PATTERN, name="matches_phone"),
        r.between("quantity", min=QTY_MIN, max=QTY_MAX, name="between_quantity"),
        r.between("unit_price", min=PRICE_MIN, max=PRICE_MAX, name="between_unit_price"),
    ]
    key = ["order_id", "line_no"]
    rule_set = tl.RuleSet(rules, key=key)
    references = {name: refs[name] for name in ("customers", "products", "store_calendar")}

    def run() -> Counts:
        report = rule_set.validate(lines, references=references)
        table = report.to_polars()
        if sum(result.sample.height for result in report.results) > 10 * len(RULES):
            raise RuntimeError("more sampled rows than sample_size allows")
        return dict(zip(table["rule"].to_list(), table["failing"].to_list(), strict=True))

    def alone(rule: Any) -> Callable[[], object]:
        one = tl.RuleSet([rule], key=key)
        return lambda: one.validate(lines, references=references).to_polars()

    return run, {rule.name: alone(rule) for rule in rules}


def setup_polars_hand(lines: pl.DataFrame, refs: dict[str, pl.DataFrame]) -> Setup:
    import polars as pl

    def fails(ok: pl.Expr) -> pl.Expr:
        """Rows where the check is false; a null outcome (null input) passes."""
        return (~ok).sum()

    def within(column: str, ref: pl.Series) -> pl.Expr:
        return pl.col(column).is_in(ref.implode())

    key = ["order_id", "line_no"]
    checks = {
        "not_null_order_id": pl.col("order_id").is_null().sum(),
        "not_null_sku": pl.col("sku").is_null().sum(),
        # every copy of a repeated key; rows with a null key part are ignored
        "unique_order_line": (
            pl.all_horizontal(pl.col(key).is_not_null()) & pl.struct(key).is_duplicated()
        ).sum(),
        "relationships_customer": fails(within("customer_id", refs["customers"]["id"])),
        "relationships_sku": fails(within("sku", refs["products"]["sku"])),
        "relationships_category": fails(within("category_code", refs["categories"]["code"])),
        "matches_email": fails(pl.col("customer_email").str.contains(EMAIL_PATTERN)),
        "matches_sku": fails(pl.col("sku").str.contains(SKU_PATTERN)),
        "matches_phone": fails(pl.col("phone").str.contains(PHONE_PATTERN)),
        "between_quantity": fails(pl.col("quantity").is_between(QTY_MIN, QTY_MAX)),
        "between_unit_price": fails(pl.col("unit_price").is_between(PRICE_MIN, PRICE_MAX)),
    }
    on = ["store_id", "day"]

    def store_day() -> pl.LazyFrame:
        """Lines whose (store, day) is not in the calendar; null key parts pass."""
        return (
            lines.lazy()
            .select(on)
            .drop_nulls()
            .join(refs["store_calendar"].lazy(), on=on, how="anti")
            .select(relationships_store_day=pl.len())
        )

    def run() -> Counts:
        row_checks, calendar = pl.collect_all([lines.lazy().select(**checks), store_day()])
        counts = {**row_checks.row(0, named=True), **calendar.row(0, named=True)}
        return {name: int(counts[name]) for name in RULE_NAMES}

    alone: dict[str, Callable[[], object]] = {
        name: (lambda expr=expr: lines.lazy().select(expr).collect()) for name, expr in checks.items()
    }
    alone["relationships_store_day"] = lambda: store_day().collect()
    return run, {name: alone[name] for name in RULE_NAMES}


def _pandera_rule_of(column: str | None, check: str) -> str:
    """Maps a pandera (column, check) failure to one of the check names."""
    stem = check.split("(")[0]
    if stem in RULE_NAMES:
        return stem  # a named custom check
    if stem == "multiple_fields_uniqueness":
        return "unique_order_line"
    rule = {
        ("not_nullable", "order_id"): "not_null_order_id",
        ("not_nullable", "sku"): "not_null_sku",
        ("str_matches", "customer_email"): "matches_email",
        ("str_matches", "sku"): "matches_sku",
        ("str_matches", "phone"): "matches_phone",
        ("in_range", "quantity"): "between_quantity",
        ("in_range", "unit_price"): "between_unit_price",
    }.get((stem, column or ""))
    if rule is None:
        raise RuntimeError(f"pandera failure case not mapped to a check: column={column!r} check={check!r}")
    return rule


def setup_pandera_polars(lines: pl.DataFrame, refs: dict[str, pl.DataFrame]) -> Setup:
    import pandera.polars as pa
    import polars as pl

    def is_in(ref: pl.Series, name: str) -> Any:
        implode = ref.implode()
        return pa.Check(lambda data: data.lazyframe.select(pl.col(data.key).is_in(implode)), name=name)

    on = ["store_id", "day"]
    open_days = refs["store_calendar"].select(pl.struct(on)).to_series().implode()
    schema = pa.DataFrameSchema(
        {
            "order_id": pa.Column(None, nullable=False),
            "line_no": pa.Column(None, nullable=True),
            "customer_id": pa.Column(
                None, nullable=True, checks=is_in(refs["customers"]["id"], "relationships_customer")
            ),
            "sku": pa.Column(
                None,
                nullable=False,
                checks=[
                    pa.Check.str_matches(SKU_PATTERN),
                    is_in(refs["products"]["sku"], "relationships_sku"),
                ],
            ),
            "category_code": pa.Column(
                None, nullable=True, checks=is_in(refs["categories"]["code"], "relationships_category")
            ),
            "customer_email": pa.Column(None, nullable=True, checks=pa.Check.str_matches(EMAIL_PATTERN)),
            "phone": pa.Column(None, nullable=True, checks=pa.Check.str_matches(PHONE_PATTERN)),
            "quantity": pa.Column(None, nullable=True, checks=pa.Check.in_range(QTY_MIN, QTY_MAX)),
            "unit_price": pa.Column(None, nullable=True, checks=pa.Check.in_range(PRICE_MIN, PRICE_MAX)),
        },
        checks=[
            pa.Check(
                lambda data: data.lazyframe.select(pl.struct(on).is_in(open_days)),
                name="relationships_store_day",
            )
        ],
        unique=["order_id", "line_no"],
    )

    def run() -> Counts:
        try:
            schema.validate(lines, lazy=True)
        except pa.errors.SchemaErrors as err:
            return _failure_case_counts(err.failure_cases)
        return dict.fromkeys(RULE_NAMES, 0)

    return run, {}


def _failure_case_counts(cases: pl.DataFrame) -> Counts:
    """Failing rows per check from pandera's failure_cases frame; a
    dataframe-level check lists a failing row once per column."""
    import polars as pl

    pairs = cases.select("column", "check").unique()
    rules = pairs.with_columns(
        rule=pl.Series([_pandera_rule_of(c, check) for c, check in pairs.iter_rows()], dtype=pl.String)
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


SETUPS: dict[str, Callable[[pl.DataFrame, dict[str, pl.DataFrame]], Setup]] = {
    "tillflow": setup_tillflow,
    "polars_hand": setup_polars_hand,
    "pandera_polars": setup_pandera_polars,
}
PACKAGES = {
    "tillflow": ["tillflow", "polars"],
    "polars_hand": ["polars"],
    "pandera_polars": ["pandera", "polars"],
}
IMPORTS = {"tillflow": "tillflow.rules", "pandera_polars": "pandera.polars"}
# --per-rule reaches the children through the environment (the shared
# run_child passes a fixed set of arguments).
PER_RULE_ENV = "TILLFLOW_P3R_PER_RULE"


# --------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------


def generate_main(args: argparse.Namespace) -> int:
    """Child mode: writes the tables and truth.json (kept out of the parent,
    whose RSS at spawn time every later child's ru_maxrss would include)."""
    t0 = time.perf_counter()
    tables, k, shape = generate_tables(args.rows, args.seed)
    truth = truth_of(k)
    seconds = time.perf_counter() - t0
    try:
        checked: Counts | None = duckdb_counts(tables)
    except ImportError:
        checked = None
        print("duckdb is not installed: the truth is not cross-checked", flush=True)
    if checked is not None and checked != truth:
        bad = {rule: (truth[rule], checked[rule]) for rule in RULE_NAMES if truth[rule] != checked[rule]}
        print(
            f"ERROR: the generator's bookkeeping and DuckDB disagree (truth, duckdb): {bad}", file=sys.stderr
        )
        return 1
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.write_parquet(data / f"{name}.parquet")
    meta = {
        "rows": args.rows, "seed": args.seed, "truth": truth, "blocks": k, "shape": shape,
        "variants": semantic_variants(tables, truth), "cross_checked": checked is not None,
    }  # fmt: skip
    (data / "truth.json").write_text(json.dumps(meta, indent=1))
    size = sum((data / f"{name}.parquet").stat().st_size for name in tables) / 2**20
    print(
        f"generated {args.rows:,} order lines of {shape['orders']:,} orders, "
        f"{shape['customers']:,} customers, "
        f"{tables['products'].height:,} products, {tables['store_calendar'].height:,} open store-days "
        f"(seed {args.seed}) -> {data} ({size:,.0f} MiB) in {seconds:.1f}s (untimed)"
        + (", truth cross-checked with DuckDB" if checked is not None else ""),
        flush=True,
    )
    return 0


def child_main(args: argparse.Namespace) -> int:
    contender = args.child
    result = harness.start_child(contender, IMPORTS, PACKAGES)
    if "skipped" in result:
        return harness.write_result(result)

    import polars as pl

    data = Path(args.data)
    tables = {name: pl.read_parquet(data / f"{name}.parquet") for name in TABLES}
    lines = tables.pop("order_lines")
    try:
        t0 = time.perf_counter()
        run, alone = SETUPS[contender](lines, tables)
        result["setup_seconds"] = time.perf_counter() - t0
        del lines, tables
        result.update(harness.settle())
        times, counts = harness.timed_runs(run, args.repeat)
        result.update(times=times, counts=counts)
        if os.environ.get(PER_RULE_ENV) and alone:
            result["per_rule"] = {name: harness.best_of(f, args.repeat) for name, f in alone.items()}
    except Exception as exc:
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}"
    return harness.write_result(result)


# --------------------------------------------------------------------------
# Parent: data, children, agreement, tables
# --------------------------------------------------------------------------


def print_table(rows: list[dict[str, Any]], n: int, repeat: int) -> None:
    p3_rules.add_ratios(rows)
    title = f"P3 realistic: {n:,} order lines x {len(RULES)} checks, best of {repeat}"
    harness.print_table(rows, p3_rules.timing_columns(15, n), title=title, status=harness.run_status)
    print(
        "\nseconds: best in-child time of validate (reference lookups included) + build the report + read"
        "\nthe per-check counts from it (excludes interpreter start, imports, the Parquet reads and setup);"
        "\n'tillflow ×' = seconds ÷ tillflow's. peak RSS: the child's ru_maxrss with the high-water mark"
        "\nreset after setup; resident: RSS before the first run; load peak: ru_maxrss before the reset."
    )
    floor = max((r["parent_rss_mib"] for r in rows), default=0.0)
    print(f"Every ru_maxrss includes this parent's RSS at spawn time (at most {floor:,.0f} MiB), a floor.")
    harness.print_notes(rows)


def print_per_rule(rows: list[dict[str, Any]], repeat: int) -> None:
    timed = {r["contender"]: r["per_rule"] for r in rows if r.get("per_rule")}
    if not timed:
        return
    names = list(timed)
    head = f"{'check alone':<24}" + "".join(f" {c:>12}" for c in names)
    ratio = "tillflow" in timed and "polars_hand" in timed
    head += f" {'tillflow ÷ polars':>18}" if ratio else ""
    print(f"\nseconds per check alone (best of {repeat}):\n{head}\n" + "-" * len(head))
    for rule in RULE_NAMES:
        line = f"{rule:<24}" + "".join(f" {timed[c].get(rule, float('nan')):>12.4f}" for c in names)
        if ratio:
            line += f" {timed['tillflow'][rule] / timed['polars_hand'][rule]:>17.2f}×"
        print(line)
    sums = "".join(f" {sum(timed[c].values()):>12.4f}" for c in names)
    print(f"{'sum of the checks alone':<24}{sums}")
    print(
        "tillflow: a one-check RuleSet's validate(..., references=...) + to_polars(); polars_hand: that"
        "\ncheck's expression alone in lines.lazy().select(...).collect(), the anti-join for the calendar."
    )


def data_is_ready(data: Path, args: argparse.Namespace) -> bool:
    meta = data / "truth.json"
    if not meta.exists() or not all((data / f"{t}.parquet").exists() for t in TABLES):
        return False
    got = json.loads(meta.read_text())
    return bool(got.get("rows") == args.rows and got.get("seed") == args.seed)


def parent_main(args: argparse.Namespace) -> int:
    contenders = harness.chosen_contenders(args, ALL)
    if args.per_rule:
        os.environ[PER_RULE_ENV] = "1"
    with harness.parent_run(args, "tillflow_p3r_") as out:
        data = out / "data"
        if data_is_ready(data, args):
            print(f"reusing the generated data in {data}", flush=True)
        else:
            generate = [
                sys.executable, str(Path(__file__).resolve()), "--generate",
                "--rows", str(args.rows), "--seed", str(args.seed), "--data", str(data),
            ]  # fmt: skip
            subprocess.run(generate, check=True)
        meta = json.loads((data / "truth.json").read_text())
        truth: Counts = meta["truth"]
        shape = meta["shape"]
        print(
            f"shape: {shape['guest_lines'] / args.rows:.1%} guest lines; the top 1 % of customers hold "
            f"{shape['top_1pct_customers_share']:.0%} of the other lines, the top 1 % of products "
            f"{shape['top_1pct_products_share']:.0%} of all lines",
            flush=True,
        )
        rows = []
        for contender in harness.contenders_in_turn(args, contenders):
            row = p3_rules.run_child(contender, args, data, script=__file__)
            p3_rules.report_row(row)
            rows.append(row)
        print_table(rows, args.rows, args.repeat)
        print_per_rule(rows, args.repeat)
        harness.print_counts(
            rows, RULE_NAMES, truth, meta["variants"], unexplained=" (no known semantics gives this)"
        )
        print(f"python {sys.version.split()[0]}, nproc {os.cpu_count()}")
        if args.json:
            Path(args.json).write_text(
                json.dumps({"rows": args.rows, "meta": meta, "results": rows}, indent=1)
            )
        status = 0
        for exact in ("tillflow", "polars_hand"):
            row = next((r for r in rows if r["contender"] == exact), None)
            if row is not None and "counts" in row and row["counts"] != truth:
                print(f"ERROR: {exact} does not match the injected failures", file=sys.stderr)
                status = 1
        return status or harness.failed(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="order lines to generate (default 1,000,000)")
    p.add_argument("--seed", type=int, default=20261207, help="data generator seed")
    p.add_argument(
        "--per-rule", action="store_true", help="also time each check alone (tillflow, polars_hand)"
    )
    harness.add_options(
        p,
        ALL,
        out="work folder; data generated there for the same --rows/--seed is reused",
        keep="keep the temporary work folder (with the Parquet files)",
    )
    return harness.dispatch(p, argv, generate_main, child_main, parent_main)


if __name__ == "__main__":
    sys.exit(main())
