"""What the benchmark scripts share: the child process, the RSS helpers, the
quiet-machine check, the table printer, the common options and best-of timing.

A benchmark script runs as a parent that starts every contender in a child
process of its own (``python script.py --child CONTENDER ...``), so each
child's ``ru_maxrss`` is its own. The child hands its result back with
:func:`write_result`; the parent's :func:`run_child` reads it, with the
wall clock, the child's resource usage and any heavy process (a compiler, a
test run, another benchmark) that ran beside it.

Before it records anything, the parent calls :func:`check_machine`: it prints
the load average, waits up to ``--max-wait`` seconds for the load to drop and
for heavy processes to end, and refuses to go on (exit 1) while one still
runs, unless ``--noisy`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULT_ENV = "TILLFLOW_BENCH_RESULT"  # the file a child writes its result to
# Processes that make timings meaningless: compilers and linkers, builds, test runs.
HEAVY = frozenset(
    {"cargo", "rustc", "cc1", "cc1plus", "ld", "ld.lld", "ld.gold", "collect2", "maturin", "pytest"}
)
LOAD_PER_CORE = 0.5  # the 1-minute load average per core a quiet machine stays under
POLL_SECONDS = 5.0
STDERR_TAIL = 20  # lines of a failed child's stderr to report

# ----------------------------------------------------------------------------------------- RSS


def rss_mib() -> float:
    """This process's resident set size now, in MiB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib(usage: Any = None) -> float:
    """``ru_maxrss`` in MiB (KiB on Linux): of this process, or of the given rusage."""
    usage = usage if usage is not None else resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Resets the kernel's RSS high-water mark (and so ru_maxrss) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def settle() -> dict[str, Any]:
    """After a child's untimed setup: collects garbage, records the peak so far
    (``load_peak_mib``) and the RSS (``resident_mib``), then resets the peak."""
    import gc

    gc.collect()
    return {"load_peak_mib": peak_rss_mib(), "resident_mib": rss_mib(), "peak_reset": reset_peak_rss()}


# ------------------------------------------------------------------------------------ the machine


def _proc_table() -> dict[int, tuple[int, str, list[str]]]:
    """Every process: its parent, its name and its command line."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # ended while listed
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        table[int(entry.name)] = (ppid, comm, [a.decode(errors="replace") for a in cmdline if a])
    return table


def _heavy_name(comm: str, argv: list[str]) -> str | None:
    if comm in HEAVY:
        return comm
    names = [os.path.basename(a) for a in argv[:3]]
    if "pytest" in names or "py.test" in names or argv[1:3] == ["-m", "pytest"]:
        return "pytest"
    if names and names[0] in HEAVY:
        return names[0]
    if names and names[0].startswith("python"):
        script = next((a for a in argv[1:] if not a.startswith("-")), "")
        if script.endswith(".py") and Path(script).resolve().parent.name == "benchmarks":
            return f"benchmark {Path(script).name}"
    return None


def heavy_processes() -> list[str]:
    """Names of the heavy processes running now, outside this process's own tree
    (its ancestors and its children, such as the contender it runs, are not counted)."""
    table = _proc_table()
    me = os.getpid()
    descendants = {me}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, _) in table.items():
            if ppid in descendants and pid not in descendants:
                descendants.add(pid)
                grew = True
    ancestors = set()
    pid = table.get(me, (0, "", []))[0]
    while pid in table and pid not in ancestors:
        ancestors.add(pid)
        pid = table[pid][0]
    mine = descendants | ancestors
    found = set()
    for pid, (_, comm, argv) in table.items():
        if pid not in mine and (name := _heavy_name(comm, argv)):
            found.add(name)
    return sorted(found)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def _busiest(n: int = 5) -> list[str]:
    lines = subprocess.run(
        ["ps", "-eo", "pid,pcpu,rss,comm", "--sort=-pcpu"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    others = [p for p in lines[1:] if p.split()[0] != str(os.getpid())]
    return lines[:1] + others[:n]


def check_machine(args: argparse.Namespace, *, first: bool = False) -> None:
    """Before recording: waits up to ``args.max_wait`` seconds for heavy processes
    to end (and, on the ``first`` check of a run, for the load average to drop under
    LOAD_PER_CORE per core), then refuses (SystemExit) while a heavy process still
    runs. With ``args.noisy`` it only warns. The first check prints the load average
    and the busiest processes."""
    limit = LOAD_PER_CORE * (os.cpu_count() or 1)

    def busy() -> tuple[list[str], bool]:
        return heavy_processes(), first and os.getloadavg()[0] >= limit

    if first:
        print(load_average(), flush=True)
        print("busiest processes:\n  " + "\n  ".join(_busiest()), flush=True)
    heavy, loaded = busy()
    if args.noisy:
        if heavy or loaded:
            why = "/".join(heavy) if heavy else f"the load is above {limit:.1f}"
            print(f"WARNING: {why}; timing anyway (--noisy): the figures are suspect", flush=True)
        return
    waited = 0.0
    while (heavy or loaded) and waited < args.max_wait:
        if waited == 0:
            why = [*heavy, *([f"the load ({os.getloadavg()[0]:.2f}) to drop under {limit:.1f}"] * loaded)]
            print(f"waiting up to {args.max_wait:.0f}s for {' and '.join(why)} ...", flush=True)
        time.sleep(POLL_SECONDS)
        waited += POLL_SECONDS
        heavy, loaded = busy()
    if waited:
        print(f"waited {waited:.0f}s; {load_average()}", flush=True)
    if heavy:
        raise SystemExit(
            f"refusing to record: {'/'.join(heavy)} still running after {args.max_wait:.0f}s "
            "(wait for it to end, or pass --noisy to time anyway and flag the figures)"
        )
    if loaded:
        print(f"WARNING: {load_average()} after {args.max_wait:.0f}s; timing anyway", flush=True)


class Watch:
    """Samples heavy_processes() every second while a child runs: ``seen`` holds
    every name seen, ``share`` the fraction of samples that saw one."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._busy = 0
        self._samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            busy = heavy_processes()
            self.seen.update(busy)
            self._busy += bool(busy)
            self._samples += 1

    @property
    def share(self) -> float:
        return self._busy / self._samples if self._samples else 0.0

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------------ the child


def start_child(
    contender: str, imports: Mapping[str, str], packages: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """A child's result as it starts: ``skipped`` (why) when the contender's
    module in ``imports`` cannot be imported here, else the versions of its
    ``packages``."""
    import importlib

    result: dict[str, Any] = {"contender": contender}
    module = imports.get(contender)
    try:
        if module:
            importlib.import_module(module)
    except Exception as exc:  # ImportError, or a dependency failing at import time
        result["skipped"] = f"cannot import {module}: {type(exc).__name__}: {exc}"
        return result
    result["versions"] = versions(packages[contender])
    return result


def dump_orders(
    url: str, token: str, path: Path, api: str = "admin/api/2024-01", page: int = 250
) -> tuple[int, int]:
    """Pages a Shopify-shaped shop's orders once (one Link chain) and writes each
    order as a line of ``path``; returns the orders and line items written."""
    import re

    import requests

    next_link = re.compile(r'<([^>]+)>;\s*rel="next"')
    orders = items = 0
    session = requests.Session()
    session.headers["X-Shopify-Access-Token"] = token
    page_url: str | None = f"{url}/{api}/orders.json?limit={page}&status=any"
    with open(path, "w", encoding="utf-8") as f:
        while page_url:
            r = session.get(page_url)
            r.raise_for_status()
            for order in r.json()["orders"]:
                f.write(json.dumps(order, separators=(",", ":")))
                f.write("\n")
                orders += 1
                items += len(order.get("line_items") or ())
            m = next_link.search(r.headers.get("Link", ""))
            page_url = m.group(1) if m else None
    return orders, items


def contenders_in_turn(args: argparse.Namespace, contenders: Iterable[str]) -> Iterator[str]:
    """Each contender, once the machine is quiet (see `check_machine`), announced."""
    for contender in contenders:
        check_machine(args)
        print(f"running {contender} ...", flush=True)
        yield contender


def write_result(result: dict[str, Any]) -> int:
    """In the child: hands ``result`` to the parent (to stdout when run by hand)."""
    text = json.dumps(result, default=str)
    if target := os.environ.get(RESULT_ENV):
        Path(target).write_text(text)
    else:
        print(text)
    return 0


def run_child(
    script: str,
    contender: str,
    argv: Sequence[str] = (),
    *,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Runs ``python script --child contender *argv`` and waits for it.

    Returns a row: ``contender``; ``wall_seconds`` from Popen to wait4 (interpreter
    start and imports included); ``rss_mib`` (the child's ru_maxrss), ``cpu_seconds``
    (its user + system time); ``heavy`` and ``heavy_share`` (heavy processes seen
    while it ran); ``parent_rss_mib`` (this process's RSS at spawn time, which Linux
    counts into the child's ru_maxrss); then every field of the child's result, with
    ``seconds`` the best of its ``times`` if it has any; or ``error`` (with the tail of
    its stderr) when it wrote none.
    """
    with tempfile.TemporaryDirectory(prefix="tillflow_bench_") as tmp:
        result_file = Path(tmp) / "result.json"
        stderr_file = Path(tmp) / "stderr.txt"
        cmd = [sys.executable, str(Path(script).resolve()), "--child", contender, *argv]
        child_env = {**os.environ, **(env or {}), RESULT_ENV: str(result_file)}
        timed_out = threading.Event()
        parent_rss = rss_mib()
        with open(stderr_file, "w+b") as err, Watch() as watch:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, env=child_env, stderr=err)
            timer = None
            if timeout:

                def kill() -> None:
                    timed_out.set()
                    proc.kill()

                timer = threading.Timer(timeout, kill)
                timer.start()
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - t0
            if timer:
                timer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = stderr_file.read_text(errors="replace")
        if stderr:
            sys.stderr.write(stderr)
            sys.stderr.flush()
        row: dict[str, Any] = {
            "contender": contender,
            "wall_seconds": seconds,
            "rss_mib": peak_rss_mib(usage),
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "heavy": sorted(watch.seen),
            "heavy_share": watch.share,
            "parent_rss_mib": parent_rss,
        }
        if result_file.exists():
            row.update(json.loads(result_file.read_text()))
            if row.get("times"):
                row["seconds"] = min(row["times"])  # best of the child's timed runs
            return row
    if timed_out.is_set():
        row["error"] = f"killed after the {timeout:.0f}s timeout"
    elif proc.returncode < 0:
        row["error"] = f"killed by signal {-proc.returncode} (out of memory?)"
    else:
        row["error"] = f"child exited with code {proc.returncode} and no result"
    tail = stderr.strip().splitlines()[-STDERR_TAIL:]
    if tail:
        row["error"] += "; its stderr ends:\n    " + "\n    ".join(tail)
    return row


def versions(packages: Iterable[str], missing: str = "?") -> dict[str, str]:
    """The installed version of each package (``missing`` for one not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in packages:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = missing
    return out


# ------------------------------------------------------------------------------------ timing


def timed_runs(run: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """Calls ``run`` ``repeat`` times; the seconds of each call and the last call's result."""
    times, got = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        got = run()
        times.append(time.perf_counter() - t0)
    return times, got


def best_of(run: Callable[[], Any], repeat: int = 3) -> float:
    """The fastest of ``repeat`` calls of ``run``, in seconds."""
    return min(timed_runs(run, repeat)[0])


# ------------------------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Column:
    """A column of :func:`print_table`: its header and width, and its cell: a key
    of the row or a function of the row, formatted with ``fmt``."""

    header: str
    width: int
    cell: str | Callable[[dict[str, Any]], Any]
    fmt: str = ""
    left: bool = False

    def text(self, value: Any) -> str:
        return f"{value:<{self.width}{self.fmt}}" if self.left else f"{value:>{self.width}{self.fmt}}"


def print_table(
    rows: Iterable[dict[str, Any]],
    columns: Sequence[Column],
    *,
    title: str | None = None,
    status: Callable[[dict[str, Any]], str | None] | None = None,
) -> None:
    """Prints a header, a rule and a line per row. A row for which ``status``
    returns text (a failure, a skip) shows only its first column and that text."""
    head = " ".join((f"{c.header:<{c.width}}" if c.left else f"{c.header:>{c.width}}") for c in columns)
    print(("\n" + title if title is not None else "") + "\n" + head + "\n" + "-" * len(head))
    for row in rows:
        note = status(row) if status is not None else None
        shown = columns[:1] if note else columns
        cells = [c.text(row[c.cell] if isinstance(c.cell, str) else c.cell(row)) for c in shown]
        print(" ".join([*cells, note] if note else cells))


def run_status(row: dict[str, Any]) -> str | None:
    """The status of a row without timings: ``skipped: ...`` or ``FAILED: ...``."""
    if "seconds" in row:
        return None
    return f"skipped: {row['skipped']}" if "skipped" in row else f"FAILED: {row.get('error')}"


def print_counts(
    rows: Iterable[dict[str, Any]],
    checks: Iterable[str],
    truth: Mapping[str, int],
    variants: Mapping[str, Sequence[tuple[str, int]]],
    *,
    kind: str = "check",
    truth_label: str = "truth",
    unexplained: str = "",
) -> list[str]:
    """Prints every contender's failing count per check (a row's ``counts``)
    beside the exact ``truth``, marking each difference; returns a line per
    difference, naming the semantics in ``variants`` that give that count
    (or ``unexplained`` when none does)."""
    ran = [r for r in rows if "counts" in r]
    width = max(12, *(len(r["contender"]) for r in ran)) if ran else 12
    head = f"{kind:<24} {truth_label:>{width}}" + "".join(f" {r['contender']:>{width}}" for r in ran)
    print(f"\nfailing rows per {kind} ({truth_label} = exact):\n" + head + "\n" + "-" * len(head))
    differences = []
    for check in checks:
        cells = []
        for r in ran:
            got = r["counts"].get(check)
            mark = " " if got == truth[check] else "≠"
            cells.append(f" {('-' if got is None else f'{got:,}') + mark:>{width}}")
            if got != truth[check]:
                known = [label for label, value in variants.get(check, []) if value == got]
                note = f" = {known[0]}" if known else unexplained
                shown = "missing" if got is None else f"{got:,}"
                differences.append(
                    f"  {r['contender']}: {check} {shown} vs {truth_label} {truth[check]:,}{note}"
                )
        print(f"{check:<24} {truth[check]:>{width},} " + "".join(cells))
    if differences:
        print(f"differences from the {truth_label} (≠):\n" + "\n".join(differences))
    else:
        print("every contender found exactly the injected failures")
    return differences


def print_notes(rows: Iterable[dict[str, Any]], digits: int = 3) -> None:
    """Under a table: each contender's versions and runs, and a warning for a
    peak RSS that could not be reset or a heavy process that ran beside it."""
    for r in rows:
        if r.get("versions"):
            print(f"  {r['contender']}: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()))
        if "times" in r:
            print(f"    runs: {', '.join(f'{t:.{digits}f}' for t in r['times'])} s")
        if r.get("peak_reset") is False:
            print(f"    WARNING: could not reset the peak RSS of {r['contender']}: peak includes the load")
        if r.get("heavy"):
            print(
                f"    WARNING: {'/'.join(r['heavy'])} ran during {r['contender']} "
                f"(~{r['heavy_share']:.0%} of its run): its figure is suspect"
            )


# ------------------------------------------------------------------------------------ options


def add_options(
    p: argparse.ArgumentParser,
    contenders: Sequence[str],
    *,
    repeat: int | None = 3,
    timeout: float = 3600,
    out: str | None = "work folder (default: a temp folder, removed afterwards)",
    keep: str = "keep the generated files",
    json_help: str = "also write the measured rows to this JSON file",
) -> None:
    """The options every script shares: --contenders, --repeat (unless ``repeat``
    is None), --timeout, --out and --keep (unless ``out`` is None), --json,
    --max-wait, --noisy; and the hidden --child of child mode."""
    p.add_argument(
        "--contenders", default=",".join(contenders), help=f"comma-separated subset of {','.join(contenders)}"
    )
    if repeat is not None:
        p.add_argument(
            "--repeat", type=int, default=repeat, help=f"timed runs per contender; the best counts ({repeat})"
        )
    p.add_argument("--timeout", type=float, default=timeout, help="seconds before a contender is killed")
    if out is not None:
        p.add_argument("--out", default=None, help=out)
        p.add_argument("--keep", action="store_true", help=keep)
    p.add_argument("--json", default=None, help=json_help)
    add_machine_options(p)
    p.add_argument("--child", help=argparse.SUPPRESS)  # child mode, used by the parent


def add_machine_options(p: argparse.ArgumentParser) -> None:
    """--max-wait and --noisy, the options of :func:`check_machine`."""
    p.add_argument(
        "--max-wait",
        type=float,
        default=900,
        help="seconds to wait for the load to drop and for compilers, test runs or other benchmarks to end",
    )
    p.add_argument(
        "--noisy",
        action="store_true",
        help="time even while a compiler, a test run or another benchmark runs (the figures are flagged)",
    )


def dispatch(
    p: argparse.ArgumentParser,
    argv: list[str] | None,
    generate: Callable[[argparse.Namespace], object],
    child: Callable[[argparse.Namespace], int],
    parent: Callable[[argparse.Namespace], int],
) -> int:
    """Parses a script's arguments (adding the hidden ``--data`` and
    ``--generate`` its own children take) and runs its part: the data
    generator, a contender's child, or the parent that starts them."""
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    check_options(args)
    if args.generate:
        status = generate(args)  # an exit status, or what it generated
        return status if isinstance(status, int) else 0
    if args.child:
        return child(args)
    return parent(args)


def check_options(args: argparse.Namespace) -> None:
    if getattr(args, "repeat", 1) < 1:
        raise SystemExit("--repeat must be >= 1")


def chosen_contenders(args: argparse.Namespace, known: Sequence[str]) -> list[str]:
    """The ``--contenders`` list, checked against the known names."""
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = [c for c in contenders if c not in known]
    if unknown:
        raise SystemExit(f"unknown contenders {unknown}; choose from {list(known)}")
    return contenders


@contextlib.contextmanager
def parent_run(args: argparse.Namespace, prefix: str) -> Iterator[Path]:
    """A parent's run: the work folder (see `work_folder`) once the machine is
    quiet, removed afterwards unless it is ``--out`` or ``--keep`` is given."""
    out, tmp = work_folder(args, prefix)
    try:
        check_machine(args, first=True)
        yield out
    finally:
        if tmp and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def failed(rows: Iterable[dict[str, Any]]) -> int:
    """1 (after saying so) when a contender failed, else 0."""
    if any("error" in r for r in rows):
        print("ERROR: some contender failed (see above)", file=sys.stderr)
        return 1
    return 0


def work_folder(args: argparse.Namespace, prefix: str) -> tuple[Path, str | None]:
    """``--out`` (created), or a new temporary folder (also returned, to be removed)."""
    tmp = None
    if args.out is None:
        tmp = tempfile.mkdtemp(prefix=prefix)
        args.out = tmp
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out, tmp
