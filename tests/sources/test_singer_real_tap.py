"""A real Singer tap from PyPI, offline: MeltanoLabs' tap-postgres (built on
the Singer SDK) against the local PostgreSQL, full-table then incremental,
with exact counts and its own STATE passed back with ``--state``.

The tap runs from its own virtualenv, as Meltano installs taps: .ci/run
puts its executable in TILLFLOW_TAP_POSTGRES."""

from __future__ import annotations

import copy

import polars as pl
import pytest

import tillflow as tl
from support.databases import Db
from support.services import external_tool


@pytest.fixture
def tap_postgres() -> str:
    return external_tool("TILLFLOW_TAP_POSTGRES", "tap-postgres executable", on_path="tap-postgres")


def config(pg: Db) -> dict:
    return {
        "host": "127.0.0.1", "port": 5432, "user": "postgres", "password": "", "database": "test",
        "filter_schemas": [pg.schema],
    }  # fmt: skip


def make_orders(pg: Db, first: int, last: int) -> None:
    pg.run(
        f"INSERT INTO {pg.q(pg.schema)}.orders SELECT g, lpad(g::text, 5, '0'), g * 1.25, "
        f"timestamptz '2024-01-01 00:00Z' + g * interval '1 hour', (ARRAY['gift', 'rush'])[1:(g % 3)] "
        f"FROM generate_series({first}, {last}) g"
    )


def incremental(catalog: dict, stream: str, key: str) -> dict:
    """The catalog with a stream replicated incrementally by ``key``, as a
    Meltano user sets ``metadata: {stream: {replication-method: ...}}``."""
    out = copy.deepcopy(catalog)
    for entry in out["streams"]:
        if entry["tap_stream_id"] == stream:
            root = next(m for m in entry["metadata"] if m["breadcrumb"] == [])
            root["metadata"].update({"replication-method": "INCREMENTAL", "replication-key": key})
    return out


def test_tap_postgres_full_table_then_incremental(tap_postgres: str, pg: Db, warehouse) -> None:
    pg.run(
        f"CREATE TABLE {pg.q(pg.schema)}.orders (id int PRIMARY KEY, zip text, total numeric(10, 2), "
        f"created_at timestamptz, tags text[])"
    )
    make_orders(pg, 1, 120)
    stream = f"{pg.schema}-orders"
    source = tl.sources.singer(tap_postgres, config=config(pg), streams=[stream])
    group = source.resources[0]
    assert [(m.name, m.primary_key) for m in group.members] == [(stream, ["id"])]
    tags = sum(g % 3 for g in range(1, 121))

    summary = tl.pipeline("pg", source, warehouse).run()
    assert summary.row_counts == {stream: 120, f"{stream}__tags": tags}
    orders = warehouse.query(f'SELECT * FROM "{stream}" ORDER BY id')
    assert orders["zip"].to_list()[:2] == ["00001", "00002"]  # a string column stays text
    assert orders.schema["created_at"] == pl.Datetime("us", "UTC")
    assert float(orders["total"].sum()) == pytest.approx(1.25 * 120 * 121 / 2)

    # Incremental by id: the second run starts from the state the first committed.
    catalog = incremental(group.spec["catalog"], stream, "id")
    source = tl.sources.singer(tap_postgres, config=config(pg), catalog=catalog)
    tl.pipeline("pg-inc", source, warehouse).run()
    make_orders(pg, 121, 150)
    summary = tl.pipeline("pg-inc", source, warehouse).run()
    # The SDK re-reads the bookmark's own row (replication key >= bookmark): merged by key.
    assert summary.row_counts[stream] == 31, summary.row_counts
    totals = warehouse.query(f'SELECT count(*), count(DISTINCT id), max(id) FROM "{stream}"').row(0)
    assert totals == (150, 150, 150)
    state = warehouse.get_state("pg-inc", stream)
    assert state["state"]["bookmarks"][stream]["replication_key_value"] == 150
