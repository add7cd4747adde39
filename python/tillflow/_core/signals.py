"""Stopping a run cleanly on SIGTERM or Ctrl-C.

While a pipeline runs in the main thread, `StopGuard` handles
SIGTERM and SIGINT itself. A signal that arrives while the run waits for
its source (the native streams wait in short slices and let the handler
run) stops the wait at once: no batch is open then. One that arrives while
a batch is normalized, checked or written is remembered, and the run stops
right after that batch commits. Either way the run ends at a safe point
with [Interrupted][tillflow.exceptions.Interrupted] (SIGTERM) or
``KeyboardInterrupt`` (SIGINT). Elsewhere (worker threads, where Python
cannot handle signals) nothing changes.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable, Iterator
from types import FrameType, TracebackType
from typing import Any

from tillflow.exceptions import Interrupted

__all__ = ["StopGuard", "is_stop"]

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def is_stop(exc: BaseException) -> bool:
    """Whether ``exc`` is a request to stop rather than a failure."""
    return isinstance(exc, (Interrupted, KeyboardInterrupt))


def stop_error(signum: int) -> BaseException:
    return KeyboardInterrupt() if signum == signal.SIGINT else Interrupted(signum)


class StopGuard:
    """Handles SIGTERM and SIGINT for the length of a ``with`` block, then
    restores the handlers it found."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self._waiting = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in _SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = signum
        if self._waiting:
            self._waiting = False
            raise stop_error(signum)

    def check(self) -> None:
        """Stop here if a signal asked to."""
        if self.requested is not None:
            raise stop_error(self.requested)

    def batches(self, stream: Iterable[Any]) -> Iterator[Any]:
        """``stream``'s batches; a signal during the wait for one stops the wait."""
        it = iter(stream)
        while True:
            self._waiting = True  # before the check: a signal in between still interrupts
            try:
                self.check()
                batch = next(it)
            except StopIteration:
                return
            finally:
                self._waiting = False
            yield batch
