import json

import pytest
from rich.console import Console

from hexsim.cli.trace import run_stats
from hexsim.workload.model import Call, Query, group_chess_stages
from hexsim.workload.trace_stats import render_trace_stats, trace_statistics
from hexsim.workload.traces import save_trace


def tiny_trace() -> list[Query]:
    first = [
        Call("Information Retriever", 300, 5),
        Call("generate_candidate_llama-agent", 1000, 100),
        Call("generate_candidate_llama-agent", 2000, 300),
        Call("revise", 500, 10),
        Call("unit_tester", 270, 4),
    ]
    second = [
        Call("Information Retriever", 310, 7),
        Call("revise", 600, 20),
        Call("revise", 700, 30),
        Call("evaluate", 100, 1),
        Call("evaluate", 200, 2),
        Call("evaluate", 300, 3),
        Call("unit_tester", 280, 6),
    ]
    return [Query("a", group_chess_stages(first)), Query("b", group_chess_stages(second))]


def test_trace_statistics_on_a_hand_built_trace():
    stats = trace_statistics(tiny_trace())
    assert stats["queries"] == 2
    assert stats["calls_per_query"] == {"mean": 6.0, "min": 5, "max": 7}
    assert stats["stages_per_query"] == {"mean": 4.5, "min": 4, "max": 5}
    assert stats["revise_rounds"] == {1: 1, 2: 1}
    assert stats["evaluations"] == {0: 1, 3: 1}
    steps = stats["steps"]
    assert {name: step["calls"] for name, step in steps.items()} == {
        "Information Retriever": 2,
        "generate_candidate_llama-agent": 2,
        "revise": 3,
        "unit_tester": 2,
        "evaluate": 3,
    }
    # Percentiles interpolate linearly between order statistics: for [500, 600, 700] the p90 sits
    # at rank 0.9 * 2 = 1.8, i.e. 600 + 0.8 * 100.
    assert steps["revise"]["input_tokens"] == pytest.approx({"mean": 600, "p50": 600, "p90": 680, "p99": 698})
    assert steps["revise"]["output_tokens"] == pytest.approx({"mean": 20, "p50": 20, "p90": 28, "p99": 29.8})
    assert steps["Information Retriever"]["input_tokens"] == pytest.approx(
        {"mean": 305, "p50": 305, "p90": 309, "p99": 309.9}
    )
    assert steps["evaluate"]["output_tokens"]["mean"] == pytest.approx(2.0)


@pytest.mark.parametrize("terminal", [True, False])
def test_render_trace_stats_prints_every_table_whole_at_80_columns(terminal):
    stats = trace_statistics(tiny_trace())
    console = Console(record=True, width=80, force_terminal=terminal)
    render_trace_stats(stats, console)
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    for title in ("Calls and stages per query", "Revise rounds per query", "Evaluations per query"):
        assert title in text
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.split():
            rows.setdefault(line.split()[0], line.split()[1:])
    assert rows["calls"] == ["6.00", "5", "7"] and rows["stages"] == ["4.50", "4", "5"]
    for step, values in stats["steps"].items():
        assert step in text
        assert f"{values['input_tokens']['p90']:.1f}" in text


def test_run_stats_json_and_tables(tmp_path, capsys):
    path = tmp_path / "tiny.jsonl"
    save_trace(tiny_trace(), path)
    run_stats(path, True, Console())
    printed = json.loads(capsys.readouterr().out)
    assert printed["revise_rounds"] == {"1": 1, "2": 1}
    assert printed["steps"]["revise"]["calls"] == 3

    console = Console(record=True, width=200)
    run_stats(path, False, console)
    assert "Revise rounds per query" in console.export_text()
