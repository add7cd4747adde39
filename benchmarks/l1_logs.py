"""Benchmark L1: parsing web access logs (Combined Log Format) into columns.

N lines are generated once (fixed seed, untimed) into one file, as nginx
writes them: varied hosts, paths with query strings, statuses, sizes ("-" for
some), referers and user agents. Each contender then turns the whole file
into typed columns (host, time as a UTC timestamp, method, path, protocol,
status, bytes, referer, user agent), best of --repeat runs:

  tillflow   the native log stream (tl.sources.logs' reader) over the file:
             every batch's columns, no warehouse
  duckdb     read_csv of whole lines, then regexp_extract into the nine
             fields and strptime for the time, materialized (CREATE TABLE AS)
  python_re  a compiled `re` over each line, time parsed with strptime,
             values appended to lists (what a hand-written loader does)

All three must agree on the row count and the sum of bytes (the script exits
1 otherwise). Lines/s and MB/s per contender, and each on one core: DuckDB
runs with threads=1 for that figure.

Run by hand, never in the test suite:

    python benchmarks/l1_logs.py --lines 2000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import sys
import tempfile

import harness

AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
    "Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
    "curl/8.4.0",
]
PATHS = ["/", "/products/mug", "/products/tea?variant=3", "/cart", "/checkout", "/collections/all?page=2"]
REFERERS = ["-", "https://www.google.com/", "https://shop.example/", "https://instagram.com/"]

PATTERN = re.compile(
    r'^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"$'
)


def generate(path: str, lines: int) -> int:
    rng = random.Random(7)
    start = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(lines):
            stamp = (start + dt.timedelta(seconds=i // 3)).strftime("%d/%b/%Y:%H:%M:%S +0000")
            size = "-" if i % 97 == 0 else str(rng.randint(200, 90_000))
            status = rng.choice((200, 200, 200, 200, 304, 301, 404, 500))
            f.write(
                f'10.{i % 7}.{i % 251}.{i % 253} - - [{stamp}] "GET {rng.choice(PATHS)} HTTP/1.1" {status} '
                f'{size} "{rng.choice(REFERERS)}" "{rng.choice(AGENTS)}"\n'
            )
    return os.path.getsize(path)


def run_tillflow(path: str) -> tuple[int, int]:
    from tillflow import _native

    spec = {"name": "access", "path": path, "format": "combined", "batch_size": 200_000}
    rows = total = 0
    for batch in _native.open_logs(json.dumps(spec)):
        frame = batch["tables"]["access"]
        rows += frame.height
        total += int(frame["bytes"].sum() or 0)
    return rows, total


def run_duckdb(path: str, threads: int | None) -> tuple[int, int]:
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    names = ", ".join(
        f"'{n}'"
        for n in (
            "host",
            "ident",
            "user",
            "time",
            "method",
            "path",
            "protocol",
            "status",
            "bytes",
            "referer",
            "agent",
        )
    )
    con.execute(
        f"""CREATE TABLE parsed AS
        WITH lines AS (
            SELECT regexp_extract(line, '{PATTERN.pattern}', [{names}]) AS f
            FROM read_csv('{path}', columns = {{'line': 'VARCHAR'}}, delim = E'\\x01', quote = '',
                          escape = '', header = false)
        )
        SELECT f.host, f.ident, f.user, strptime(f.time, '%d/%b/%Y:%H:%M:%S %z') AS time, f.method,
               f.path, f.protocol, CAST(f.status AS INTEGER) AS status,
               TRY_CAST(f.bytes AS BIGINT) AS bytes, f.referer, f.agent
        FROM lines"""
    )
    rows, total = con.execute("SELECT count(*), sum(bytes) FROM parsed").fetchone()
    return int(rows), int(total or 0)


def run_python(path: str) -> tuple[int, int]:
    cols: list[list[object]] = [[] for _ in range(11)]
    with open(path, encoding="utf-8") as f:
        for text in f:
            m = PATTERN.match(text.rstrip("\n"))
            if m is None:
                continue
            g = m.groups()
            values = list(g)
            values[3] = dt.datetime.strptime(g[3], "%d/%b/%Y:%H:%M:%S %z")
            values[7] = int(g[7])
            values[8] = None if g[8] == "-" else int(g[8])
            for col, v in zip(cols, values, strict=True):
                col.append(v)
    return len(cols[0]), sum(v for v in cols[8] if v is not None)  # type: ignore[misc]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-python", action="store_true")
    harness.add_machine_options(ap)
    args = ap.parse_args()
    harness.check_machine(args, first=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "access.log")
        size = generate(path, args.lines)
        print(f"{args.lines:,} lines, {size / 1e6:.1f} MB")
        contenders = [
            ("tillflow", lambda: run_tillflow(path)),
            ("duckdb (all threads)", lambda: run_duckdb(path, None)),
            ("duckdb (1 thread)", lambda: run_duckdb(path, 1)),
        ]
        if not args.skip_python:
            contenders.append(("python_re", lambda: run_python(path)))
        truth = None
        for name, fn in contenders:
            times, got = harness.timed_runs(fn, args.repeat if name != "python_re" else 1)
            best = min(times)
            if truth is None:
                truth = got
            elif got != truth:
                print(f"{name}: {got} differs from {truth}", file=sys.stderr)
                return 1
            rate = f"{args.lines / best / 1e6:6.2f} M lines/s  {size / best / 1e6:7.1f} MB/s"
            print(f"{name:<22} {best:7.3f} s  {rate}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
