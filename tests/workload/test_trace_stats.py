import json

import pytest
from rich.console import Console

from hexsim.cli.trace import run_stats
from hexsim.workload.model import Call, Query, Stage, group_chess_stages
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
    for title in ("Calls and stages per query", "Revise rounds per query", "Evaluate calls per query"):
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


def mac_sql_trace() -> list[Query]:
    """Selector -> Decomposer -> Refiner, one to three calls a query; a step name longer than half a line."""
    long_name = "Refiner_with_a_step_name_longer_than_half_a_terminal_line"
    shapes = [
        [Call("Selector", 900, 40)],
        [Call("Selector", 1100, 60), Call("Decomposer", 700, 120)],
        [Call("Selector", 1000, 50), Call("Decomposer", 800, 140), Call(long_name, 1234567, 98765)],
    ]
    return [Query(f"m{i}", tuple(Stage((c,)) for c in calls)) for i, calls in enumerate(shapes)]


def test_a_trace_without_chess_steps_gets_no_chess_histograms():
    stats = trace_statistics(mac_sql_trace())
    assert "revise_rounds" not in stats and "evaluations" not in stats
    assert stats["calls_per_query"] == {"mean": 2.0, "min": 1, "max": 3}
    assert {name: step["calls"] for name, step in stats["steps"].items()} == {
        "Selector": 3,
        "Decomposer": 2,
        "Refiner_with_a_step_name_longer_than_half_a_terminal_line": 1,
    }


@pytest.mark.parametrize("terminal", [True, False])
def test_a_trace_without_chess_steps_prints_every_number_whole_at_80_columns(terminal):
    stats = trace_statistics(mac_sql_trace())
    console = Console(record=True, width=80, force_terminal=terminal)
    render_trace_stats(stats, console)
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    assert "Revise" not in text and "Evaluate" not in text and "rounds" not in text
    lines = text.splitlines()
    for step, values in stats["steps"].items():
        for kind in ("input_tokens", "output_tokens"):
            for column in ("mean", "p50", "p90", "p99"):
                # Each number sits on a line of its own step, whole.
                shown = f"{values[kind][column]:.1f}"
                assert any(line.split()[:1] == [step] and shown in line.split() for line in lines), (step, shown)


def test_run_stats_json_leaves_out_the_chess_histograms_of_another_workflow(tmp_path, capsys):
    path = tmp_path / "macsql.jsonl"
    save_trace(mac_sql_trace(), path)
    run_stats(path, True, Console())
    printed = json.loads(capsys.readouterr().out)
    assert "revise_rounds" not in printed and "evaluations" not in printed
    assert {"queries", "calls_per_query", "stages_per_query", "steps"} <= set(printed)
