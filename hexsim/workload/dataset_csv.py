"""Reader for the Text2SQL workflow-trace dataset CSV (one row per call, content columns ignored)."""

import csv
import sys
from pathlib import Path

from hexsim.errors import InputError
from hexsim.workload.fields import step_name, token_count
from hexsim.workload.model import Call, Query, group_chess_stages

COLUMNS = ("Text2SQLRequest_id", "step_name", "input_length", "output_length")


def read_dataset_csv(path: Path) -> list[Query]:
    # Prompt and output text columns can be far longer than csv's default 128 KiB field limit.
    limit = csv.field_size_limit(sys.maxsize)
    try:
        return _read(path)
    finally:
        csv.field_size_limit(limit)


def _read(path: Path) -> list[Query]:
    calls_by_query: dict[str, list[Call]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        for column in COLUMNS:
            if column not in header:
                raise InputError(str(path), f"missing column '{column}' (header: {', '.join(header) or 'empty'})")
        try:
            for row in reader:
                where = f"{path}:{reader.line_num}"
                query_id = (row["Text2SQLRequest_id"] or "").strip()
                if not query_id:
                    raise InputError(where, f"field 'Text2SQLRequest_id' must be non-empty, got {query_id!r}")
                call = Call(
                    step=step_name(row["step_name"], where, "step_name"),
                    input_tokens=token_count(row["input_length"], where, "input_length"),
                    output_tokens=token_count(row["output_length"], where, "output_length"),
                )
                calls_by_query.setdefault(query_id, []).append(call)
        except csv.Error as err:
            raise InputError(f"{path}:{reader.line_num}", f"malformed CSV ({err})") from None
    if not calls_by_query:
        raise InputError(str(path), "no calls in the file")
    return [Query(id=qid, stages=group_chess_stages(calls)) for qid, calls in calls_by_query.items()]

