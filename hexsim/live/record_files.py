"""A live run's records, appended to its CSV files as each call and query ends.

The files have the columns of `hexsim simulate --out` (`hexsim.metrics.export`), but unlike a
simulation's they are written while the run goes on: each row is flushed as it is added, so
a run that crashes or is interrupted keeps every record it finished.
"""

import csv
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from hexsim.metrics.export import csv_row
from hexsim.metrics.records import CallRecord, QueryRecord


class RecordFiles:
    """`queries_<label>.csv` and `calls_<label>.csv`, open for appending (see `record_files`)."""

    def __init__(self, queries: IO[str], calls: IO[str]):
        self._files = {QueryRecord: queries, CallRecord: calls}
        self._writers = {kind: csv.writer(handle, lineterminator="\n") for kind, handle in self._files.items()}

    def add(self, record: QueryRecord | CallRecord) -> None:
        kind = type(record)
        self._writers[kind].writerow(csv_row(record))
        self._files[kind].flush()


@contextmanager
def record_files(folder: Path, label: str) -> Iterator[RecordFiles]:
    """Start (or restart) `queries_<label>.csv` and `calls_<label>.csv` in `folder` with their headers."""
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        handles = []
        for name, kind in (("queries", QueryRecord), ("calls", CallRecord)):
            handle = stack.enter_context(open(folder / f"{name}_{label}.csv", "w", encoding="utf-8", newline=""))
            csv.writer(handle, lineterminator="\n").writerow(kind._fields)
            handle.flush()
            handles.append(handle)
        yield RecordFiles(*handles)
