"""Progress bars on stderr, shown only on a terminal or in Jupyter, so that
captured output (pipes, files, CI logs) never holds progress frames."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress_bar(enabled: bool, unit: str = "records") -> Iterator[Any]:
    """A progress display on stderr, or None when not ``enabled`` or when
    stderr is no terminal (a pipe, a file, CI): captured output never holds
    progress frames. Jupyter draws it in the notebook. ``unit`` names what
    the counts count."""
    # Neither a terminal nor a notebook kernel: no bar, and rich is not even imported.
    if not enabled or not (isatty(sys.stderr) or "ipykernel" in sys.modules):
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    # A real terminal, not rich's FORCE_COLOR/TTY_COMPATIBLE: CI logs that
    # force colours must not fill with frames.
    if not (console.is_jupyter or isatty(sys.stderr)):
        yield None
        return

    class Steps(Progress):
        """Tasks run one after another, so a new one means those of unknown
        size before it are done: they stop spinning and show full."""

        def add_task(self, *args: Any, **kwargs: Any) -> Any:
            self.settle()
            return super().add_task(*args, **kwargs)

        def settle(self) -> None:
            for task in self.tasks:
                if task.total is None:
                    self.update(task.id, total=task.completed)

    columns = (
        SpinnerColumn(finished_text="✓"),
        TextColumn("[bold]{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
    )
    with Steps(*columns, console=console, transient=False) as bar:
        yield bar
        bar.settle()  # skipped on an error: the failing step stays open


def isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


def steps(bar: Any, description: str, total: int | None, *, by_rows: bool = False) -> Any:
    """A callback advancing a new task of ``bar`` (None without a bar): by the
    rows it is given, or by one step per call."""
    if bar is None:
        return None
    task = bar.add_task(description, total=total)
    if by_rows:
        return lambda rows: bar.update(task, advance=rows)
    return lambda _name: bar.update(task, advance=1)
