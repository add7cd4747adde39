"""The ``tillflow`` command: ``demo``, ``demo-shop``, ``init``, ``run``,
``validate-project``, ``schedule``, ``validate``, ``metrics``,
``serve-metrics``, ``metrics-textfile``, ``grafana-dashboard``, ``report``, ``health``, ``contract``,
``backup``, ``restore`` and ``publish``.

Long steps show progress bars on stderr when it is a terminal; ``--quiet``
turns them off, and a pipe or a log file never gets them. Exit codes are
one table for every command (`tillflow._core.exits`). Commands that read a
warehouse open an existing file read-only and never create one."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence

from tillflow._core import exits as _exits
from tillflow._core.logs import LOAD_WARNING
from tillflow.cli import backups, contracts, demo, load, monitor, project, sources
from tillflow.exceptions import Interrupted, TillflowError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.version:
        return _version(args)
    if not getattr(args, "command", None):
        parser.print_help()
        return _exits.USAGE
    with _sigterm_stops(), _log_to_stderr():
        try:
            return int(args.func(args))
        except (KeyboardInterrupt, Interrupted) as e:
            print(f"stopped: {e or 'interrupted'}", file=sys.stderr)
            return _exits.for_error(e)
        except TillflowError as e:
            print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
            return _exits.for_error(e)
        except Exception as e:
            traceback.print_exc()
            print(f"error: internal error (a bug in tillflow): {type(e).__name__}: {e}", file=sys.stderr)
            return _exits.INTERNAL


@contextlib.contextmanager
def _log_to_stderr() -> Iterator[None]:
    """tillflow's warnings on stderr, as Python shows them when logging is not
    configured, except a run's own failure (the command prints that error once,
    as its last line) and a load's warnings (the run's summary shows them)."""
    import logging

    tillflow_log = logging.getLogger("tillflow")
    if tillflow_log.handlers or logging.getLogger().handlers:
        yield  # the user configured logging: leave it alone
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.addFilter(lambda r: getattr(r, "status", None) not in ("failed", "interrupted"))
    handler.addFilter(lambda r: getattr(r, "kind", None) != LOAD_WARNING)
    tillflow_log.addHandler(handler)
    try:
        yield
    finally:
        tillflow_log.removeHandler(handler)


@contextlib.contextmanager
def _sigterm_stops() -> Iterator[None]:
    """SIGTERM raises [Interrupted][tillflow.exceptions.Interrupted] (as Ctrl-C raises KeyboardInterrupt),
    so every command exits 143 after its cleanup; a running pipeline handles
    it itself, at a safe point."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tillflow", description="A small business's data stack.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")
    for group in (demo, project, sources, load, monitor, contracts, backups):
        group.add_commands(sub)
    return p


def _version(args: argparse.Namespace) -> int:
    from tillflow import _native

    print(f"tillflow {_native.__version__}")
    return 0
