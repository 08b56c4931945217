"""Reader for the Hexgen-Flow trace JSON: a list of {"Text2SQLRequest": [call, ...]}."""

from pathlib import Path

from hexsim.errors import InputError
from hexsim.inputfile import shown
from hexsim.jsonfile import read_json
from hexsim.workload.fields import parse_call, require
from hexsim.workload.model import Query, group_chess_stages


def read_hexgen_json(path: Path) -> list[Query]:
    data = read_json(path, "trace file")
    if not isinstance(data, list):
        raise InputError(str(path), f"expected a JSON list of queries, got {type(data).__name__}")
    queries = []
    for qi, record in enumerate(data):
        where = f"{path}: query {qi}"
        calls_raw = require(record, "Text2SQLRequest", where)
        if not isinstance(calls_raw, list) or not calls_raw:
            raise InputError(where, f"field 'Text2SQLRequest' must be a non-empty list, got {shown(calls_raw)}")
        calls = [
            parse_call(raw, f"{where}, call {ci}", "input_length", "output_length") for ci, raw in enumerate(calls_raw)
        ]
        queries.append(Query(id=str(qi), stages=group_chess_stages(calls)))
    if not queries:
        raise InputError(str(path), "no queries in the file")
    return queries
