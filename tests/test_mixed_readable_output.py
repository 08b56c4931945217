"""A mixed trace's reports are complete at 80 columns: every per-workflow number in its workflow's table."""

import contextlib
import io
import json

import pytest
from rich.console import Console

from hexsim.cli import build_parser, main
from hexsim.cli import compare as compare_command
from hexsim.resources import default_trace
from hexsim.workload.mix import mix_traces
from hexsim.workload.model import Call, Query, Stage
from hexsim.workload.traces import load_trace, save_trace
from tests.test_readable_output import block, console, run, seconds, table, text_of, times  # noqa: F401


def mac_sql_like(n: int) -> list[Query]:
    steps = [("Selector", 1800, 60), ("Decomposer", 2200, 240), ("Refiner", 1200, 120)]
    return [
        Query(f"m{i}", tuple(Stage((Call(s, i_ + 7 * i, o + i),)) for s, i_, o in steps[: 1 + i % 3])) for i in range(n)
    ]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    path = tmp_path_factory.mktemp("mixed") / "mixed.jsonl"
    chess = load_trace(default_trace())[:20]
    save_trace(mix_traces({"chess": chess, "macsql": mac_sql_like(30)}, 40, {"chess": 1, "macsql": 1}, seed=0), path)
    return path


WORKFLOW_ROWS = [
    ("deadline_p95_s", "deadline p95 (s)", seconds),
    ("deadline_p95_scale", "deadline p95 (x base)", times),
    ("deadline_p99_s", "deadline p99 (s)", seconds),
    ("deadline_p99_scale", "deadline p99 (x base)", times),
    ("p95_s", "latency p95 (s)", seconds),
]


def test_simulate_prints_each_workflow_base_slo_and_every_number_of_its_summary(capsys, console, mixed):  # noqa: F811
    argv = ["simulate", "--trace", str(mixed), "--rate", "0.08", "--policy", "hexgen", "--policy", "lor"]
    argv += ["--policy", "vllm", "--policy", "wb-fcfs", "--policy", "rr-pq"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    run(console, *argv)
    text = text_of(console)
    flat = " ".join(text.split())
    bases = {w: v["base_slo_s"] for w, v in report["workflows"].items()}
    assert list(bases) == ["chess", "macsql"]
    shown = ", ".join(f"{w} {b:.1f} s" for w, b in bases.items())
    assert f"each query held to its own workflow's base SLO (the same rule over its queries): {shown}" in flat
    attainment = table(block(text, "SLO attainment", "Latency and completion"))
    for name, p in report["policies"].items():
        for scale, share in p["attainment"].items():
            assert attainment[f"{scale}x"][name] == f"{share:.1%}"
            for w, b in bases.items():
                assert attainment[f"{scale}x"][f"{w} (s)"] == f"{float(scale) * b:.1f}"
    assert "SLO (s)" not in block(text, "SLO attainment", "Latency and completion")
    for w, b in bases.items():
        n = report["policies"]["lor"]["workflows"][w]["queries"]
        following = "Workflow macsql" if w == "chess" else "Instance utilisation"
        rows = table(block(text, f"Workflow {w}: {n} queries, base SLO {b:.1f} s", following))
        for name, p in report["policies"].items():
            mine = p["workflows"][w]
            for scale, share in mine["attainment"].items():
                assert rows[f"attainment at {scale}x"][name] == f"{share:.1%}"
            for key, label, fmt in [
                *WORKFLOW_ROWS,
                ("p50_s", "latency p50 (s)", seconds),
                ("p99_s", "latency p99 (s)", seconds),
            ]:
                assert rows[label][name] == fmt(mine[key]), (w, name, key)
            assert rows["completed queries"][name] == f"{mine['completed']}/{mine['queries']}"
    assert sum(report["policies"]["lor"]["workflows"][w]["queries"] for w in bases) == 40


def test_compare_prints_each_workflow_at_every_rate(console, mixed):  # noqa: F811
    argv = ["compare", "--trace", str(mixed), "--rates", "0.03", "0.07", "--span-slos", "2", "--json"]
    argv += ["--policy", "hexgen", "--policy", "lor", "--policy", "vllm", "--policy", "wb-fcfs", "--policy", "rr-pq"]
    args = build_parser().parse_args(argv)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        args.run(args, Console(file=io.StringIO()), Console(file=io.StringIO()))
    report = json.loads(out.getvalue())
    compare_command.render(report, console, {"mixed": "mixed.jsonl"})
    text = text_of(console)
    trace = report["traces"]["mixed"]
    bases = {w: v["base_slo_s"] for w, v in trace["workflows"].items()}
    assert "within N x their workflow's base SLO" in " ".join(text.split())
    for rate in ("0.03", "0.07"):
        for w, b in bases.items():
            title = f"mixed.jsonl at {rate} q/s, workflow {w} (base SLO {b:.1f} s)"
            rows = table(block(text, title, "mixed.jsonl"))
            for name, p in trace["policies"].items():
                mine = p["by_rate"][rate]["workflows"][w]
                for scale, share in mine["attainment"].items():
                    assert rows[f"attainment at {scale}x"][name] == f"{share:.1%}"
                for key, label, fmt in WORKFLOW_ROWS:
                    assert rows[label][name] == fmt(mine[key]), (rate, w, name, key)
