"""Load a trace in any supported format, chosen by file extension."""

from pathlib import Path

from hexsim.atomic import atomic_open
from hexsim.errors import InputError
from hexsim.workload.dataset_csv import read_dataset_csv
from hexsim.workload.hexgen_json import read_hexgen_json
from hexsim.workload.jsonl import read_jsonl, write_jsonl
from hexsim.workload.model import Query

READERS = {".json": read_hexgen_json, ".csv": read_dataset_csv, ".jsonl": read_jsonl}


def load_trace(path: str | Path) -> list[Query]:
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        known = ", ".join(sorted(READERS))
        raise InputError(str(path), f"unknown trace format {path.suffix!r} (expected one of {known})")
    return reader(path)


def save_trace(queries: list[Query], path: str | Path) -> None:
    """Write `queries` as hexsim JSONL, atomically."""
    with atomic_open(path) as handle:
        write_jsonl(queries, handle)
