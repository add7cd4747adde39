"""The native module's type stubs match what it exports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_native_stubs_match_the_module():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "tillflow._native",
            "--allowlist",
            str(ROOT / ".mypy-stubtest-allowlist"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
