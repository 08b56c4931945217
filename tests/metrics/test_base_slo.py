"""The base SLO: the trace's own queries alone by default, the standard CHESS workflow on request."""

import json

import pytest

from hexsim.cli import main
from hexsim.cluster import ClusterSpec, InstanceSpec, load_cluster
from hexsim.errors import ParameterError
from hexsim.experiment import Experiment
from hexsim.metrics.base_slo import base_slo, cluster_base_slo, trace_base_slo
from hexsim.resources import default_cluster
from hexsim.workload.model import Call, Query, Stage
from hexsim.workload.traces import save_trace
from tests.sim.helpers import MODEL, profile


def two_queries() -> list[Query]:
    """One sequential query and one with a parallel stage."""
    first = Query("a", (Stage((Call("Selector", 1000, 11),)), Stage((Call("Decomposer", 2000, 21),))))
    second = Query(
        "b", (Stage((Call("Selector", 500, 6), Call("Selector", 3000, 2))), Stage((Call("Refiner", 100, 1),)))
    )
    return [first, second]


def test_the_trace_rule_is_the_mean_standalone_latency_stage_by_stage_with_parallel_calls_max():
    # A call alone takes: its prompt at 1 ms/token plus one iteration of `base` (one chunk),
    # then (output - 1) decode iterations of `base` each.
    fast, slow = profile(base=0.01), profile(base=0.03)
    # fast: query a = (1.0 + 0.01 + 10 * 0.01) + (2.0 + 0.01 + 20 * 0.01) = 1.11 + 2.21 = 3.32;
    #       query b = max(0.5 + 0.01 + 5 * 0.01, 3.0 + 0.01 + 0.01) + (0.1 + 0.01) = 3.02 + 0.11 = 3.13.
    # slow: query a = (1.0 + 0.03 + 0.30) + (2.0 + 0.03 + 0.60) = 3.96;
    #       query b = max(0.5 + 0.03 + 0.15, 3.0 + 0.03 + 0.03) + (0.1 + 0.03) = 3.06 + 0.13 = 3.19.
    by_instance = {"fast": (3.32 + 3.13) / 2, "slow": (3.96 + 3.19) / 2}
    assert trace_base_slo(two_queries(), [fast]) == pytest.approx(by_instance["fast"], rel=1e-12)
    # Each instance counts: two slow instances weigh twice.
    expected = (by_instance["fast"] + 2 * by_instance["slow"]) / 3
    assert trace_base_slo(two_queries(), [fast, slow, slow]) == pytest.approx(expected, rel=1e-12)


def test_only_the_instances_serving_the_model_count():
    fast, other = profile(base=0.01), profile(base=0.5, model="other/model")
    cluster = ClusterSpec(MODEL, (InstanceSpec("fast", fast), InstanceSpec("other", other)))
    assert cluster_base_slo(cluster, two_queries(), "trace") == pytest.approx((3.32 + 3.13) / 2, rel=1e-12)
    assert cluster_base_slo(cluster, two_queries(), "chess") == pytest.approx(base_slo([fast]), rel=1e-12)


def test_an_unknown_rule_and_an_empty_trace_are_named():
    cluster = ClusterSpec(MODEL, (InstanceSpec("fast", profile()),))
    with pytest.raises(ParameterError, match="unknown base SLO rule 'median'"):
        cluster_base_slo(cluster, two_queries(), "median")
    with pytest.raises(ParameterError, match="at least one query"):
        cluster_base_slo(cluster, [], "trace")


def test_an_experiment_takes_the_trace_rule_by_default_and_follows_its_queries():
    cluster = load_cluster(default_cluster())
    profiles = [inst.profile for inst in cluster.instances]
    queries = two_queries()
    experiment = Experiment.create(cluster, queries)
    assert experiment.base_slo_rule == "trace"
    assert experiment.base_slo == pytest.approx(trace_base_slo(queries, profiles), rel=1e-12)
    assert experiment.with_queries(queries[:1]).base_slo == pytest.approx(trace_base_slo(queries[:1], profiles))
    chess = Experiment.create(cluster, queries, base_slo_rule="chess")
    assert chess.base_slo == pytest.approx(base_slo(profiles), rel=1e-12)
    assert chess.with_queries(queries[:1]).base_slo == chess.base_slo


def short_trace(n: int = 30) -> list[Query]:
    """MAC-SQL-like queries of one to three short calls: Selector, Decomposer, Refiner."""
    steps = [("Selector", 600, 40), ("Decomposer", 500, 80), ("Refiner", 400, 30)]
    return [
        Query(f"m{i}", tuple(Stage((Call(s, tokens + 10 * i, out),)) for s, tokens, out in steps[: 1 + i % 3]))
        for i in range(n)
    ]


def test_simulate_reports_the_trace_base_slo_and_the_chess_one_on_request(tmp_path, capsys):
    path = tmp_path / "short.jsonl"
    queries = short_trace()
    save_trace(queries, path)
    profiles = [inst.profile for inst in load_cluster(default_cluster()).instances]
    # By hand: every query's calls in turn, alone, on each of the paper cluster's instances.
    by_hand = sum(
        sum(p.standalone_time(c.input_tokens, c.output_tokens) for c in q.calls) for q in queries for p in profiles
    ) / (len(queries) * len(profiles))
    argv = ["simulate", "--trace", str(path), "--policy", "lor", "--rate", "0.5"]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["base_slo_rule"] == "trace"
    assert report["base_slo_s"] == pytest.approx(by_hand, abs=1e-6)
    assert report["base_slo_s"] < 10  # short queries: far from the CHESS workflow's ~57 s
    assert main([*argv, "--json", "--base-slo", "chess"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["base_slo_rule"] == "chess"
    assert report["base_slo_s"] == pytest.approx(base_slo(profiles), abs=1e-6)
    assert main([*argv, "--base-slo", "trace"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"Base SLO {by_hand:.1f} s (trace): the mean standalone latency of the trace's queries" in text
