"""The Rust ↔ Python boundary: frames cross intact, errors form one tree."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import polars as pl
import tomllib

import tillflow as tl
from tillflow import _native

ROOT = Path(__file__).resolve().parents[2]


def test_polars_version_is_within_the_declared_range():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in deps if d.startswith("polars"))
    lo, hi = re.match(r"polars>=([\d.]+),<([\d.]+)", spec).groups()
    version = tuple(int(x) for x in pl.__version__.split(".")[:2])
    assert tuple(int(x) for x in lo.split(".")[:2]) <= version < tuple(int(x) for x in hi.split(".")[:2])


def test_every_type_round_trips():
    rec = {
        "i": 9007199254740993,
        "f": 1.5,
        "b": True,
        "s": "žluťoučký kůň 🐎",
        "d": "12.34",
        "big": 18446744073709551615,
        "day": "2024-02-29",
        "ts": "2024-02-29T23:30:00-05:00",
        "n": None,
    }
    df = tl.normalize([rec], "t")["t"]
    assert df.schema["i"] == pl.Int64 and df["i"][0] == 9007199254740993
    assert df.schema["f"] == pl.Float64
    assert df.schema["b"] == pl.Boolean
    assert df["s"][0] == "žluťoučký kůň 🐎"
    assert df["d"][0] == Decimal("12.34")
    assert df["big"][0] == Decimal(18446744073709551615)
    assert df["day"][0] == dt.date(2024, 2, 29)
    assert df.schema["ts"] == pl.Datetime("us", "UTC")
    assert df["ts"][0] == dt.datetime(2024, 3, 1, 4, 30, tzinfo=dt.timezone.utc)
    assert "n" not in df.columns  # only ever null: no column yet
    # Frames made in Rust are ordinary polars frames.
    assert df.with_columns(pl.col("f") * 2)["f"][0] == 3.0


def test_empty_and_large_batches():
    assert tl.normalize([], "t")["t"].height == 0
    big = tl.normalize([{"k": i, "v": str(i)} for i in range(100_000)], "t")["t"]
    assert big.height == 100_000 and big["k"].sum() == 4_999_950_000


def test_exception_tree():
    for name in ("ConfigError", "SourceError", "SchemaError", "RuleError", "WarehouseError"):
        assert issubclass(getattr(tl, name), tl.TillflowError)
    assert issubclass(tl.AuthError, tl.HttpError) and issubclass(tl.HttpError, tl.SourceError)
    assert tl.TillflowError is _native.TillflowError


def test_release_build_and_version():
    assert _native.__version__ == tl.__version__
    # The suite runs against release builds; a debug build is far slower
    # and would mislead anyone timing it.
    assert _native.DEBUG_BUILD is False


def test_native_streams_may_be_dropped_on_another_thread(shop, tmp_path):
    """Orchestrators (Prefect, thread pools) keep a failed task's exception, and
    with it the frames holding native objects, and free them on their own threads."""
    import gc
    import threading

    csv = tmp_path / "a.csv"
    csv.write_text("id,amount\n1,2.5\n2,3.5\n")
    held = [
        iter(tl.sources.shopify(shop.url, shop.token, resources=["orders"]).resources[0].open(None)),
        iter(tl.sources.files(str(csv)).resources[0].open(None)),
    ]
    for stream in held:
        next(stream)

    def drop() -> None:
        held.clear()
        gc.collect()

    worker = threading.Thread(target=drop)
    worker.start()
    worker.join()
    assert held == []  # and no warning was raised on the way (warnings are errors in this suite)
