"""Benchmark P6: client CPU time per HTTP request, tillflow's engine against
requests, httpx and aiohttp, all fetching the same pages from one server.

The server runs in its own process (``--serve``): a raw asyncio protocol on
127.0.0.1 that renders every page once at start-up and then only looks up
the page a request names. A page holds 10 Stripe-like charge objects (about
4.9 KB), numbered ``?page=1..N`` with ``total_pages`` in the body, or reached
by Stripe's cursor (``?starting_after=<last id>``, ``has_more``); both
give the same bytes for the same page.

Every run of every contender is its own child process. The child imports
and sets up untimed, then reads its own ``getrusage(RUSAGE_SELF)`` and wall
clock around the fetch of all N pages: user + system CPU of the whole
process, so tillflow's tokio and normalizer threads count, the server's
CPU does not. For tillflow it also splits that CPU by thread: the
``tillflow-io`` runtime threads (HTTP, the body check, the paginator's
look into each page), the Python thread, and the rest (the normalizer
threads, which end with the stream, and any polars pool thread). Each
client parses every body as a user would (``.json()``), counts the records
and sums their ``amount``; the parent checks both, and that the server
answered exactly N page requests with the expected bytes.

Contenders:
  tillflow_c1         tl.sources.rest page_number paginator, concurrency 1: fetch + normalize
  tillflow_c4         the same with the default concurrency (4 requests in flight)
  tillflow_cursor     Stripe's cursor (starting_after = last record's id, has_more): fetch + normalize
  requests            requests.Session, sequential (one connection reused)
  httpx               httpx.Client, sequential
  aiohttp_c1          one aiohttp.ClientSession, sequential
  aiohttp_c4          one aiohttp.ClientSession, 4 requests in flight

Run by hand, never in the test suite:

    python benchmarks/p6_requests.py --pages 10000 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

TOKEN = "sk_test_p6bench"
PATH = "/v1/charges"
TILLFLOW = ["tillflow_c1", "tillflow_c4", "tillflow_cursor"]
ALL = [*TILLFLOW, "requests", "httpx", "aiohttp_c1", "aiohttp_c4"]

# --------------------------------------------------------------------------
# The pages and the server (its own process)
# --------------------------------------------------------------------------

CITIES = [
    ("Berlin", "DE", "10115"),
    ("Austin", "US", "73301"),
    ("Lyon", "FR", "69001"),
    ("Leeds", "GB", "LS1 4AP"),
    ("Osaka", "JP", "530-0001"),
    ("Porto", "PT", "4000-322"),
]
NAMES = ["Ada Byron", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov", "Ken Thompson"]
BRANDS = ["visa", "mastercard", "amex"]


def charge(i: int) -> dict[str, Any]:
    """A Stripe-like charge: the fields a shop's export reads, nested as Stripe nests them."""
    h = (i * 2654435761) & 0xFFFFFFFF
    city, country, postal = CITIES[h % len(CITIES)]
    amount = 500 + h % 20_000
    refunded = amount if h % 17 == 0 else 0
    return {
        "id": f"ch_3P{i:014d}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": refunded,
        "captured": True,
        "created": 1_700_000_000 + i * 37,
        "currency": "usd" if h % 3 else "eur",
        "customer": f"cus_P{h % 50_000:08d}",
        "refunded": refunded > 0,
        "status": "succeeded",
        "receipt_email": f"buyer{h % 50_000}@example.com",
        "billing_details": {
            "address": {"city": city, "country": country, "postal_code": postal},
            "name": NAMES[h % len(NAMES)],
        },
        "payment_method_details": {
            "type": "card",
            "card": {"brand": BRANDS[h % 3], "last4": f"{h % 10_000:04d}", "exp_month": 1 + h % 12},
        },
        "metadata": {"order_id": str(100_000 + i)},
    }


def render_pages(pages: int, per_page: int) -> tuple[list[bytes], dict[str, int]]:
    """Every page's body (page k at index k - 1; ``data`` last, so its
    array is the body's tail) and the page each cursor leads to."""
    bodies, after = [], {}
    for k in range(1, pages + 1):
        records = [charge((k - 1) * per_page + j) for j in range(per_page)]
        head = {"object": "list", "url": PATH, "has_more": k < pages, "page": k, "total_pages": pages}
        body = json.dumps({**head, "data": records}, separators=(",", ":")).encode()
        bodies.append(body)
        after[records[-1]["id"]] = k + 1
    return bodies, after


def expected(pages: int, per_page: int) -> dict[str, int]:
    n = pages * per_page
    return {"records": n, "amount": sum(charge(i)["amount"] for i in range(n))}


def serve(args: argparse.Namespace) -> int:
    bodies, after = render_pages(args.pages, args.per_page)
    replies = [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b)
        for b in bodies
    ]
    empty = json.dumps(
        {"object": "list", "url": PATH, "has_more": False, "page": 0, "total_pages": args.pages, "data": []}
    ).encode()
    not_found = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(empty),
        empty,
    )
    page_re = re.compile(rb"[?&]page=(\d+)")
    cursor_re = re.compile(rb"[?&]starting_after=([A-Za-z0-9_]+)")
    stats = {"requests": 0, "bytes": 0}

    def reply(target: bytes) -> bytes:
        if target.startswith(b"/stats"):
            body = json.dumps(stats).encode()
            return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        if m := page_re.search(target):
            k = int(m.group(1))
        elif m := cursor_re.search(target):
            k = after.get(m.group(1).decode(), 0)
        else:
            k = 1
        out = replies[k - 1] if 1 <= k <= len(replies) else not_found
        stats["requests"] += 1
        stats["bytes"] += len(out)
        return out

    class Http(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            buf = self.buf + data if self.buf else data
            while (end := buf.find(b"\r\n\r\n")) >= 0:
                line = buf[: buf.find(b"\r\n")]
                self.transport.write(reply(line.split(b" ", 2)[1]))
                buf = buf[end + 4 :]
            self.buf = buf

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Http, "127.0.0.1", 0, backlog=64)
        port = server.sockets[0].getsockname()[1]
        sizes = [len(b) for b in bodies]
        print(
            json.dumps({"port": port, "page_bytes": sizes, "reply_bytes": sum(map(len, replies))}), flush=True
        )
        await server.serve_forever()

    asyncio.run(main())
    return 0


# --------------------------------------------------------------------------
# Contenders (each run in a child process of its own)
# --------------------------------------------------------------------------


def tillflow_spec(url: str, per_page: int, contender: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "charges",
        "base_url": url,
        "path": PATH.lstrip("/"),
        "params": {"limit": per_page},
        "auth": {"type": "bearer", "token": TOKEN},
        "records": "data",
        "primary_key": "id",
    }
    if contender == "tillflow_cursor":
        spec["paginator"] = {
            "type": "cursor",
            "param": "starting_after",
            "cursor_from_last_record": "id",
            "has_more_path": "has_more",
        }
    else:
        spec["paginator"] = {
            "type": "page_number",
            "param": "page",
            "start": 1,
            "page_size": per_page,
            "total_pages_path": "total_pages",
        }
    if contender == "tillflow_c1":
        spec["concurrency"] = 1
    return spec


def setup_tillflow(args: argparse.Namespace) -> Any:
    import tillflow as tl

    resource_ = tl.sources.rest(tillflow_spec(args.url, args.per_page, args.child))["charges"]

    def run() -> dict[str, int]:
        records = amount = 0
        for batch in resource_.open():
            records += batch["records"]
            if "charges" in batch["tables"]:
                amount += int(batch["tables"]["charges"]["amount"].sum())
        return {"records": records, "amount": amount}

    return run


def _pages_in_order(get_json: Any) -> dict[str, int]:
    """Page 1, then every page up to the ``total_pages`` it reports."""
    records = amount = 0
    k, total = 1, 1
    while k <= total:
        body = get_json(k)
        data = body["data"]
        records += len(data)
        amount += sum(r["amount"] for r in data)
        total = body["total_pages"]
        k += 1
    return {"records": records, "amount": amount}


def setup_requests(args: argparse.Namespace) -> Any:
    import requests

    url = args.url + PATH

    def run() -> dict[str, int]:
        with requests.Session() as s:
            s.headers["Authorization"] = f"Bearer {TOKEN}"

            def get_json(k: int) -> Any:
                r = s.get(url, params={"limit": args.per_page, "page": k})
                r.raise_for_status()
                return r.json()

            return _pages_in_order(get_json)

    return run


def setup_httpx(args: argparse.Namespace) -> Any:
    import httpx

    url = args.url + PATH

    def run() -> dict[str, int]:
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as c:

            def get_json(k: int) -> Any:
                r = c.get(url, params={"limit": args.per_page, "page": k})
                r.raise_for_status()
                return r.json()

            return _pages_in_order(get_json)

    return run


def setup_aiohttp(args: argparse.Namespace, concurrency: int) -> Any:
    import aiohttp

    url = args.url + PATH

    async def fetch_all() -> dict[str, int]:
        totals = {"records": 0, "amount": 0}
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as s:

            async def get(k: int) -> int:
                async with s.get(url, params={"limit": args.per_page, "page": k}) as r:
                    r.raise_for_status()
                    body = await r.json()
                data = body["data"]
                totals["records"] += len(data)
                totals["amount"] += sum(x["amount"] for x in data)
                return int(body["total_pages"])

            total = await get(1)
            if concurrency == 1:
                for k in range(2, total + 1):
                    await get(k)
            else:
                queue = iter(range(2, total + 1))

                async def worker() -> None:
                    for k in queue:
                        await get(k)

                await asyncio.gather(*(worker() for _ in range(concurrency)))
        return totals

    return lambda: asyncio.run(fetch_all())


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("tillflow", "requests", "httpx", "aiohttp", "urllib3"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "-"
    return out


def thread_cpu() -> dict[int, tuple[str, float]]:
    """Every live thread of this process: its name and the CPU seconds it has used."""
    out, tick = {}, os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").iterdir():
        try:
            name, rest = (task / "stat").read_text().split("(", 1)[1].rsplit(")", 1)
        except FileNotFoundError:  # ended while listed
            continue
        fields = rest.split()
        out[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


def child_main(args: argparse.Namespace) -> int:
    c = args.child
    if c in TILLFLOW:
        run = setup_tillflow(args)
    elif c == "requests":
        run = setup_requests(args)
    elif c == "httpx":
        run = setup_httpx(args)
    elif c.startswith("aiohttp_c"):
        run = setup_aiohttp(args, int(c.removeprefix("aiohttp_c")))
    else:
        raise SystemExit(f"unknown contender {c!r}; choose from {', '.join(ALL)}")
    tasks0, main0 = thread_cpu(), time.thread_time()
    r0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    got = run()
    w1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    main1, tasks1 = time.thread_time(), thread_cpu()
    out = {
        "wall": w1 - w0,
        "user": r1.ru_utime - r0.ru_utime,
        "sys": r1.ru_stime - r0.ru_stime,
        **got,
    }
    if c in TILLFLOW:
        from tillflow import _native

        out["debug_build"] = bool(_native.DEBUG_BUILD)
        # Threads that end with the stream (the normalizers) are gone by now: they are the rest.
        io = sum(
            cpu - tasks0.get(tid, ("", 0.0))[1]
            for tid, (name, cpu) in tasks1.items()
            if name == "tillflow-io"
        )
        out["cpu_io"] = io
        out["cpu_python"] = main1 - main0
        out["cpu_rest"] = out["user"] + out["sys"] - io - out["cpu_python"]
    return harness.write_result(out)


# --------------------------------------------------------------------------
# Parent: one server, every run in its own child, medians
# --------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """User + system seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/stats") as resp:
        return json.loads(resp.read())


def run_child(contender: str, args: argparse.Namespace, url: str, server_pid: int) -> dict[str, Any]:
    argv = ["--url", url, "--pages", str(args.pages), "--per-page", str(args.per_page)]
    before, cpu0 = server_stats(url), proc_cpu(server_pid)
    row = harness.run_child(__file__, contender, argv, timeout=args.timeout)
    cpu1, after = proc_cpu(server_pid), server_stats(url)
    if "error" in row:
        raise SystemExit(f"{contender} failed: {row['error']}")
    row.update(
        server_cpu=cpu1 - cpu0,
        server_requests=after["requests"] - before["requests"],  # /stats itself is not counted
        server_bytes=after["bytes"] - before["bytes"],
        overlapped=row["heavy"],
    )
    return row


def check(row: dict[str, Any], want: dict[str, int], reply_bytes: int, pages: int) -> None:
    problems = [f"{k}: got {row[k]}, expected {v}" for k, v in want.items() if row[k] != v]
    if row["server_requests"] != pages:
        problems.append(f"server answered {row['server_requests']} page requests, expected {pages}")
    elif row["server_bytes"] != reply_bytes:
        problems.append(f"server sent {row['server_bytes']} bytes, expected {reply_bytes}")
    if row.get("debug_build"):
        problems.append("tillflow._native is a debug build")
    if problems:
        raise SystemExit(f"{row['contender']}: " + "; ".join(problems))


def summarize(rows: list[dict[str, Any]], pages: int) -> dict[str, dict[str, float]]:
    out = {}
    for name in dict.fromkeys(r["contender"] for r in rows):
        mine = [r for r in rows if r["contender"] == name]
        cpu = [(r["user"] + r["sys"]) / pages * 1e6 for r in mine]
        out[name] = {
            "runs": len(mine),
            "cpu_us": statistics.median(cpu),
            "cpu_min": min(cpu),
            "cpu_max": max(cpu),
            "user_us": statistics.median(r["user"] / pages * 1e6 for r in mine),
            "sys_us": statistics.median(r["sys"] / pages * 1e6 for r in mine),
            "wall_s": statistics.median(r["wall"] for r in mine),
            "wall_us": statistics.median(r["wall"] / pages * 1e6 for r in mine),
            "server_us": statistics.median(r["server_cpu"] / pages * 1e6 for r in mine),
            "overlapped": sum(bool(r["overlapped"]) for r in mine),
        }
        if "cpu_io" in mine[0]:
            for part in ("io", "python", "rest"):
                out[name][f"{part}_us"] = statistics.median(r[f"cpu_{part}"] / pages * 1e6 for r in mine)
    return out


def print_table(summary: dict[str, dict[str, float]], pages: int) -> None:
    req = summary.get("requests", {}).get("cpu_us")

    def ratio(s: dict[str, Any]) -> str:
        flag = f"  ({s['overlapped']} runs overlapped a heavy process)" if s["overlapped"] else ""
        return f"{req / s['cpu_us']:.1f}×".rjust(10) + flag if req else f"{'-':>10}{flag}"

    columns = [
        harness.Column("contender", 19, "name", left=True),
        harness.Column("CPU µs/req", 10, "cpu_us", ".1f"),
        harness.Column("(min-max)", 13, lambda s: f"({s['cpu_min']:.0f}-{s['cpu_max']:.0f})"),
        harness.Column("user", 6, "user_us", ".0f"),
        harness.Column("sys", 6, "sys_us", ".0f"),
        harness.Column("wall s", 7, "wall_s", ".2f"),
        harness.Column("req/s", 7, lambda s: pages / s["wall_s"], ",.0f"),
        harness.Column("server µs", 9, lambda s: f"{s['server_us']:.0f}"),
        harness.Column("requests ÷", 10, ratio),
    ]
    rows = [{"name": name, **s} for name, s in summary.items()]
    harness.print_table(rows, columns, title=f"{pages:,} pages, medians of each contender's runs")
    split = [name for name in summary if "io_us" in summary[name]]
    if split:
        print(
            "\ntillflow's CPU µs/req by thread (medians): tillflow-io = HTTP, body check and the paginator's"
        )
        print(
            "look into each page; python = the calling thread; rest = normalizer threads and any pool thread"
        )
        for name in split:
            s = summary[name]
            print(
                f"  {name:<17} io {s['io_us']:6.1f}   python {s['python_us']:6.1f}   rest {s['rest_us']:6.1f}"
            )


def parent_main(args: argparse.Namespace) -> int:
    contenders = harness.chosen_contenders(args, ALL)
    serve_cmd = [
        sys.executable,
        __file__,
        "--serve",
        "--pages",
        str(args.pages),
        "--per-page",
        str(args.per_page),
    ]
    server = subprocess.Popen(serve_cmd, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(server.stdout.readline())  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{info['port']}"
        sizes = info["page_bytes"]
        want = expected(args.pages, args.per_page)
        print(
            f"server pid {server.pid} at {url}: {args.pages:,} pages of {args.per_page} charges, "
            f"{statistics.mean(sizes):,.0f} bytes of JSON a page ({min(sizes):,}-{max(sizes):,})"
        )
        print(f"runs: {args.runs} of each, round robin; nproc {os.cpu_count()}; load {os.getloadavg()}")
        harness.check_machine(args, first=True)
        rows = []
        for i in range(args.runs):
            for c in contenders:
                harness.check_machine(args)
                row = run_child(c, args, url, server.pid)
                check(row, want, info["reply_bytes"], args.pages)
                cpu = (row["user"] + row["sys"]) / args.pages * 1e6
                print(
                    f"run {i + 1} {c:<19} {cpu:7.1f} CPU µs/req  wall {row['wall']:6.2f} s  "
                    f"server {row['server_cpu']:.2f} s"
                    + (f"  OVERLAPPED {'/'.join(row['overlapped'])}" if row["overlapped"] else ""),
                    flush=True,
                )
                rows.append(row)
    finally:
        server.terminate()
        server.wait()
    summary = summarize(rows, args.pages)
    print_table(summary, args.pages)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"versions": versions(), "summary": summary, "runs": rows}, indent=1)
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pages", type=int, default=10_000)
    p.add_argument("--per-page", type=int, default=10)
    p.add_argument("--runs", type=int, default=5)
    harness.add_options(p, ALL, repeat=None, out=None, json_help="write every run's figures here")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        return serve(args)
    if args.child:
        return child_main(args)
    return parent_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
