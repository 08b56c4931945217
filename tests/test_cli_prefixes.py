"""--prefix-model on every command that loads a trace, and the trace commands that write prefixes."""

import argparse
import json

import pytest

from hexsim.cli import build_parser, main, setup
from hexsim.workload.model import Segment
from hexsim.workload.traces import load_trace

GC = "generate_candidate_llama-agent"
# One Hexgen-Flow query: a candidate pair and a revise round.
HEXGEN = [
    {
        "Text2SQLRequest": [
            {"step": GC, "input_length": 10_000, "output_length": 500},
            {"step": GC, "input_length": 7_000, "output_length": 400},
            {"step": "revise", "input_length": 6_000, "output_length": 80},
        ]
    }
]


@pytest.mark.parametrize(
    "args",
    [
        ["simulate"],
        ["compare"],
        ["tune"],
        ["capacity", "--gpus", "A100"],
        ["replay", "--target", "http://127.0.0.1:1", "--out", "x"],
        ["trace", "generate", "--out", "x.jsonl"],
        ["trace", "convert", "t.json", "--out", "x.jsonl"],
        ["trace", "stats", "t.json"],
    ],
)
def test_every_command_that_loads_or_writes_a_trace_takes_a_prefix_model(args):
    assert build_parser().parse_args([*args, "--prefix-model", "none"]).prefix_model == "none"


def test_trace_generate_writes_chess_prefixes_by_default():
    assert build_parser().parse_args(["trace", "generate", "--out", "x.jsonl"]).prefix_model == "chess"
    assert build_parser().parse_args(["simulate"]).prefix_model is None


def test_the_commands_load_json_traces_with_the_chess_prefixes_and_jsonl_traces_as_they_are(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(HEXGEN))
    chess = setup.trace(argparse.Namespace(trace=str(path), prefix_model=None))
    assert [s.tokens for s in chess[0].calls[0].prefix] == [9114, 829, 57]  # as tests/workload/test_prefixes.py
    bare = setup.trace(argparse.Namespace(trace=str(path), prefix_model="none"))
    assert all(call.prefix == () for call in bare[0].calls)
    (found,) = setup.traces(argparse.Namespace(trace=[str(path)], prefix_model=None)).values()
    assert found == chess


def test_trace_convert_writes_the_prefixes_and_a_jsonl_trace_keeps_them_or_drops_them(tmp_path, capsys):
    source = tmp_path / "t.json"
    source.write_text(json.dumps(HEXGEN))
    assert main(["trace", "convert", str(source), "--out", str(tmp_path / "t.jsonl")]) == 0
    record = json.loads((tmp_path / "t.jsonl").read_text())
    first = record["stages"][0][0]["prefix"]
    assert [segment["key"].split("/")[1] for segment in first] == [GC, "schema", "query"]
    assert [segment["tokens"] for segment in first] == [9114, 829, 57]
    assert [s["tokens"] for s in record["stages"][1][0]["prefix"]] == [2892, 829, 2187]
    # A .jsonl trace keeps what it carries...
    args = argparse.Namespace(trace=str(tmp_path / "t.jsonl"), prefix_model=None)
    assert setup.trace(args)[0].calls[0].prefix[0] == Segment(f"chess/{GC}/template-1", 9114)
    # ...and converting it with none drops it.
    assert (
        main(
            [
                "trace",
                "convert",
                str(tmp_path / "t.jsonl"),
                "--out",
                str(tmp_path / "bare.jsonl"),
                "--prefix-model",
                "none",
            ]
        )
        == 0
    )
    assert all(call.prefix == () for call in load_trace(tmp_path / "bare.jsonl")[0].calls)


def test_trace_stats_reports_how_much_the_prefixes_share(tmp_path, capsys):
    source = tmp_path / "t.json"
    source.write_text(json.dumps(HEXGEN))
    assert main(["trace", "stats", str(source), "--json"]) == 0
    prefixes = json.loads(capsys.readouterr().out)["prefixes"]
    # Every prompt is prefix but revise's last 92 tokens; the candidates start with different
    # templates and revise with a third, so no call repeats a path: nothing is reusable.
    assert prefixes["all"] == {"calls": 3, "with_prefix": 3, "input": 23_000, "prefix": 17_000 + 5_908, "reusable": 0}
    assert main(["trace", "stats", str(source), "--json", "--prefix-model", "none"]) == 0
    assert json.loads(capsys.readouterr().out)["prefixes"]["all"]["prefix"] == 0
