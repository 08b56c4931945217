"""A progress bar that appears only in a terminal, when a run has taken longer than a second.

Its total is the work there is to do, known before the work starts: callers whose steps take
an unknown number of simulations count larger steps that they do know, and may say what the
current one is doing in the description.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

SHOW_AFTER_S = 1.0


class LazyProgress:
    def __init__(self, console: Console, description: str, total: int):
        self._console = console
        self._description = description
        self._total = total
        self._done = 0
        self._start = time.monotonic()
        self._progress: Progress | None = None
        self._task = None

    @property
    def done(self) -> int:
        return self._done

    def describe(self, description: str) -> None:
        """Say what the current step is doing (shown in front of the bar)."""
        self._description = description
        self._refresh()

    def advance(self, n: int = 1) -> None:
        self._done += n
        self._refresh()

    def _refresh(self) -> None:
        if self._progress is None:
            if not self._console.is_terminal or time.monotonic() - self._start < SHOW_AFTER_S:
                return
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self._console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._description, total=self._total)
        self._progress.update(self._task, completed=self._done, description=self._description)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@contextmanager
def lazy_progress(console: Console, description: str, total: int) -> Iterator[LazyProgress]:
    bar = LazyProgress(console, description, total)
    try:
        yield bar
    finally:
        bar.close()
