"""hexsim's own trace format: JSON Lines, one query per line, stages explicit.

    {"id": "q7", "workflow": "chess", "arrival": 12.5, "slo": 60.0,
     "stages": [[{"step": "...", "input_tokens": 308, "output_tokens": 5,
                  "prefix": [{"key": "chess/extract_keywords", "tokens": 285}]}], ...]}

`workflow`, `arrival`, `slo` and `prefix` are optional. `workflow` names the workflow a query
runs in a trace that mixes several (`hexsim trace mix`): every query of such a trace names
one, or none does. A call's `prefix` lists the shared segments its
prompt starts with (a key and a token count each, in order): calls whose prefixes agree on
their first k segments share those tokens exactly, so an engine's prefix cache can reuse them.
"""

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from hexsim.errors import InputError
from hexsim.inputfile import shown, text_lines
from hexsim.jsonfile import parse_json
from hexsim.workload.fields import check_fields, optional_seconds, parse_call, require, workflow_name
from hexsim.workload.model import Call, Query, Stage


def _parse_query(record: object, where: str) -> Query:
    check_fields(record, where, ("id", "workflow", "arrival", "slo", "stages"))
    query_id = require(record, "id", where)
    if not isinstance(query_id, str | int) or isinstance(query_id, bool) or str(query_id).strip() == "":
        raise InputError(where, f"field 'id' must be a non-empty string, got {shown(query_id)}")
    stages_raw = require(record, "stages", where)
    if not isinstance(stages_raw, list) or not stages_raw:
        raise InputError(where, f"field 'stages' must be a non-empty list, got {shown(stages_raw)}")
    stages = []
    for si, stage_raw in enumerate(stages_raw):
        if not isinstance(stage_raw, list) or not stage_raw:
            raise InputError(where, f"stage {si} must be a non-empty list of calls, got {shown(stage_raw)}")
        calls = tuple(
            parse_call(raw, f"{where}, stage {si}, call {ci}", "input_tokens", "output_tokens", prefix=True)
            for ci, raw in enumerate(stage_raw)
        )
        stages.append(Stage(calls))
    return Query(
        id=str(query_id),
        stages=tuple(stages),
        arrival=optional_seconds(record.get("arrival"), where, "arrival", positive=False),
        slo=optional_seconds(record.get("slo"), where, "slo", positive=True),
        workflow=None if record.get("workflow") is None else workflow_name(record["workflow"], where, "workflow"),
    )


def read_jsonl(path: Path) -> list[Query]:
    queries = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text_lines(path, "trace file"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        query = _parse_query(parse_json(line, path, lineno), where)
        if query.id in seen:
            raise InputError(where, f"duplicate query id {shown(query.id)} (first on line {seen[query.id]})")
        seen[query.id] = lineno
        if queries and (query.workflow is None) != (queries[0].workflow is None):
            first = seen[queries[0].id]
            named, unnamed = (lineno, first) if query.workflow is not None else (first, lineno)
            raise InputError(
                where,
                f"line {named} names a workflow and line {unnamed} does not: in a mixed trace every query names its "
                "workflow",
            )
        queries.append(query)
    if not queries:
        raise InputError(str(path), "no queries in the file")
    return queries


def query_to_record(query: Query) -> dict:
    record: dict = {"id": query.id}
    if query.workflow is not None:
        record["workflow"] = query.workflow
    if query.arrival is not None:
        record["arrival"] = query.arrival
    if query.slo is not None:
        record["slo"] = query.slo
    record["stages"] = [[call_to_record(c) for c in stage.calls] for stage in query.stages]
    return record


def call_to_record(call: Call) -> dict:
    record: dict = {"step": call.step, "input_tokens": call.input_tokens, "output_tokens": call.output_tokens}
    if call.prefix:
        record["prefix"] = [{"key": s.key, "tokens": s.tokens} for s in call.prefix]
    return record


def write_jsonl(queries: Iterable[Query], handle: TextIO) -> None:
    for query in queries:
        handle.write(json.dumps(query_to_record(query), separators=(",", ":")) + "\n")
