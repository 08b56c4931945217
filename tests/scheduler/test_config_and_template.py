"""The [scheduler] TOML table and the workflow template: loading, round trips, errors, learning."""

import pytest

from hexsim.errors import InputError, ParameterError
from hexsim.scheduler.config import SchedulerConfig, format_scheduler_config
from hexsim.scheduler.config_file import load_scheduler_config
from hexsim.scheduler.template import WorkflowTemplate, default_template, load_template, save_template
from hexsim.workload.model import Call, Query, group_chess_stages


def write(tmp_path, text: str):
    path = tmp_path / "scheduler.toml"
    path.write_text(text)
    return path


def test_config_round_trips_through_toml(tmp_path):
    config = SchedulerConfig(policy="wb-fcfs", alpha=0.25, beta=3.5, eps=0.5, max_running=12)
    assert load_scheduler_config(write(tmp_path, format_scheduler_config(config))) == config


def test_missing_keys_take_defaults(tmp_path):
    assert load_scheduler_config(write(tmp_path, "[scheduler]\nalpha = 0.1\n")) == SchedulerConfig(alpha=0.1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[scheduler]\nalpah = 0.1\n", "key 'scheduler.alpah': unknown key"),
        ("[scheduler]\nalpha = 1.5\n", "key 'scheduler.alpha': must be a number from 0 to 1, got 1.5"),
        ("[scheduler]\nbeta = -2\n", "key 'scheduler.beta': must be a positive number, got -2"),
        ("[scheduler]\nmax_running = 2.5\n", "key 'scheduler.max_running': must be a non-negative integer, got 2.5"),
        ("[scheduler]\npolicy = 'fifo'\n", "key 'scheduler.policy': unknown policy 'fifo'"),
        ("[other]\nalpha = 0.1\n", "missing table '[scheduler]'"),
        ("[scheduler\n", "malformed TOML"),
    ],
)
def test_bad_config_is_rejected_naming_file_key_and_value(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_scheduler_config(path)
    assert str(path) in str(err.value) and expected in str(err.value)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"alpha": 5}, "alpha: must be a number from 0 to 1, got 5"),
        ({"beta": 0.0}, "beta: must be a positive number, got 0.0"),
        ({"eps": float("inf")}, "eps: must be a positive number, got inf"),
        ({"max_running": -1}, "max_running: must be a non-negative integer, got -1"),
        ({"max_running": True}, "max_running: must be a non-negative integer, got True"),
        ({"policy": ""}, "policy: must be a policy name, got ''"),
    ],
)
def test_a_config_is_validated_when_constructed(values, expected):
    with pytest.raises(ParameterError) as err:
        SchedulerConfig(**values)
    assert str(err.value) == expected


def query(qid: str, steps_and_lengths):
    return Query(qid, group_chess_stages([Call(s, i, o) for s, i, o in steps_and_lengths]))


def test_template_learns_means_and_expected_remaining_stages():
    queries = [
        query("a", [("x", 100, 10), ("r", 50, 4), ("r", 60, 6), ("evaluate", 30, 1), ("evaluate", 90, 3)]),
        query("b", [("x", 300, 30), ("evaluate", 10, 5)]),
    ]
    t = WorkflowTemplate.from_queries(queries)
    assert t.output("x") == 20 and t.output("r") == 5 and t.output("evaluate") == 3
    assert t.steps["x"].stage_input_mean == 200
    assert t.steps["evaluate"].stage_input_mean == (90 + 10) / 2  # longest prompt per stage
    assert t.output("unknown") == (10 + 4 + 6 + 1 + 3 + 30 + 5) / 7
    assert t.stages_after("x", 1) == {"r": 1.0, "evaluate": 1.0}  # a: r, r, evaluate; b: evaluate
    assert t.stages_after("r", 1) == {"r": 1.0, "evaluate": 1.0}
    assert t.stages_after("r", 2) == {"evaluate": 1.0}
    assert t.stages_after("r", 7) == {"evaluate": 1.0}  # unseen: the latest seen occurrence
    assert t.stages_after("evaluate", 1) == {}
    assert t.stages_after("never", 1) == {}


def test_template_round_trips_and_the_bundled_one_loads(tmp_path):
    t = default_template()
    assert t.output("generate_candidate_llama-agent") > t.output("revise") > t.output("unit_tester")
    save_template(t, tmp_path / "t.json")
    assert load_template(tmp_path / "t.json") == t


def test_bad_template_file_is_rejected(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{"format": "something-else"}')
    with pytest.raises(InputError, match="key 'format' must be 'hexsim.template/1'"):
        load_template(path)


def test_bundled_template_is_learned_from_the_bundled_trace():
    from hexsim.resources import default_trace
    from hexsim.workload.traces import load_trace

    learned = WorkflowTemplate.from_queries(load_trace(default_trace()), source=default_trace().name)
    assert default_template() == learned
