"""Reader for the Text2SQL workflow-trace dataset CSV (one row per call, content columns ignored).

A query's rows are contiguous and in execution order: each request's steps are written together.
"""

from pathlib import Path

from hexsim.csvrows import csv_rows
from hexsim.errors import InputError
from hexsim.inputfile import shown
from hexsim.workload.fields import step_name, token_text
from hexsim.workload.model import Call, Query, group_chess_stages

COLUMNS = ("Text2SQLRequest_id", "step_name", "input_length", "output_length")


def read_dataset_csv(path: Path) -> list[Query]:
    calls_by_query: dict[str, list[Call]] = {}
    lines: dict[str, tuple[int, int]] = {}  # query id -> line numbers of its first and last rows
    current = None
    for row, where in csv_rows(path, COLUMNS, "trace CSV"):
        line = int(where.rpartition(":")[2])
        query_id = row["Text2SQLRequest_id"].strip()
        if not query_id:
            raise InputError(
                where, f"field 'Text2SQLRequest_id' must be non-empty, got {shown(row['Text2SQLRequest_id'])}"
            )
        if query_id != current and query_id in calls_by_query:
            first, last = lines[query_id]
            earlier = f"line {first}" if first == last else f"lines {first}-{last}"
            raise InputError(
                where,
                f"rows of query {shown(query_id)} are not contiguous ({earlier}, then line {line} after query "
                f"{shown(current)}): write each query's calls together, in execution order",
            )
        current = query_id
        calls_by_query.setdefault(query_id, []).append(
            Call(
                step=step_name(row["step_name"], where, "step_name"),
                input_tokens=token_text(row["input_length"], where, "input_length"),
                output_tokens=token_text(row["output_length"], where, "output_length"),
            )
        )
        lines[query_id] = (lines.get(query_id, (line, line))[0], line)
    if not calls_by_query:
        raise InputError(str(path), "no calls in the file")
    return [Query(id=qid, stages=group_chess_stages(calls)) for qid, calls in calls_by_query.items()]
