"""Exactly once under SIGKILL: a loader process is killed at random points
(while pages are fetched and normalized, inside a batch's transaction, right
after a commit) and run again until it completes. Append mode, where nothing
hides a duplicate: afterwards every order version the shop served is in the
warehouse exactly once, with exactly its line items, and no run ever left a
duplicate behind (the committed state is never behind nor ahead of the data).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tillflow as tl
from tillflow.demo import DATA_END, DATA_START

ORDERS = 600
KILLS_PER_TEST = 28

# The loader, run as its own process so it can be killed outright. A kill
# point is a delay after the run starts, or a delay into the k-th batch's
# write (which lands inside the transaction, in its commit, or just after).
LOADER = r"""
import json, os, signal, sys, threading
import tillflow as tl

cfg = json.loads(sys.argv[1])
where = cfg["warehouse"]
if where["kind"] == "duckdb":
    wh = tl.warehouse.duckdb(where["path"])
else:
    wh = tl.warehouse.postgres(where["url"], schema=where["schema"])

def die_in(seconds):
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGKILL))
    timer.daemon = True
    timer.start()

kill = cfg.get("kill") or {}
if "after" in kill:
    die_in(kill["after"])
if "batch" in kill:
    write = type(wh).write_batch
    calls = [0]
    def write_batch(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == kill["batch"]:
            if kill["delay"] == 0:
                out = write(self, *args, **kwargs)
                os.kill(os.getpid(), signal.SIGKILL)
            die_in(kill["delay"])
        return write(self, *args, **kwargs)
    type(wh).write_batch = write_batch

source = tl.sources.shopify(
    cfg["url"], cfg["token"], resources=["orders"], start=cfg["start"], end=cfg["end"],
    windows=4, page_size=20, batch_size=40, concurrency=4,
)
tl.pipeline("shop", source, wh).run(write_mode="append")
wh.close()
"""


def kill_points(rng: random.Random, n: int, *, batches: int, seconds: float) -> list[dict[str, Any]]:
    """Kill points of three kinds, shuffled: anywhere in the first ``seconds``
    of the run (mostly fetching and normalizing), inside the k-th batch's
    write, or right after it."""
    points: list[dict[str, Any]] = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            points.append({"after": round(rng.uniform(0.0, seconds), 3)})
        elif kind == 1:
            points.append({"batch": rng.randint(1, batches), "delay": round(rng.uniform(0.0005, 0.02), 4)})
        else:
            points.append({"batch": rng.randint(1, batches), "delay": 0})
    rng.shuffle(points)
    return points


class Harness:
    def __init__(self, shop: Any, target: Target, tmp: Path):
        self.shop = shop
        self.warehouse = target.spec
        self.open_warehouse = target.open
        self.reset = target.reset
        self.script = tmp / "loader.py"
        self.script.write_text(LOADER)
        self.killed = 0
        self.completed = 0

    def run(self, kill: dict[str, Any] | None = None) -> int:
        cfg = {
            "url": self.shop.url,
            "token": self.shop.token,
            "start": DATA_START,
            "end": DATA_END,
            "warehouse": self.warehouse,
            "kill": kill,
        }
        proc = subprocess.run(
            [sys.executable, str(self.script), json.dumps(cfg)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode == -signal.SIGKILL:
            self.killed += 1
        elif proc.returncode == 0:
            self.completed += 1
        else:
            pytest.fail(f"the loader failed ({proc.returncode}) at kill point {kill}:\n{proc.stderr}")
        return proc.returncode

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self.open_warehouse() as wh:
            return wh.query(sql).rows()

    def assert_no_duplicates(self, context: str) -> None:
        if not self.query(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'orders' "
            "AND table_schema = current_schema()"
        )[0][0]:
            return
        dupes = self.query(
            "SELECT id, updated_at, count(*) FROM orders GROUP BY id, updated_at HAVING count(*) > 1 LIMIT 3"
        )
        assert not dupes, f"duplicate order versions after {context}: {dupes}"
        orphans = self.query(
            "SELECT count(*) FROM orders__line_items li WHERE NOT EXISTS "
            "(SELECT 1 FROM orders o WHERE o._tf_id = li._tf_parent_id AND o._tf_load_id = li._tf_load_id)"
        )[0][0]
        assert orphans == 0, f"{orphans} line items without their order after {context}"

    def kill_rounds(self, points: list[dict[str, Any]], completed: Callable[[], None] | None = None) -> None:
        """Runs the loader once per kill point, then once left alone. Each
        time a run gets to its end before its kill point, ``completed`` is
        called (to check the result and start over)."""
        for i, kill in enumerate(points):
            if self.run(kill) == 0 and completed is not None:
                completed()
            self.assert_no_duplicates(f"kill point {i} {kill}")
        assert self.run() == 0

    def assert_exactly(self, served: dict[int, list[str]], items: dict[int, int]) -> None:
        """``served``: every version (updated_at) of every order the shop has served."""
        rows = self.query("SELECT id, updated_at FROM orders")
        got: dict[int, list[str]] = {}
        for order_id, updated in rows:
            got.setdefault(int(order_id), []).append(_instant(updated))
        want = {k: sorted(_instant(v) for v in vs) for k, vs in served.items()}
        assert {k: sorted(v) for k, v in got.items()} == want
        line_items = self.query("SELECT count(*) FROM orders__line_items")[0][0]
        assert line_items == sum(items[k] * len(v) for k, v in want.items())
        # Row ids derive from the primary key, so versions of one order share
        # one; each version's items came with it, in its load.
        per_order = self.query(
            "SELECT o.id, count(li._tf_id) FROM orders o LEFT JOIN orders__line_items li "
            "ON li._tf_parent_id = o._tf_id AND li._tf_load_id = o._tf_load_id "
            "GROUP BY o._tf_id, o._tf_load_id, o.id"
        )
        assert all(n == items[int(i)] for i, n in per_order)


def _instant(value: Any) -> str:
    import pandas as pd

    return pd.Timestamp(value).tz_convert("UTC").isoformat()


def served_orders(shop: Any) -> tuple[dict[int, str], dict[int, int]]:
    """The shop's current orders, read over HTTP with the standard library."""
    from support.shop import fetch_all_orders

    raw = fetch_all_orders(shop.url, shop.token)
    return {o["id"]: o["updated_at"] for o in raw}, {o["id"]: len(o["line_items"]) for o in raw}


@pytest.fixture
def kill_shop() -> Iterator[Any]:
    with tl.demo_shop(orders=ORDERS, seed=7) as s:
        yield s


@dataclass
class Target:
    """A destination: how the loader opens it, how the test does, how to empty it."""

    spec: dict[str, Any]
    open: Callable[[], Any]
    reset: Callable[[], None]


def _drop_schema(url: str, schema: str) -> None:
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(url) as con, con.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        con.commit()


@pytest.fixture(params=["duckdb", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "duckdb":
        path = tmp_path / "wh.duckdb"
        yield Target(
            {"kind": "duckdb", "path": str(path)},
            lambda: tl.warehouse.duckdb(str(path)),
            lambda: [p.unlink() for p in tmp_path.glob("wh.duckdb*")] and None,
        )
        return
    url = request.getfixturevalue("postgres_url")
    schema = request.getfixturevalue("unique_name")
    yield Target(
        {"kind": "postgres", "url": url, "schema": schema},
        lambda: tl.warehouse.postgres(url, schema=schema),
        lambda: _drop_schema(url, schema),
    )
    _drop_schema(url, schema)


@pytest.mark.timeout(600)
def test_a_full_load_killed_anywhere_lands_every_order_once(kill_shop, target, tmp_path):
    h = Harness(kill_shop, target, tmp_path)
    current, items = served_orders(kill_shop)
    assert len(current) == ORDERS
    everything = {k: [v] for k, v in current.items()}

    def check_and_start_over() -> None:
        h.assert_exactly(everything, items)
        target.reset()

    points = kill_points(random.Random(20261121), KILLS_PER_TEST, batches=10, seconds=0.3)
    h.kill_rounds(points, check_and_start_over)
    assert h.killed >= KILLS_PER_TEST * 2 // 3, f"only {h.killed} of {KILLS_PER_TEST} kill points hit"
    h.assert_exactly(everything, items)


@pytest.mark.timeout(600)
def test_incremental_runs_killed_anywhere_append_each_edit_once(kill_shop, target, tmp_path):
    h = Harness(kill_shop, target, tmp_path)
    assert h.run() == 0
    first, items = served_orders(kill_shop)
    served = {k: [v] for k, v in first.items()}
    rng = random.Random(7)
    points = kill_points(rng, KILLS_PER_TEST, batches=3, seconds=0.1)
    # Edits arrive between the killed runs, as they would in a shop that
    # keeps selling while its loader crashes.
    for chunk in range(4):
        kill_shop.edit_orders(rng.randint(100, 200))
        now, _ = served_orders(kill_shop)
        for k, v in now.items():
            if v != served[k][-1]:
                served[k].append(v)
        h.kill_rounds(points[chunk * 7 : (chunk + 1) * 7])
    assert h.killed >= KILLS_PER_TEST // 3
    h.assert_exactly(served, items)
    with target.open() as wh:
        state = wh.get_state("shop", "orders")
    assert "resume" not in state
    latest = max((v[-1] for v in served.values()), key=_instant)
    assert _instant(state["cursor"]) == _instant(latest)
