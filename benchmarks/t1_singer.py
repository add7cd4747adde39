"""Benchmark T1: a Singer tap's output, parsed and loaded.

A tap's stdout of N RECORD messages (one stream of orders: ids, text, an
amount, a timestamp, a nested customer object and a list of one to three
line items, as SDK taps print them, with a STATE every 10,000 records) is
generated once (fixed seed, untimed) into a file. Each contender then reads
the whole file, best of --repeat runs:

  tillflow_parse  the native Singer reader over the file: every batch
                  normalized into typed columns (orders, orders__lines), no
                  warehouse
  tillflow_load   tl.sources.singer_output into a DuckDB file: parse,
                  normalize, load and commit each STATE with its rows
  target_jsonl    `target-jsonl` (PyPI) fed the file on stdin, the way
                  Meltano pipes a tap into a target; it writes one JSON line
                  per record, so it does less than a load

tillflow's row counts must match the records sent (the script exits 1
otherwise). Records/s and MB/s per contender.

Run by hand, never in the test suite, with target-jsonl in a virtualenv of
its own:

    python -m venv /tmp/target-venv && /tmp/target-venv/bin/pip install target-jsonl
    python benchmarks/t1_singer.py --records 1000000 --target /tmp/target-venv/bin/target-jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

import harness
from harness import best_of

SCHEMA = {
    "type": "SCHEMA", "stream": "orders", "key_properties": ["id"],
    "schema": {"type": "object", "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["null", "string"]},
        "email": {"type": ["null", "string"]},
        "total": {"type": ["null", "number"], "multipleOf": 0.01},
        "created_at": {"type": "string", "format": "date-time"},
        "customer": {"type": "object", "properties": {
            "id": {"type": "integer"}, "country": {"type": ["null", "string"]}}},
        "lines": {"type": "array", "items": {"type": "object", "properties": {
            "sku": {"type": "string"}, "qty": {"type": "integer"}, "price": {"type": "number"}}}},
    }},
}  # fmt: skip


def generate(path: str, records: int) -> int:
    rng = random.Random(7)
    lines = 0
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(SCHEMA) + "\n")
        for i in range(1, records + 1):
            n = rng.randint(1, 3)
            lines += n
            rec = {
                "id": i, "name": f"#{1000 + i}", "email": f"customer{i % 50_000}@example.com",
                "total": round(rng.uniform(5, 400), 2),
                "created_at": f"2024-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                "customer": {"id": i % 50_000, "country": rng.choice(("GB", "US", "DE", "FR"))},
                "lines": [{"sku": f"SKU-{rng.randint(1, 500)}", "qty": rng.randint(1, 4),
                           "price": round(rng.uniform(2, 120), 2)} for _ in range(n)],
            }  # fmt: skip
            f.write(json.dumps({"type": "RECORD", "stream": "orders", "record": rec,
                                "time_extracted": "2024-03-29T00:00:00Z"}) + "\n")  # fmt: skip
            if i % 10_000 == 0 or i == records:
                f.write(json.dumps({"type": "STATE", "value": {"bookmarks": {"orders": {"id": i}}}}) + "\n")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--target", help="a target-jsonl executable (in its own virtualenv)")
    harness.add_machine_options(parser)
    args = parser.parse_args()
    harness.check_machine(args, first=True)

    import tillflow as tl
    from tillflow import _native

    work = tempfile.mkdtemp(prefix="tf-t1-")
    path = os.path.join(work, "tap.jsonl")
    line_items = generate(path, args.records)
    mb = os.path.getsize(path) / 1e6
    print(f"{args.records:,} records, {line_items:,} line items, {mb:,.0f} MB of tap output")
    failed = False

    def parse() -> None:
        nonlocal failed
        stream = _native.open_singer(json.dumps({"name": "bench", "input": path}))
        rows = sum(p["tables"]["orders"].height for b in stream for p in b["parts"])
        failed |= rows != args.records

    def load() -> None:
        nonlocal failed
        db = os.path.join(work, "wh.duckdb")
        if os.path.exists(db):
            os.remove(db)
        with tl.warehouse.duckdb(db) as wh:
            summary = tl.pipeline("bench", tl.sources.singer_output(path), wh).run()
        failed |= summary.row_counts != {"orders": args.records, "orders__lines": line_items}

    results = {"tillflow_parse": best_of(parse, args.repeat), "tillflow_load": best_of(load, args.repeat)}
    if args.target:
        out_dir = os.path.join(work, "target")
        os.makedirs(out_dir, exist_ok=True)
        config = os.path.join(work, "target.json")
        with open(config, "w") as f:
            json.dump({"destination_path": out_dir}, f)

        def target() -> None:
            with open(path, "rb") as stdin:
                subprocess.run([args.target, "--config", config], stdin=stdin, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

        results["target_jsonl"] = best_of(target, args.repeat)
    for name, seconds in results.items():
        rate = args.records / seconds
        print(f"{name:15s} {seconds:8.2f} s  {rate:12,.0f} records/s  {mb / seconds:8.1f} MB/s")
    if failed:
        print("row counts differ from the records sent", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
