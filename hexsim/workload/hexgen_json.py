"""Reader for the Hexgen-Flow trace JSON: a list of {"Text2SQLRequest": [call, ...]}."""

import json
from pathlib import Path

from hexsim.errors import InputError
from hexsim.workload.fields import require, step_name, token_count
from hexsim.workload.model import Call, Query, group_chess_stages


def read_hexgen_json(path: Path) -> list[Query]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}", f"malformed JSON ({err.msg}, column {err.colno})") from None
    if not isinstance(data, list):
        raise InputError(str(path), f"expected a JSON list of queries, got {type(data).__name__}")
    queries = []
    for qi, record in enumerate(data):
        where = f"{path}: query {qi}"
        calls_raw = require(record, "Text2SQLRequest", where)
        if not isinstance(calls_raw, list) or not calls_raw:
            raise InputError(where, f"field 'Text2SQLRequest' must be a non-empty list, got {calls_raw!r}")
        calls = []
        for ci, raw in enumerate(calls_raw):
            cw = f"{where}, call {ci}"
            calls.append(
                Call(
                    step=step_name(require(raw, "step", cw), cw, "step"),
                    input_tokens=token_count(require(raw, "input_length", cw), cw, "input_length"),
                    output_tokens=token_count(require(raw, "output_length", cw), cw, "output_length"),
                )
            )
        queries.append(Query(id=str(qi), stages=group_chess_stages(calls)))
    if not queries:
        raise InputError(str(path), "no queries in the file")
    return queries
