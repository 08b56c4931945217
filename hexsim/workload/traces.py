"""Load a trace in any supported format, chosen by file extension."""

from pathlib import Path

from hexsim.atomic import atomic_open
from hexsim.errors import InputError
from hexsim.workload.dataset_csv import read_dataset_csv
from hexsim.workload.hexgen_json import read_hexgen_json
from hexsim.workload.jsonl import read_jsonl, write_jsonl
from hexsim.workload.model import Query
from hexsim.workload.prefixes import PrefixModel, with_prefix_model

READERS = {".json": read_hexgen_json, ".csv": read_dataset_csv, ".jsonl": read_jsonl}
# The prefix preset the command line applies to a trace of lengths only, unless told otherwise.
DEFAULT_PREFIX_MODEL = "chess"


def load_trace(path: str | Path, prefix_model: str | Path | PrefixModel | None = None) -> list[Query]:
    """The trace at `path`, its calls' prefixes as `prefix_model` says: None (default) as the file has
    them (only .jsonl traces carry any), "none" stripped, a preset's name or file (or the model) applied."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        known = ", ".join(sorted(READERS))
        raise InputError(str(path), f"unknown trace format {path.suffix!r} (expected one of {known})")
    return with_prefix_model(reader(path), prefix_model)


def default_prefix_model(path: str | Path) -> str | None:
    """What the command line applies to the trace at `path` without --prefix-model: the CHESS preset to
    a trace of lengths only (.json, .csv), nothing to a .jsonl trace (it keeps the prefixes it carries)."""
    return None if Path(path).suffix.lower() == ".jsonl" else DEFAULT_PREFIX_MODEL


def save_trace(queries: list[Query], path: str | Path) -> None:
    """Write `queries` as hexsim JSONL, atomically."""
    with atomic_open(path) as handle:
        write_jsonl(queries, handle)
