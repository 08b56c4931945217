"""The CLI on bad input: one line on stderr, exit status 2, no traceback, nothing written."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hexsim.cli import main
from hexsim.cli import simulate as simulate_command
from hexsim.errors import ParameterError

LLAMA = "meta-llama/Llama-3.1-70B-Instruct"
OUT_FLAGS = ["--out", "outdir", "--timeline", "timeline.json"]


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hexsim.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_user_error(cwd: Path, args: list[str], *needles: str) -> str:
    before = sorted(p.name for p in cwd.iterdir())
    result = run_cli(cwd, *args)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    # Nothing was written: no --out folder, no --timeline file, no stray temporary file.
    assert sorted(p.name for p in cwd.iterdir()) == before
    assert not (cwd / "outdir").exists() and not (cwd / "timeline.json").exists()
    return lines[0]


def stage(step: str, i: int, o: int, n: int = 1) -> list[dict]:
    return [{"step": step, "input_tokens": i, "output_tokens": o} for _ in range(n)]


def tiny_trace(path: Path, n: int = 5) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for q in range(n):
            record = {
                "id": f"t{q}",
                "stages": [
                    stage("Information Retriever", 308, 5),
                    stage("generate_candidate_llama-agent", 2000 + 100 * q, 120, n=2),
                    stage("revise", 1500, 30),
                    stage("evaluate", 900, 20, n=2),
                ],
            }
            handle.write(json.dumps(record) + "\n")


def test_unknown_policy(tmp_path):
    assert_user_error(tmp_path, ["simulate", "--policy", "nope", *OUT_FLAGS], "--policy", "'nope'")


def test_unknown_gpu_in_cluster(tmp_path):
    (tmp_path / "cluster.toml").write_text(f'model = "{LLAMA}"\n[[instances]]\ngpu = "H900"\n')
    assert_user_error(tmp_path, ["simulate", "--cluster", "cluster.toml", *OUT_FLAGS], "cluster.toml", "'H900'")


def test_unknown_key_in_cluster(tmp_path):
    (tmp_path / "cluster.toml").write_text(f'model = "{LLAMA}"\ngpus = 2\n[[instances]]\ngpu = "A100"\n')
    assert_user_error(tmp_path, ["simulate", "--cluster", "cluster.toml", *OUT_FLAGS], "cluster.toml", "'gpus'")


def test_malformed_trace_json(tmp_path):
    (tmp_path / "trace.json").write_text('[{"Text2SQLRequest": [\n {"step": "revise", "input_length": }]}]\n')
    assert_user_error(tmp_path, ["simulate", "--trace", "trace.json", *OUT_FLAGS], "trace.json:2", "JSON")


def test_negative_tokens_in_jsonl(tmp_path):
    path = tmp_path / "trace.jsonl"
    tiny_trace(path, 2)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "neg", "stages": [stage("revise", -5, 3)]}) + "\n")
    assert_user_error(
        tmp_path, ["simulate", "--trace", "trace.jsonl", *OUT_FLAGS], "trace.jsonl:3", "input_tokens", "-5"
    )


@pytest.mark.parametrize("rate", ["0", "abc", "-1"])
def test_bad_rate(tmp_path, rate):
    assert_user_error(tmp_path, ["simulate", "--rate", rate, *OUT_FLAGS], "--rate", repr(rate))


def test_generate_zero_queries(tmp_path):
    assert_user_error(tmp_path, ["trace", "generate", "--queries", "0", "--out", "gen.jsonl"], "--queries", "'0'")
    assert not (tmp_path / "gen.jsonl").exists()


def test_stats_missing_file(tmp_path):
    assert_user_error(tmp_path, ["trace", "stats", "missing.jsonl"], "missing.jsonl")


def test_stats_empty_hexgen_trace(tmp_path):
    (tmp_path / "empty.json").write_text("[]\n")
    assert_user_error(tmp_path, ["trace", "stats", "empty.json"], "empty.json")


def test_simulate_two_policies_json(tmp_path):
    tiny_trace(tmp_path / "tiny.jsonl", 5)
    result = run_cli(
        tmp_path, "simulate", "--trace", "tiny.jsonl", "--policy", "vllm", "--policy", "lor", "--json", "--rate", "0.05"
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert set(report["policies"]) == {"vllm", "lor"}
    for name, summary in report["policies"].items():
        assert summary["completed"] == summary["queries"] == 5, name
    assert report["base_slo_s"] > 0
    # Nothing but the input in the working folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.jsonl"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ["tune", "--sampler", "gp"],
            "hexsim: error: --sampler: gp needs PyTorch",
            marks=pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="PyTorch is installed"),
        ),
        (
            ["profile", "predict", "--model", "Llama-3.1-8B", "--gpu", "L4", "--input", "1000000", "--output", "10"],
            "hexsim: error: --input: 1000000 + 10 output tokens do not fit the KV cache",
        ),
    ],
)
def test_a_parameter_error_of_the_library_names_the_flag_that_set_it(tmp_path, args, expected):
    assert_user_error(tmp_path, args, expected)


@pytest.mark.parametrize(("parameter", "shown"), [("slo_scale", "--slo-scale"), ("alpha", "alpha")])
def test_a_parameter_is_reported_under_its_flag_or_else_by_name(monkeypatch, capsys, parameter, shown):
    def run(args, console, err):
        raise ParameterError(parameter, "bad value")

    monkeypatch.setattr(simulate_command, "run", run)
    assert main(["simulate"]) == 2
    assert capsys.readouterr().err == f"hexsim: error: {shown}: bad value\n"
