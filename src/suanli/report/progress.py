"""A progress bar on stderr for commands that take more than a second (rich), off with --quiet, under --json and
when stderr is not a terminal: nothing but the answer goes to stdout."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress(label: str, total: int, quiet: bool = False) -> Iterator[Callable[[int], None]]:
    """Yields `tick(n=1)`; a no-op where no bar is shown."""
    if quiet or total <= 0 or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n=1: bar.advance(task, n)


@contextmanager
def stages(label: str, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """Yields `say(message)`: a spinner on stderr naming the stage a long command is in (probe, run); a no-op
    where no bar is shown."""
    if quiet or not sys.stderr.isatty():
        yield lambda message: None
        return
    from rich.console import Console

    with Console(stderr=True).status(label) as status:
        yield lambda message: status.update(f"{label}: {message}")
