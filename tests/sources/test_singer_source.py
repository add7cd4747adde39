"""Singer taps: a real process on the other end of a pipe, two streams,
resumption from ``--state``, and a hostile tap (a record before its schema,
a line that is not a message, a 10 MB record, a STATE that is not JSON, a
crash after a state). Expected counts are derived from what the fake tap
sends (see ``support/fake_tap.py``)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import polars as pl
import pytest

import tillflow as tl
from tillflow.exceptions import ConfigError, SourceError

FAKE_TAP = Path(__file__).parents[1] / "support" / "fake_tap.py"


@pytest.fixture
def tap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake tap as an executable, logging each run's argv and state."""
    exe = tmp_path / "tap-fake"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_TAP}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FAKE_TAP_LOG", str(tmp_path / "runs.jsonl"))
    monkeypatch.delenv("FAKE_TAP_MODE", raising=False)
    return exe


def runs(tap: Path) -> list[dict]:
    log = tap.parent / "runs.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def lines_of(ids: range) -> int:
    return sum(i % 3 for i in ids)


def test_two_streams_load_with_declared_types(tap: Path, warehouse) -> None:
    source = tl.sources.singer(tap, config={"orders": 10})
    assert [m.name for m in source.resources[0].members] == ["orders", "events"]
    summary = tl.pipeline("shop", source, warehouse).run()
    assert summary.row_counts == {"orders": 10, "orders__lines": lines_of(range(1, 11)), "events": 10}
    orders = warehouse.query("SELECT * FROM orders ORDER BY id")
    schema = orders.schema
    assert schema["id"] == pl.Int64
    assert schema["zip"] == pl.String  # declared a string: "02101" stays text
    assert schema["total"] == pl.Decimal(38, 2)
    assert isinstance(schema["created_at"], pl.Datetime)
    assert schema["customer__email"] == pl.String
    assert "note" in schema  # declared, never sent: there, all null
    assert orders["zip"][0] == "02101"
    loads = warehouse.loads()
    assert sorted(loads["resource"].to_list()) == ["events", "orders"]
    assert set(loads.filter(pl.col("resource") == "orders")["write_mode"]) == {"merge"}
    assert set(loads.filter(pl.col("resource") == "events")["write_mode"]) == {"append"}


def test_a_rerun_passes_the_committed_state_and_loads_only_what_is_new(tap: Path, warehouse) -> None:
    tl.pipeline("shop", tl.sources.singer(tap, config={"orders": 10}), warehouse).run()
    summary = tl.pipeline("shop", tl.sources.singer(tap, config={"orders": 13}), warehouse).run()
    assert summary.row_counts == {"orders": 3, "orders__lines": lines_of(range(11, 14)), "events": 3}
    # events has no key: append mode, so a repeated row would show
    assert warehouse.query("SELECT count(*) AS n, count(DISTINCT seq) AS d FROM events").row(0) == (13, 13)
    first, second = runs(tap)
    assert first["state"] is None and "--state" not in first["argv"]
    assert second["state"] == {"bookmarks": {"orders": {"id": 10}}}
    assert "--catalog" in second["argv"] and "--config" in second["argv"]


def test_streams_select_in_the_catalog(tap: Path, warehouse) -> None:
    source = tl.sources.singer(tap, config={"orders": 5}, streams=["events"])
    summary = tl.pipeline("shop", source, warehouse).run()
    assert summary.row_counts == {"events": 5}
    with pytest.raises(ConfigError, match=r"no stream \['refunds'\]"):
        tl.sources.singer(tap, streams=["refunds"])


def test_a_crashing_tap_keeps_what_its_last_state_covers(tap: Path, warehouse, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_TAP_MODE", "crash")
    with pytest.raises(SourceError) as caught:
        tl.pipeline("shop", tl.sources.singer(tap, config={"orders": 10}), warehouse).run()
    message = str(caught.value)
    assert "exited with status 2" in message
    assert "lost the connection to the server" in message and "ConnectionResetError" in message
    # The state after record 4 was the last one: rows 5 and 6 are not vouched for.
    assert warehouse.row_counts()["orders"] == 4
    assert warehouse.row_counts()["events"] == 4
    monkeypatch.delenv("FAKE_TAP_MODE")
    tl.pipeline("shop", tl.sources.singer(tap, config={"orders": 10}), warehouse).run()
    assert runs(tap)[-1]["state"] == {"bookmarks": {"orders": {"id": 4}}}
    assert warehouse.query("SELECT count(*), count(DISTINCT seq) FROM events").row(0) == (10, 10)
    assert warehouse.row_counts()["orders"] == 10


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("record_first", r'line 1: a RECORD message for stream "orders" came before its SCHEMA'),
        ("garbage", r"line \d+ of its output is not a Singer message .*INFO this is a log line"),
        ("bad_state", r"line \d+ of its output is not a Singer message \(not JSON"),
    ],
)
def test_a_hostile_tap_is_named_and_committed_rows_stay(tap: Path, warehouse, monkeypatch, mode, says):
    monkeypatch.setenv("FAKE_TAP_MODE", mode)
    with pytest.raises(SourceError, match=says) as caught:
        tl.pipeline("shop", tl.sources.singer(tap, config={"orders": 10}), warehouse).run()
    assert str(caught.value).startswith("fake: ")
    expected = 0 if mode == "record_first" else 4  # the rows the STATE after record 4 covers
    assert warehouse.row_counts().get("orders", 0) == expected


def test_stdout_noise_can_be_skipped(tap: Path, warehouse, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_TAP_MODE", "garbage")
    source = tl.sources.singer(tap, config={"orders": 10}, on_bad_line="skip")
    assert tl.pipeline("shop", source, warehouse).run().row_counts["orders"] == 10


def test_a_ten_megabyte_record_loads(tap: Path, warehouse, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_TAP_MODE", "huge")
    tl.pipeline("shop", tl.sources.singer(tap, config={"orders": 6}), warehouse).run()
    n = warehouse.query("SELECT length(note) FROM orders WHERE id = 10000").item()
    assert n == 10 << 20


def test_the_config_file_is_owner_only_and_secrets_stay_masked(tap: Path, tmp_path: Path) -> None:
    source = tl.sources.singer(tap, config={"orders": 3, "password": tl.Secret("s3cr3t-value")})
    assert "s3cr3t-value" not in repr(source.resources[0])
    stream = source.resources[0].open(None)
    work = Path(stream.work.name)
    mode = (work / "config.json").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert json.loads((work / "config.json").read_text())["password"] == "s3cr3t-value"
    assert sum(part["records"] for batch in stream for part in batch["parts"]) == 6
    assert not work.exists()


def test_a_missing_tap_says_how_to_install_one() -> None:
    with pytest.raises(ConfigError, match="not an executable on PATH; install the tap in its own virtualenv"):
        tl.sources.singer("tap-that-does-not-exist")


def test_recorded_output_loads_like_a_running_tap(tap: Path, tmp_path: Path, warehouse) -> None:
    recorded = tmp_path / "out.jsonl"
    config = tmp_path / "config.json"
    config.write_text('{"orders": 8}')
    os.system(f'"{tap}" --config "{config}" > "{recorded}"')
    summary = tl.pipeline("replay", tl.sources.singer_output(recorded), warehouse).run()
    assert summary.row_counts == {"orders": 8, "orders__lines": lines_of(range(1, 9)), "events": 8}


def test_every_warehouse_takes_a_tap_and_its_state(tap: Path, any_warehouse) -> None:
    tl.pipeline("shop", tl.sources.singer(tap, config={"orders": 9}), any_warehouse).run()
    summary = tl.pipeline("shop", tl.sources.singer(tap, config={"orders": 12}), any_warehouse).run()
    assert summary.row_counts == {"orders": 3, "orders__lines": lines_of(range(10, 13)), "events": 3}
    counts = any_warehouse.row_counts()
    assert (counts["orders"], counts["events"], counts["orders__lines"]) == (12, 12, lines_of(range(1, 13)))
    assert runs(tap)[-1]["state"] == {"bookmarks": {"orders": {"id": 9}}}
