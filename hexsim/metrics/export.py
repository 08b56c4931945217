"""Per-query and per-call CSV exports of a run."""

import csv
from pathlib import Path
from typing import NamedTuple

from hexsim.atomic import atomic_open
from hexsim.metrics.records import CallRecord, QueryRecord, RunRecords


def csv_row(record: NamedTuple) -> list:
    """A record's fields in the order of its columns (`type(record)._fields`), empty where None."""
    return ["" if v is None else v for v in record]


def _write(path: Path, kind: type, rows) -> None:
    with atomic_open(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(kind._fields)
        for row in rows:
            writer.writerow(csv_row(row))


def write_run_csvs(run: RunRecords, folder: Path) -> list[Path]:
    """Write `queries_<policy>.csv` and `calls_<policy>.csv` into `folder`; returns the paths."""
    queries = folder / f"queries_{run.policy}.csv"
    calls = folder / f"calls_{run.policy}.csv"
    _write(queries, QueryRecord, run.queries)
    _write(calls, CallRecord, run.calls)
    return [queries, calls]
