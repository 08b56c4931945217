"""Per-query and per-call CSV exports of a run."""

import csv
from pathlib import Path

from hexsim.atomic import atomic_open
from hexsim.metrics.records import CallRecord, QueryRecord, RunRecords


def _write(path: Path, kind: type, rows) -> None:
    names = list(kind._fields)
    with atomic_open(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            writer.writerow(["" if (v := getattr(row, n)) is None else v for n in names])


def write_run_csvs(run: RunRecords, folder: Path) -> list[Path]:
    """Write `queries_<policy>.csv` and `calls_<policy>.csv` into `folder`; returns the paths."""
    queries = folder / f"queries_{run.policy}.csv"
    calls = folder / f"calls_{run.policy}.csv"
    _write(queries, QueryRecord, run.queries)
    _write(calls, CallRecord, run.calls)
    return [queries, calls]
