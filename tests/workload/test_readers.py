"""Trace readers and writers, stage grouping and arrival processes."""

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hexsim.errors import InputError, ParameterError
from hexsim.workload.arrivals import with_arrivals
from hexsim.workload.dataset_csv import COLUMNS
from hexsim.workload.model import Call, Query, Segment, Stage, group_chess_stages
from hexsim.workload.traces import load_trace, save_trace

REPO = Path(__file__).resolve().parents[2]
SHARED_TRACES = REPO.parent / "shared" / "data" / "traces"
# Query counts stated in the shared data README.
README_QUERIES = {1: 90, 2: 96, 3: 110}


def shared_trace(index: int) -> Path:
    path = SHARED_TRACES / f"chess_bird_trace{index}.json"
    if not path.is_file():
        pytest.skip(f"shared trace {path} not available")
    return path


def one_query(qid: str = "q0", **kw) -> Query:
    return Query(id=qid, stages=(Stage((Call("Information Retriever", 308, 5),)),), **kw)


def error_text(excinfo) -> str:
    return str(excinfo.value)


# ---------------------------------------------------------------- shared traces


@pytest.mark.parametrize("index", [1, 2, 3])
def test_shared_trace_counts(index):
    path = shared_trace(index)
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw_calls = sum(len(record["Text2SQLRequest"]) for record in raw)
    queries = load_trace(path)
    assert len(queries) == README_QUERIES[index] == len(raw)
    assert sum(q.n_calls for q in queries) == raw_calls
    assert raw_calls == {1: 1732, 2: 1984, 3: 2296}[index]
    # Calls keep their execution order and token counts, query by query.
    for query, record in zip(queries, raw, strict=True):
        assert [(c.step, c.input_tokens, c.output_tokens) for c in query.calls] == [
            (c["step"], c["input_length"], c["output_length"]) for c in record["Text2SQLRequest"]
        ]
    assert len({q.id for q in queries}) == len(queries)


# ---------------------------------------------------------------- stage grouping


def test_group_chess_stages():
    ir = Call("Information Retriever", 308, 5)
    gen = [Call("generate_candidate_llama-agent", 11000 + i, 600 + i) for i in range(3)]
    rev = [Call("revise", 5963, 79), Call("revise", 6000, 80)]
    ev = [Call("evaluate", 961, 22), Call("evaluate", 970, 23)]
    ut = Call("unit_tester", 275, 4)
    gen_last = Call("generate_candidate_llama-agent", 9000, 500)
    ev_last = Call("evaluate", 900, 20)
    calls = [ir, *gen, *rev, *ev, ut, gen_last, ev_last]
    stages = group_chess_stages(calls)
    assert [s.calls for s in stages] == [
        (ir,),
        tuple(gen),  # consecutive candidates: one parallel stage
        (rev[0],),  # revise is sequential: one stage per call
        (rev[1],),
        tuple(ev),  # consecutive evaluations: one parallel stage
        (ut,),
        (gen_last,),  # a candidate followed by an evaluation: separate stages
        (ev_last,),
    ]
    # Flattening the stages gives back the calls in order.
    assert Query("x", stages).calls == tuple(calls)
    assert Query("x", stages).n_calls == len(calls)


def test_group_two_revise_is_two_stages():
    stages = group_chess_stages([Call("revise", 100, 10), Call("revise", 200, 20)])
    assert len(stages) == 2


def test_candidates_from_different_generators_form_one_stage():
    calls = [Call("generate_candidate_llama-agent", 100, 10), Call("generate_candidate_qwen", 120, 12)]
    assert [len(s.calls) for s in group_chess_stages(calls)] == [2]


# ---------------------------------------------------------------- round trips


def test_dataset_csv_round_trip(tmp_path):
    queries = load_trace(shared_trace(1))
    path = tmp_path / "trace.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows((q.id, c.step, c.input_tokens, c.output_tokens) for q in queries for c in q.calls)
    back = load_trace(path)
    assert [q.id for q in back] == [q.id for q in queries]
    for a, b in zip(back, queries, strict=True):
        assert a.stages == b.stages
        assert [len(s.calls) for s in a.stages] == [len(s.calls) for s in b.stages]


def test_jsonl_round_trip_shared_trace(tmp_path):
    queries = load_trace(shared_trace(2))
    path = tmp_path / "trace.jsonl"
    save_trace(queries, path)
    back = load_trace(path)
    assert [(q.id, q.stages, q.arrival, q.slo) for q in back] == [(q.id, q.stages, q.arrival, q.slo) for q in queries]
    assert all(q.arrival is None and q.slo is None for q in back)


def test_jsonl_round_trip_keeps_arrival_and_slo(tmp_path):
    base = [
        Query(
            id=f"q{i}",
            stages=group_chess_stages(
                [
                    Call("Information Retriever", 300 + i, 5),
                    Call("generate_candidate_x", 1000, 100, (Segment("tpl/gc", 600), Segment(f"db/{i % 2}", 300))),
                    Call("generate_candidate_x", 1100, 90, (Segment("tpl/gc", 600),)),
                    Call("revise", 500, 10 + i),
                ]
            ),
        )
        for i in range(6)
    ]
    timed = with_arrivals(base, "poisson", 0.7, np.random.default_rng(3))
    timed = [replace(q, slo=30.0 + 1.0 / 3.0 * i) for i, q in enumerate(timed)]
    timed[0] = replace(timed[0], slo=None)  # optional fields may be mixed
    path = tmp_path / "timed.jsonl"
    save_trace(timed, path)
    back = load_trace(path)
    assert back == timed  # exact floats and prefix segments survive the JSON round trip
    assert back[3].arrival == timed[3].arrival and back[3].slo == pytest.approx(31.0)
    # And "trace" arrivals then reuse those times, in arrival order.
    replay = with_arrivals(list(reversed(back)), "trace", None, np.random.default_rng(0))
    assert [q.arrival for q in replay] == sorted(q.arrival for q in timed)


def test_dataset_csv_with_content_columns(tmp_path):
    long_text = 'SELECT x, "y" FROM t;\n' * (300_000 // 22 + 1)
    assert len(long_text) >= 300_000
    rows = [
        ("req-1", "Information Retriever", 'He said "hi, there"\nand left', "out, with comma", 308, 5),
        ("req-1", "generate_candidate_llama-agent", long_text, 'a "quoted"\r\nanswer', 11748, 678),
        ("req-1", "generate_candidate_llama-agent", "", "", 11000, 600),
        ("req-2", "revise", ',,,\n\n"', long_text, 5963, 79),
    ]
    path = tmp_path / "dataset.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["Text2SQLRequest_id", "step_name", "input_content", "output_content", "input_length", "output_length"]
        )
        writer.writerows(rows)
    queries = load_trace(path)
    assert [q.id for q in queries] == ["req-1", "req-2"]
    assert [[(c.step, c.input_tokens, c.output_tokens) for c in s.calls] for s in queries[0].stages] == [
        [("Information Retriever", 308, 5)],
        [("generate_candidate_llama-agent", 11748, 678), ("generate_candidate_llama-agent", 11000, 600)],
    ]
    assert queries[1].calls == (Call("revise", 5963, 79),)


# ---------------------------------------------------------------- bad input


def test_malformed_json_names_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[{"Text2SQLRequest": [\n  {"step": "revise", "input_length": 3,\n   "output_length": }]}]\n')
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    text = error_text(excinfo)
    assert str(path) in text
    assert f"{path}:3" in text
    assert "malformed JSON" in text


def test_hexgen_json_missing_output_length(tmp_path):
    path = tmp_path / "missing.json"
    calls = [
        {"step": "Information Retriever", "input_length": 308, "output_length": 5},
        {"step": "revise", "input_length": 5963},
    ]
    path.write_text(json.dumps([{"Text2SQLRequest": [calls[0]]}, {"Text2SQLRequest": calls}]))
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    text = error_text(excinfo)
    assert str(path) in text and "output_length" in text
    assert "query 1" in text and "call 1" in text


@pytest.mark.parametrize("bad", [-7, 0])
@pytest.mark.parametrize("field", ["input_length", "output_length"])
def test_hexgen_json_non_positive_tokens(tmp_path, bad, field):
    path = tmp_path / "tokens.json"
    call = {"step": "revise", "input_length": 5963, "output_length": 79}
    call[field] = bad
    path.write_text(json.dumps([{"Text2SQLRequest": [call]}]))
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    text = error_text(excinfo)
    assert str(path) in text and field in text and f"got {bad}" in text


@pytest.mark.parametrize("bad", [-3, 0])
def test_jsonl_non_positive_tokens(tmp_path, bad):
    path = tmp_path / "tokens.jsonl"
    good = {"id": "a", "stages": [[{"step": "revise", "input_tokens": 10, "output_tokens": 3}]]}
    worse = {"id": "b", "stages": [[{"step": "revise", "input_tokens": 10, "output_tokens": bad}]]}
    path.write_text(json.dumps(good) + "\n" + json.dumps(worse) + "\n")
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    text = error_text(excinfo)
    assert f"{path}:2" in text and "output_tokens" in text and f"got {bad}" in text


def test_csv_non_integer_token_count_names_line(tmp_path):
    path = tmp_path / "abc.csv"
    path.write_text(
        "Text2SQLRequest_id,step_name,input_content,input_length,output_length\n"
        '1,Information Retriever,"two\nlines",308,5\n'  # one record on physical lines 2-3
        "1,revise,plain,abc,79\n"  # physical line 4
    )
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    text = error_text(excinfo)
    assert f"{path}:4" in text and "input_length" in text and "'abc'" in text


@pytest.mark.parametrize("bad", ["-5", "0"])
def test_csv_non_positive_token_count(tmp_path, bad):
    path = tmp_path / "neg.csv"
    path.write_text(f"Text2SQLRequest_id,step_name,input_length,output_length\n1,revise,{bad},79\n")
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    text = error_text(excinfo)
    assert f"{path}:2" in text and "input_length" in text and f"got {bad}" in text


def test_csv_missing_column(tmp_path):
    path = tmp_path / "cols.csv"
    path.write_text("Text2SQLRequest_id,step_name,input_length\n1,revise,5963\n")
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    text = error_text(excinfo)
    assert str(path) in text and "output_length" in text


def test_jsonl_malformed_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"id": "a", "stages": [[{"step": "revise", "input_tokens": 10, "output_tokens": 3}]]})
    path.write_text(good + "\n\n" + '{"id": "b", "stages": [[}\n')
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    text = error_text(excinfo)
    assert f"{path}:3" in text and "malformed JSON" in text


def test_jsonl_duplicate_id(tmp_path):
    path = tmp_path / "dup.jsonl"
    line = json.dumps({"id": "q7", "stages": [[{"step": "revise", "input_tokens": 10, "output_tokens": 3}]]})
    other = json.dumps({"id": "q8", "stages": [[{"step": "revise", "input_tokens": 10, "output_tokens": 3}]]})
    path.write_text("\n".join([line, other, line]) + "\n")
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    text = error_text(excinfo)
    assert f"{path}:3" in text and "duplicate" in text and "'q7'" in text


def test_jsonl_stage_not_a_list(tmp_path):
    path = tmp_path / "stage.jsonl"
    record = {
        "id": "a",
        "stages": [
            [{"step": "x", "input_tokens": 1, "output_tokens": 1}],
            {"step": "revise", "input_tokens": 10, "output_tokens": 3},
        ],
    }
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    text = error_text(excinfo)
    assert f"{path}:1" in text and "stage 1" in text and "'revise'" in text


def test_unknown_extension(tmp_path):
    path = tmp_path / "trace.txt"
    path.write_text("whatever\n")
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    text = error_text(excinfo)
    assert str(path) in text and "'.txt'" in text


@pytest.mark.parametrize("name", ["absent.json", "absent.csv", "absent.jsonl"])
def test_missing_file(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    assert str(path) in error_text(excinfo)
    assert "no such" in error_text(excinfo)


@pytest.mark.parametrize(
    "name, data",
    [
        ("latin1.json", '[{"Text2SQLRequest": [{"step": "r\xe9vise", "input_length": 3, "output_length": 4}]}]'),
        ("latin1.csv", "Text2SQLRequest_id,step_name,input_length,output_length\n1,r\xe9vise,5,3\n"),
        ("latin1.jsonl", '{"id":"\xe9","stages":[[{"step":"x","input_tokens":5,"output_tokens":3}]]}\n'),
    ],
)
def test_non_utf8_file(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data.encode("latin-1"))
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    text = error_text(excinfo)
    assert str(path) in text and "UTF-8" in text
    # The offending byte's offset is the position of the latin-1 e-acute.
    assert f"byte {data.index(chr(0xE9))}" in text


def test_empty_hexgen_json_is_an_error(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("[]\n")
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    assert str(path) in error_text(excinfo)


def test_jsonl_nan_arrival_rejected(tmp_path):
    path = tmp_path / "nan.jsonl"
    path.write_text('{"id":"a","arrival":NaN,"stages":[[{"step":"x","input_tokens":5,"output_tokens":3}]]}\n')
    with pytest.raises(InputError) as excinfo:
        load_trace(path)
    text = error_text(excinfo)
    assert f"{path}:1" in text and "arrival" in text


# ---------------------------------------------------------------- arrivals

N_ARRIVALS = 20_000


def many_queries(n: int = N_ARRIVALS) -> list[Query]:
    q = one_query()
    return [replace(q, id=f"q{i}") for i in range(n)]


def gaps_of(queries: list[Query]) -> np.ndarray:
    times = np.array([q.arrival for q in queries])
    assert np.all(np.diff(times) >= 0)
    return np.diff(np.concatenate([[0.0], times]))


@pytest.mark.parametrize("rate", [0.25, 2.0])
def test_poisson_arrivals_moments(rate):
    gaps = gaps_of(with_arrivals(many_queries(), "poisson", rate, np.random.default_rng(11)))
    assert len(gaps) == N_ARRIVALS
    assert gaps.mean() == pytest.approx(1.0 / rate, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, rel=0.03)  # exponential gaps: CV = 1


def test_gamma_arrivals_moments():
    rate = 1.5
    gaps = gaps_of(with_arrivals(many_queries(), "gamma", rate, np.random.default_rng(5), cv=2.0))
    assert gaps.mean() == pytest.approx(1.0 / rate, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize("process", ["poisson", "gamma"])
def test_same_seed_same_arrivals(process):
    queries = many_queries(500)
    a = with_arrivals(queries, process, 0.5, np.random.default_rng(42))
    b = with_arrivals(queries, process, 0.5, np.random.default_rng(42))
    c = with_arrivals(queries, process, 0.5, np.random.default_rng(43))
    assert [q.arrival for q in a] == [q.arrival for q in b]
    assert [q.arrival for q in a] != [q.arrival for q in c]
    assert [q.id for q in a] == [q.id for q in queries]


def test_trace_arrivals_need_arrival_field():
    queries = [one_query("q-first", arrival=1.0), one_query("q-lacking"), one_query("q-last", arrival=0.5)]
    with pytest.raises(InputError) as excinfo:
        with_arrivals(queries, "trace", None, np.random.default_rng(0))
    assert "'q-lacking'" in error_text(excinfo)
    assert "arrival" in error_text(excinfo)


@pytest.mark.parametrize("rate", [0.0, -1.0])
@pytest.mark.parametrize("process", ["poisson", "gamma"])
def test_non_positive_rate(rate, process):
    with pytest.raises(ParameterError) as excinfo:
        with_arrivals(many_queries(10), process, rate, np.random.default_rng(0))
    assert excinfo.value.parameter == "rate" and repr(rate) in error_text(excinfo)
