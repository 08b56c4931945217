"""A progress bar that appears only when a run has taken longer than a second."""

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

    def advance(self, n: int = 1) -> None:
        self._done += n
        if self._progress is None:
            if time.monotonic() - self._start < SHOW_AFTER_S:
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
        self._progress.update(self._task, completed=self._done)

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
