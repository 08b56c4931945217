"""The CLI end to end on a small trace, and how a library parameter error reaches the user (the bad-input
cases themselves are the corpus in tests/bad_inputs/)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hexsim.cli import main
from hexsim.cli import simulate as simulate_command
from hexsim.errors import ParameterError


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hexsim.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


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


@pytest.mark.parametrize(("parameter", "shown"), [("slo_scale", "--slo-scale"), ("alpha", "alpha")])
def test_a_parameter_is_reported_under_its_flag_or_else_by_name(monkeypatch, capsys, parameter, shown):
    def run(args, console, err):
        raise ParameterError(parameter, "bad value")

    monkeypatch.setattr(simulate_command, "run", run)
    assert main(["simulate"]) == 2
    assert capsys.readouterr().err == f"hexsim: error: {shown}: bad value\n"
