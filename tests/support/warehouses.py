"""Frames and loads the warehouse tests share, and how each warehouse names a type."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl

import tillflow as tl

UTC = dt.timezone.utc
MONEY = pl.Decimal(38, 2)
STAMP = pl.Datetime("us", "UTC")


def orders_frame(rows: list[tuple[int, str, int | None]]) -> pl.DataFrame:
    """Root rows as the normalizer emits them: (id, total, customer id)."""
    return pl.DataFrame(
        {
            "id": [r[0] for r in rows],
            "total_price": [Decimal(r[1]) for r in rows],
            "customer__id": [r[2] for r in rows],
            "created_at": [dt.datetime(2024, 3, 1, 12, r[0] % 60, tzinfo=UTC) for r in rows],
            "_tf_id": [f"o{r[0]}" for r in rows],
        },
        schema_overrides={"total_price": MONEY, "created_at": STAMP, "customer__id": pl.Int64},
    )


def items_frame(rows: list[tuple[int, int, str, int]]) -> pl.DataFrame:
    """Child rows: (order id, position, title, quantity)."""
    return pl.DataFrame(
        {
            "title": [r[2] for r in rows],
            "quantity": [r[3] for r in rows],
            "_tf_id": [f"o{r[0]}-{r[1]}" for r in rows],
            "_tf_parent_id": [f"o{r[0]}" for r in rows],
            "_tf_idx": [r[1] for r in rows],
            "orders_id": [r[0] for r in rows],
        }
    )


def load(wh, mode, batches, pk=None, resource="orders", state=None):
    handle = wh.begin_load("shop", resource, mode, pk)
    for batch in batches:
        wh.write_batch(handle, batch, state=state)
    return wh.finish_load(handle)


def type_name(wh: Any, duckdb_name: str) -> str:
    """How ``wh`` names a column type in messages and ``_tf_schema_changes``."""
    if isinstance(wh, tl.warehouse.PostgresWarehouse):
        from tillflow.warehouse._postgres._types import show

        return show(duckdb_name)
    return duckdb_name
