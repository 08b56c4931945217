"""Overload detection: a growing backlog, not a busy cluster."""

import numpy as np
import pytest

from hexsim.cluster import load_cluster
from hexsim.experiment import Experiment
from hexsim.metrics.overload import backlogs, overloaded
from hexsim.metrics.records import QueryRecord
from hexsim.resources import default_cluster, default_trace
from hexsim.sim.simulate import run_experiment
from hexsim.workload.traces import load_trace


def records(arrivals, latencies) -> list[QueryRecord]:
    return [
        QueryRecord(f"q{i}", a, 100.0, None if lat is None else a + lat, 10)
        for i, (a, lat) in enumerate(zip(arrivals, latencies, strict=True))
    ]


def test_backlog_counts_the_queries_in_the_system_at_each_arrival():
    # Arrivals at 0, 1, 2, 3; q0 leaves at 1.5, q1 at 10, q2 never, q3 at 3.5.
    found = backlogs(records([0, 1, 2, 3], [1.5, 9, None, 0.5]))
    assert found == [1, 2, 2, 3]


def test_a_steady_backlog_is_not_overload_however_long_the_latency():
    arrivals = np.arange(400) * 10.0
    assert not overloaded(records(arrivals, [95.0] * 400))  # about 10 queries in the system throughout


def test_a_backlog_growing_with_time_is_overload_even_when_latency_does_not_grow():
    # Every query finishes at once, long after the last arrival: latency falls with arrival order.
    arrivals = np.arange(400) * 10.0
    assert overloaded(records(arrivals, 5000.0 - arrivals))


def test_unfinished_queries_stay_in_the_backlog():
    arrivals = np.arange(200) * 10.0
    assert overloaded(records(arrivals, [50.0] * 100 + [None] * 100))


def test_a_short_run_is_too_short_to_tell():
    arrivals = np.arange(20) * 10.0
    assert not overloaded(records(arrivals, [None] * 20))


def test_a_backlog_of_a_few_queries_is_noise():
    # 1 then 3 queries in the system: three times as many, but within what a steady count varies by.
    arrivals = np.arange(400) * 10.0
    assert not overloaded(records(arrivals, [5.0] * 200 + [25.0] * 200))


@pytest.fixture(scope="module")
def experiment():
    return Experiment.create(load_cluster(default_cluster()), load_trace(default_trace()))


@pytest.mark.parametrize("policy", ["vllm", "hexgen"])
def test_the_bundled_cluster_keeps_up_at_01_and_falls_behind_at_06(experiment, policy):
    assert not overloaded(run_experiment(experiment.with_policy(policy), 0.1, 0))
    assert overloaded(run_experiment(experiment.with_policy(policy), 0.6, 0))
