"""HTTP faults: a paged API on loopback (and the demo shop behind a proxy)
answers with 429 storms, 5xx bursts, stalls, resets, truncated and trickling
bodies, repeated and changing pages, cursors that go backwards, and goes
down mid-run. Each scenario ends with the warehouse holding every record
exactly once, after the engine's own retries or after a rerun resumes."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from faultkit import (
    PATIENT_RETRY,
    FirstAttempts,
    Hangup,
    Reset,
    Schedule,
    Stall,
    Status,
    Trickle,
    Truncate,
    after_batches,
    assert_exact,
    assert_names,
    fails,
    internal_error,
    load_statuses,
    make_records,
    paged_api,
    proxy,
    rest_source,
    retry_after_date,
    run_pipeline,
    starved,
    too_many,
    warehouse_rows,
)

import tillflow as tl

RECORDS = 57  # six pages of ten, the last one short
PAGES = 6
# Enough pages that a run stopped by a hook after a few batches has pages
# left to fetch (the engine reads a few pages ahead of the warehouse).
MANY = 240


def every_page(faults: list[Any], pages: int = PAGES) -> Schedule:
    """The same faults, in order, for each numbered page."""
    return Schedule({f"page={p}": [*faults] for p in range(1, pages + 1)})


# -- 429 and 5xx


@pytest.mark.parametrize(
    "retry_after",
    [None, "0", "120", "date-ahead", "date-past"],
    ids=["no-retry-after", "delta-0", "delta-120-capped", "http-date-ahead", "http-date-past"],
)
def test_a_429_storm_is_waited_out_and_every_record_lands_once(warehouse, retry_after):
    if retry_after == "date-ahead":
        retry_after = retry_after_date(3600)  # an hour ahead: capped by max_retry_after_secs
    elif retry_after == "date-past":
        retry_after = retry_after_date(-3600)
    records = make_records(RECORDS)
    plan = every_page([too_many(retry_after) for _ in range(3)])
    with paged_api(records, faults=plan) as (api, server):
        run = run_pipeline("api", rest_source(api, server, retry=PATIENT_RETRY), warehouse)
        assert plan.left == 0 and server.faults_served("429") == 3 * PAGES
    assert_exact(warehouse, records)
    assert run.record.retries == 3 * PAGES
    assert load_statuses(warehouse) == ["completed"]


def test_a_429_storm_longer_than_the_retries_fails_naming_the_url_and_a_rerun_resumes(warehouse):
    records = make_records(RECORDS)
    plan = Schedule({"page=4": [too_many("0")] * 50})
    with paged_api(records, faults=plan) as (api, server):
        source = rest_source(api, server, concurrency=1)
        error = fails(tl.HttpError, lambda: run_pipeline("api", source, warehouse))
        assert error.status == 429
        assert_names(error, f"{server.url}/items", "page=4", "after 2 attempts")
        # The three pages before it are committed, and nothing after it.
        assert warehouse.row_counts()["items"] == 30
        plan.pending.clear()  # the limit lifts
        run_pipeline("api", source, warehouse)
        # The rerun walked past the committed pages rather than fetching them again.
        assert sorted(int(r.query["page"]) for r, f in server.log if f is None) == [1, 2, 3, 4, 5, 6]
    assert_exact(warehouse, records)
    assert load_statuses(warehouse) == ["failed", "completed"]


def test_5xx_bursts_on_every_page_are_retried(warehouse):
    records = make_records(RECORDS)
    burst = [Status(500), Status(502, body=b"<html>Bad Gateway</html>"), Status(503), Status(504)]
    plan = every_page(burst)
    with paged_api(records, faults=plan) as (api, server):
        run = run_pipeline("api", rest_source(api, server, retry=PATIENT_RETRY), warehouse)
        assert plan.left == 0
    assert_exact(warehouse, records)
    assert run.record.retries == 4 * PAGES


@pytest.mark.parametrize("paginator", ["page", "offset", "link", "cursor"])
def test_a_server_error_that_persists_keeps_the_pages_before_it_and_a_rerun_resumes(warehouse, paginator):
    records = make_records(MANY)
    with paged_api(records, paginator=paginator) as (api, server):
        failing = threading.Event()

        def plan(request: Any) -> Any:
            return internal_error() if failing.is_set() else None

        server.faults = plan
        source = rest_source(api, server, concurrency=1)
        after_batches(warehouse, 2, failing.set)
        error = fails(tl.HttpError, lambda: run_pipeline("api", source, warehouse))
        assert error.status == 500
        assert_names(error, f"{server.url}/items", "HTTP 500", "after 2 attempts")
        kept = warehouse.row_counts()["items"]
        assert kept % 10 == 0 and 20 <= kept < MANY
        failing.clear()
        run_pipeline("api", source, warehouse)
    assert_exact(warehouse, records)
    assert load_statuses(warehouse) == ["failed", "completed"]


def test_a_persistent_failure_and_resume_on_each_warehouse(any_warehouse):
    records = make_records(RECORDS)
    plan = Schedule({"page_info=p4": [Status(503)] * 2})
    with paged_api(records, faults=plan, paginator="link") as (api, server):
        source = rest_source(api, server, concurrency=1)
        error = fails(tl.HttpError, lambda: run_pipeline("api", source, any_warehouse))
        assert_names(error, "page_info=p4", "HTTP 503")
        assert any_warehouse.row_counts()["items"] == 30
        run_pipeline("api", source, any_warehouse)
        assert plan.left == 0
    assert_exact(any_warehouse, records)
    assert load_statuses(any_warehouse) == ["failed", "completed"]


# -- the wire


def test_a_stalled_response_times_out_and_is_retried(warehouse):
    records = make_records(RECORDS)
    plan = Schedule({"page=2": [Stall(1.0)], "page=5": [Stall(1.0)]})
    with paged_api(records, faults=plan) as (api, server):
        run = run_pipeline("api", rest_source(api, server, timeout=0.3), warehouse)
        assert plan.left == 0
    assert_exact(warehouse, records)
    assert run.record.retries == 2


def test_a_stall_on_every_attempt_fails_as_a_timeout_naming_the_url(warehouse):
    records = make_records(RECORDS)
    plan = Schedule({"page=3": [Stall(0.6)] * 2})
    with paged_api(records, faults=plan) as (api, server):
        source = rest_source(api, server, timeout=0.2, concurrency=1)
        error = fails(tl.HttpError, lambda: run_pipeline("api", source, warehouse))
        assert_names(error, f"{server.url}/items", "page=3", "timed out", "after 2 attempts")
        assert error.status is None
        assert warehouse.row_counts()["items"] == 20
        run_pipeline("api", source, warehouse)
    assert_exact(warehouse, records)


@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.99])
def test_a_connection_reset_mid_body_is_retried(warehouse, fraction):
    records = make_records(RECORDS)
    plan = every_page([Reset(fraction)])
    with paged_api(records, faults=plan) as (api, server):
        run = run_pipeline("api", rest_source(api, server, retry=PATIENT_RETRY), warehouse)
        assert plan.left == 0
    assert_exact(warehouse, records)
    assert run.record.retries == PAGES


@pytest.mark.parametrize("fraction", [0.5, 0.99])
def test_a_truncated_200_with_a_matching_length_is_retried(warehouse, fraction):
    """A proxy or an overloaded vendor cuts the body short yet sends a
    Content-Length that matches: the transfer looks whole, the JSON is not."""
    records = make_records(RECORDS)
    plan = Schedule({"page=2": [Truncate(fraction)], "page=5": [Truncate(fraction)]})
    with paged_api(records, faults=plan) as (api, server):
        run = run_pipeline("api", rest_source(api, server, retry=PATIENT_RETRY), warehouse)
        assert plan.left == 0
    assert_exact(warehouse, records)
    assert run.record.retries == 2


def test_a_body_truncated_on_every_attempt_fails_naming_the_url_and_a_rerun_resumes(warehouse):
    records = make_records(RECORDS)
    plan = Schedule({"page=4": [Truncate(0.5)] * 2})
    with paged_api(records, faults=plan) as (api, server):
        source = rest_source(api, server, concurrency=1)
        error = fails(tl.SourceError, lambda: run_pipeline("api", source, warehouse))
        assert_names(error, f"{server.url}/items", "page=4", "2 attempts")
        assert warehouse.row_counts()["items"] == 30  # the rows before it stay committed
        run_pipeline("api", source, warehouse)
        assert plan.left == 0
    assert_exact(warehouse, records)


def test_a_body_trickling_slower_than_the_timeout_is_cut_and_retried(warehouse):
    """Slow-loris: the headers arrive at once, the body a few bytes at a
    time; the timeout covers the whole response, not each read."""
    records = make_records(RECORDS)
    plan = Schedule({"page=3": [Trickle(delay=0.05, chunk=16)]})
    with paged_api(records, faults=plan) as (api, server):
        run = run_pipeline("api", rest_source(api, server, timeout=0.5), warehouse)
        assert plan.left == 0
    assert_exact(warehouse, records)
    assert run.record.retries == 1


def test_a_body_trickling_on_every_attempt_fails_as_a_timeout_and_a_rerun_resumes(warehouse):
    records = make_records(RECORDS)
    plan = Schedule({"page=5": [Trickle(delay=0.05, chunk=16)] * 2})
    with paged_api(records, faults=plan) as (api, server):
        source = rest_source(api, server, timeout=0.4, concurrency=1)
        error = fails(tl.HttpError, lambda: run_pipeline("api", source, warehouse))
        assert_names(error, "page=5", "timed out")
        assert warehouse.row_counts()["items"] == 40
        run_pipeline("api", source, warehouse)
    assert_exact(warehouse, records)


# -- pages that misbehave


@pytest.mark.parametrize("paginator", ["link", "cursor"])
def test_a_page_served_twice_loads_its_records_once(warehouse, paginator):
    """The API repeats page 3 before going on to page 4 (a paging bug seen in
    vendors whose offsets lag): merge on the primary key keeps each record once."""
    records = make_records(RECORDS)
    with paged_api(records, paginator=paginator) as (api, server):
        api.repeat_page = 3
        run_pipeline("api", rest_source(api, server, write_mode="merge"), warehouse)
        assert len(server.log) == PAGES + 1
    assert_exact(warehouse, records)


def test_a_page_that_changes_between_two_fetches_loads_its_latest_content(warehouse):
    """Page 2's first answer is cut off; by the retry a record on it changed.
    The warehouse gets the content the engine finally read, once."""
    records = make_records(RECORDS)
    with paged_api(records) as (api, server):
        changed = threading.Event()

        def plan(request: Any) -> Any:
            if request.query.get("page") == "2" and not changed.is_set():
                changed.set()
                fault = Reset(0.5)
                api.update(15, name="item 15, renamed", qty=99)
                return fault
            return None

        server.faults = plan
        run_pipeline("api", rest_source(api, server, concurrency=1), warehouse)
        final = api.snapshot()
    assert changed.is_set()
    # The record moved to the end of the order (a later updated_at): page 2 now
    # holds record 21, and record 15 is read on the last page. Nothing lost.
    assert_exact(warehouse, final)
    assert warehouse.query("SELECT name, qty FROM items WHERE id = 15").rows() == [("item 15, renamed", 99)]


def test_records_changed_after_a_run_arrive_with_the_next_incremental_run(warehouse):
    records = make_records(RECORDS)
    with paged_api(records) as (api, server):
        source = rest_source(api, server, incremental={"start": "2024-01-01T00:00:00Z"}, write_mode="append")
        run_pipeline("api", source, warehouse)
        api.update(7, qty=70)
        api.update(33, qty=330)
        run_pipeline("api", source, warehouse)
        final = api.snapshot()
    versions = warehouse.query("SELECT id, qty FROM items WHERE id IN (7, 33) ORDER BY id, qty").rows()
    assert versions == [(7, 4), (7, 70), (33, 14), (33, 330)]
    # Exactly two more rows than records: the two edits, appended once each.
    assert warehouse.row_counts()["items"] == RECORDS + 2
    latest = warehouse.query(
        "SELECT id, name, qty FROM items "
        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY updated_at DESC) = 1"
    )
    assert sorted(latest.rows()) == sorted((r["id"], r["name"], r["qty"]) for r in final)


@pytest.mark.parametrize("paginator", ["cursor", "link"])
def test_a_paging_cursor_that_goes_backwards_fails_naming_the_url_and_duplicates_nothing(
    warehouse, paginator
):
    """Page 4 names page 2 as its next page. Following it would loop forever,
    loading pages 2 to 4 again and again; the run must stop with an error
    naming the page, load no page twice, and a rerun against the same broken
    API must fail the same way without duplicating anything either."""
    records = make_records(RECORDS)
    with paged_api(records, paginator=paginator) as (api, server):
        api.cursor_back = (4, 2)
        served: dict[str, int] = {}

        def loop_guard(request: Any) -> Any:
            # For this test only: a page asked for a fifth time gets a 400, so an
            # engine that follows the loop fails here instead of at the timeout.
            token = request.query.get("cursor") or request.query.get("page_info") or ""
            served[token] = served.get(token, 0) + 1
            return Status(400, body=b"loop guard") if served[token] > 4 else None

        server.faults = loop_guard
        source = rest_source(api, server, concurrency=1, write_mode="append")
        for _ in range(2):
            error = fails(tl.SourceError, lambda: run_pipeline("api", source, warehouse))
            assert "loop guard" not in str(error), f"the engine followed the loop: {error}"
            assert_names(error, f"{server.url}/items", "p2")
            ids = [r[0] for r in warehouse_rows(warehouse)]
            assert len(ids) == len(set(ids)), "a page was loaded twice"
            assert set(range(1, 31)) <= set(ids) <= set(range(1, 41))


def test_records_older_than_the_stored_cursor_never_move_it_back(warehouse):
    """An API that returns records updated before the stored cursor (a clock
    set back, a replica behind): they load, and the next run still starts
    from the newest cursor seen, not the older one."""
    records = make_records(20)
    with paged_api(records) as (api, server):
        source = rest_source(api, server, incremental={"start": "2024-01-01T00:00:00Z"}, write_mode="merge")
        run_pipeline("api", source, warehouse)
        newest = warehouse.get_state("api", "items")["cursor"]
        # The API now serves an edit stamped an hour in the past, and ignores the filter.
        api.update(5, qty=555, updated_at="2024-02-29T23:00:00Z")
        api.records.append({**make_records(1, start=99)[0], "updated_at": "2024-02-29T22:00:00Z"})
        original = api._selected

        api._selected = lambda since: original(None)  # type: ignore[method-assign]
        run_pipeline("api", source, warehouse)
        final = api.snapshot()
    assert_exact(warehouse, final)
    assert warehouse.get_state("api", "items")["cursor"] == newest


# -- the server goes away


def test_the_api_restarting_mid_run_loses_and_duplicates_nothing(warehouse):
    """The API goes down after the second batch (open connections dropped)
    and listens again on the same port once the engine has used up the
    pages it read ahead, so its requests meet a server that is down."""
    records = make_records(MANY)
    with paged_api(records, paginator="link") as (api, server):
        worker = threading.Thread(target=lambda: server.restart(until=starved(written)))
        written = after_batches(warehouse, 2, worker.start)
        retry = {**PATIENT_RETRY, "max_attempts": 60, "initial_backoff_secs": 0.02, "max_backoff_secs": 0.1}
        run = run_pipeline("api", rest_source(api, server, retry=retry, concurrency=1), warehouse)
        worker.join()
    assert_exact(warehouse, records)
    assert run.record.retries >= 1
    assert load_statuses(warehouse) == ["completed"]


def test_the_api_hanging_up_mid_run_then_coming_back_is_resumed(warehouse):
    records = make_records(MANY)
    with paged_api(records, paginator="cursor") as (api, server):
        down = threading.Event()
        server.faults = lambda request: Hangup() if down.is_set() else None
        after_batches(warehouse, 3, down.set)
        source = rest_source(api, server, concurrency=1)
        error = fails(tl.HttpError, lambda: run_pipeline("api", source, warehouse))
        assert_names(error, f"{server.url}/items", "cursor=p")
        down.clear()
        run_pipeline("api", source, warehouse)
    assert_exact(warehouse, records)


# -- the Shopify preset against the demo shop


def shop_orders(shop: Any) -> dict[int, tuple[str, int]]:
    from support.shop import fetch_all_orders

    return {o["id"]: (o["updated_at"], len(o["line_items"])) for o in fetch_all_orders(shop.url, shop.token)}


def assert_orders(wh: Any, want: dict[int, tuple[str, int]]) -> None:
    rows = wh.query(
        "SELECT o.id, (SELECT count(*) FROM orders__line_items li WHERE li._tf_parent_id = o._tf_id) "
        "FROM orders o ORDER BY o.id"
    ).rows()
    ids = [int(i) for i, _ in rows]
    assert len(ids) == len(set(ids)), "duplicated orders"
    assert ids == sorted(want), f"lost orders: {sorted(set(want) - set(ids))[:10]}"
    assert {int(i): n for i, n in rows} == {k: v[1] for k, v in want.items()}


def test_the_shopify_preset_through_a_proxy_that_throttles_fails_and_resets(warehouse):
    with tl.demo_shop(orders=300, seed=3) as shop:
        want = shop_orders(shop)
        plan = FirstAttempts([too_many("0.01"), Status(502), Reset(0.3), too_many(), Status(503)] * 2)
        with proxy(shop.url, plan) as front:
            source = tl.sources.shopify(
                front.url, shop.token, resources=["orders"], page_size=25, retry=PATIENT_RETRY,
                start=shop.window["start"], end=shop.window["end"], windows=3,
            )  # fmt: skip
            run = run_pipeline("shop", source, warehouse, write_mode="append")
            assert plan.left == 0
    assert_orders(warehouse, want)
    assert run.record.retries == 10


def restarted(port: int, **options: Any) -> Any:
    """A new demo shop on ``port``, once the stopped one has let go of it
    (stopping closes its listener in the background)."""
    for _ in range(100):
        try:
            return tl.demo_shop(port=port, **options)
        except tl.ConfigError as exc:
            if "in use" not in str(exc):
                raise
            time.sleep(0.02)
    raise AssertionError(f"port {port} stayed in use after the demo shop stopped")


def test_the_demo_shop_restarting_mid_run_on_the_same_port(warehouse):
    """The shop goes down after the third batch and comes back on the same
    port once the engine has used up the pages it read ahead: its refused
    connections are retried and the run completes with every order once."""
    shops = [tl.demo_shop(orders=400, seed=5)]
    try:
        want = shop_orders(shops[0])
        port, url = shops[0].port, shops[0].url
        source = tl.sources.shopify(
            url, shops[0].token, resources=["orders"], page_size=20, batch_size=20, concurrency=1,
            retry={**PATIENT_RETRY, "max_attempts": 60, "max_backoff_secs": 0.1},
        )  # fmt: skip

        def restart() -> None:
            shops[0].stop()
            quiet = starved(written)
            while not quiet():
                time.sleep(0.01)
            shops.append(restarted(port, orders=400, seed=5))

        worker = threading.Thread(target=restart)
        written = after_batches(warehouse, 3, worker.start)
        run = run_pipeline("shop", source, warehouse, write_mode="append")
        worker.join()
        assert shops[-1].url == url
    finally:
        for shop in shops:
            shop.stop()
    assert_orders(warehouse, want)
    assert run.record.retries >= 1
