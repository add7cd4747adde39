"""Helpers the tests share, beside the fixtures of ``conftest.py``: the
``tillflow`` command as a user runs it and retries fast enough for tests
that exercise failures. The modules of this package hold the rest: loopback
servers for alerts, secrets and stalled runs, the presets pointed at the
demo estate, the metrics as plain SQL, rule checks, the local services and
warehouse frames."""

from __future__ import annotations

import os
import subprocess
import sys

# Retries fast enough for tests that exercise failures.
FAST_RETRY = {"max_attempts": 2, "initial_backoff_secs": 0.01, "max_backoff_secs": 0.05}


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: str | os.PathLike[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``tillflow`` command as a user runs it, output captured; ``env`` adds variables,
    ``cwd`` is the folder it runs in."""
    return subprocess.run(
        [sys.executable, "-m", "tillflow.cli", *args],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **(env or {})}, cwd=cwd,
    )  # fmt: skip
