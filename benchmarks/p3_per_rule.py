"""P3, rule by rule: tillflow's time for each of the 12 rules alone and for
all of them together (with the report), on P3's generated orders.

    python benchmarks/p3_per_rule.py [--rows 10000000] [--sparse-keys]

The data is cached as Parquet in the system's temp folder between runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
import p3_rules as p3
import polars as pl
from harness import best_of


def main() -> int:
    import tillflow as tl
    from tillflow import rules as r

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument(
        "--sparse-keys", action="store_true", help="ids and order numbers spread apart, as in p3_rules"
    )
    harness.add_machine_options(p)
    args = p.parse_args()
    harness.check_machine(args, first=True)
    cache = (
        Path(tempfile.gettempdir())
        / f"tillflow_p3_{args.rows}{'_sparse' if args.sparse_keys else ''}.parquet"
    )
    if not cache.exists():
        df = p3.generate_orders(args.rows, 20260301)
        if args.sparse_keys:
            df = df.with_columns(
                (pl.col("id") - p3.BASE_ID) * p3.SPREAD + p3.BASE_ID, pl.col("order_number") * p3.SPREAD
            )
        df.write_parquet(cache)
    df = pl.read_parquet(cache)
    rules = {
        "not_null id": r.not_null("id"),
        "not_null customer_email": r.not_null("customer_email"),
        "not_null total_price": r.not_null("total_price"),
        "unique id": r.unique("id"),
        "between total_price": r.between("total_price", p3.PRICE_MIN, p3.PRICE_MAX),
        "matches customer_email": r.matches("customer_email", p3.EMAIL_PATTERN),
        "is_in financial_status": r.is_in("financial_status", p3.STATUSES),
        "unique (store_id, order_number)": r.unique("store_id", "order_number"),
        "between quantity": r.between("quantity", p3.QTY_MIN, p3.QTY_MAX),
        "compare subtotal <= total": r.compare("subtotal_price", "<=", "total_price"),
        "not_null created_at": r.not_null("created_at"),
        "is_in currency": r.is_in("currency", p3.CURRENCIES),
    }
    print(f"{df.height:,} rows, seconds (best of 3)")
    for name, rule in rules.items():
        rs = tl.RuleSet([rule])
        print(f"  {name:<33} {best_of(lambda rs=rs: rs.validate(df)):.3f}")
    everything = tl.RuleSet(list(rules.values()), key=["id"])
    print(f"  {'all 12, with to_polars()':<33} {best_of(lambda: everything.validate(df).to_polars()):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
