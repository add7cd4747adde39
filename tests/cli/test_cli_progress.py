"""Progress bars: on stderr when it is a terminal, never in captured output, never with --quiet."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import polars as pl
import pytest

# What a progress display draws: spinner frames, its units, cursor movement.
DRAWN = ("⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏", " records", "/? ", "\x1b[")
# Variables that would make rich draw without a terminal, or keep it from drawing.
_RICH_ENV = (
    "FORCE_TERMINAL",
    "FORCE_COLOR",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "NO_COLOR",
    "COLUMNS",
    "LINES",
    "TERM",
)


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in _RICH_ENV}
    out["TERM"] = "xterm-256color"
    return out


def captured(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tillflow.cli", *args],
        capture_output=True, text=True, timeout=120, check=False, env=env(),
    )  # fmt: skip


def on_terminal(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """Run the command with stderr on a pseudo-terminal and stdout to a file:
    (exit code, stdout, what the terminal showed)."""
    master, replica = pty.openpty()
    # A wide terminal, so rich draws each bar on one line.
    fcntl.ioctl(replica, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    out_path = tmp_path / "stdout.txt"
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tillflow.cli", *args],
            stdin=subprocess.DEVNULL, stdout=out, stderr=replica, env=env(),
        )  # fmt: skip
    os.close(replica)
    shown = bytearray()
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the command closed its end of the terminal
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
        code = proc.wait(timeout=120)
    return code, out_path.read_text(), shown.decode(errors="replace")


def plain(shown: str) -> str:
    """The terminal's text without colours and cursor movement, one line per frame."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown).replace("\r\n", "\n").replace("\r", "\n")


def frames(shown: str, prefix: str) -> list[str]:
    """The frames of one bar: the lines that start with ``prefix`` after the spinner."""
    return [" ".join(line[2:].split()) for line in plain(shown).splitlines() if line[2:].startswith(prefix)]


def assert_nothing_drawn(text: str) -> None:
    assert not [mark for mark in DRAWN if mark in text], text


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("progress") / "shop.duckdb"
    done = captured("demo", "--orders", "200", "--warehouse", str(db), "--quiet")
    assert done.returncode == 0, done.stderr
    return db


@pytest.fixture(scope="module")
def checked_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("validate")
    data = folder / "orders.parquet"
    pl.DataFrame({"id": range(5000), "total": [float(i % 90) for i in range(5000)]}).write_parquet(data)
    rules = folder / "rules.yaml"
    rules.write_text("rules:\n  - not_null: id\n  - between: total\n    min: 0\n    max: 100\n")
    return data, rules


def test_captured_output_has_no_progress(
    tmp_path: Path, loaded: Path, checked_file: tuple[Path, Path]
) -> None:
    demo = captured("demo", "--orders", "200", "--warehouse", str(tmp_path / "d.duckdb"))
    assert demo.returncode == 0, demo.stderr
    assert demo.stderr == ""
    assert "daily summary" in demo.stdout
    assert_nothing_drawn(demo.stdout)
    metrics = captured("metrics", "--warehouse", str(loaded))
    assert metrics.returncode == 0, metrics.stderr
    assert metrics.stderr == "" and "wrote metrics_rfm" in metrics.stdout
    data, rules = checked_file
    validate = captured("validate", str(data), "--rules", str(rules))
    assert validate.returncode == 0, validate.stderr
    assert validate.stderr == ""
    assert_nothing_drawn(validate.stdout)


def test_demo_on_a_terminal_shows_the_load(tmp_path: Path) -> None:
    code, out, shown = on_terminal(
        tmp_path, "demo", "--orders", "200", "--warehouse", str(tmp_path / "d.duckdb")
    )
    assert code == 0, shown
    # A bar per resource counting records (of unknown total until it ends), then the metrics.
    orders = frames(shown, "orders ")
    assert orders[0].startswith("orders ") and "0/? records" in orders[0]
    assert orders[-1].startswith("orders ━") and orders[-1].endswith("200/200 records 0:00:00")
    assert frames(shown, "customers ")[-1].endswith("40/40 records 0:00:00")
    assert frames(shown, "products ")[-1].endswith("24/24 records 0:00:00")
    assert frames(shown, "metrics ")[-1].endswith("8/8 metrics 0:00:00")
    assert "✓ orders" in plain(shown) and "⠋ orders" in plain(shown)
    # The results go to stdout, untouched by the bars.
    assert "daily summary" in out
    assert_nothing_drawn(out)


def test_quiet_on_a_terminal_shows_nothing(
    tmp_path: Path, loaded: Path, checked_file: tuple[Path, Path]
) -> None:
    code, out, shown = on_terminal(
        tmp_path, "demo", "--orders", "200", "--warehouse", str(tmp_path / "d.duckdb"), "--quiet"
    )
    assert code == 0, shown
    assert shown == ""
    assert "daily summary" in out
    data, rules = checked_file
    for args in (("metrics", "--warehouse", str(loaded)), ("validate", str(data), "--rules", str(rules))):
        code, out, shown = on_terminal(tmp_path, *args, "--quiet")
        assert code == 0, out
        assert shown == ""


def test_validate_and_metrics_on_a_terminal(
    tmp_path: Path, loaded: Path, checked_file: tuple[Path, Path]
) -> None:
    data, rules = checked_file
    code, out, shown = on_terminal(tmp_path, "validate", str(data), "--rules", str(rules))
    assert code == 0, shown
    # A Parquet file's row count is known up front: the bar has a total from the start.
    bar = frames(shown, "validate ")
    assert bar[0].endswith("0/5000 rows 0:00:00") and bar[-1].endswith("5000/5000 rows 0:00:00")
    assert out.startswith("PASSED")
    code, out, shown = on_terminal(
        tmp_path, "metrics", "--warehouse", str(loaded), "--only", "rfm,daily_summary"
    )
    assert code == 0, shown
    assert frames(shown, "metrics ")[-1].endswith("2/2 metrics 0:00:00")
    assert "wrote metrics_rfm" in out
