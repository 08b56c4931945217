"""Simulation cost does not grow with output length; same inputs and seed, same numbers."""

from dataclasses import replace

import numpy as np

from hexsim.cluster import load_cluster
from hexsim.resources import default_cluster, default_trace
from hexsim.workload.arrivals import with_arrivals
from hexsim.workload.model import Query, Stage
from hexsim.workload.traces import load_trace
from tests.sim.helpers import run


def _doubled(query: Query) -> Query:
    stages = tuple(Stage(tuple(replace(c, output_tokens=2 * c.output_tokens) for c in s.calls)) for s in query.stages)
    return replace(query, stages=stages)


def test_engine_events_do_not_grow_with_output_length():
    spec = load_cluster(default_cluster())
    queries = with_arrivals(load_trace(default_trace())[:120], "poisson", 0.05, np.random.default_rng(0))
    normal = run(spec, queries)
    doubled = run(spec, [_doubled(q) for q in queries])
    iterations = [sum(i.iterations for i in r.instances) for r in (normal, doubled)]
    segments = [sum(i.segments for i in r.instances) for r in (normal, doubled)]
    assert iterations[1] > 1.2 * iterations[0]
    assert segments[1] < 1.2 * segments[0], "the engine must not step through steady decoding"


def test_same_seed_same_records():
    spec = load_cluster(default_cluster())
    trace = load_trace(default_trace())[:60]
    first = run(spec, with_arrivals(trace, "gamma", 0.1, np.random.default_rng(5)), "vllm")
    second = run(spec, with_arrivals(trace, "gamma", 0.1, np.random.default_rng(5)), "vllm")
    other = run(spec, with_arrivals(trace, "gamma", 0.1, np.random.default_rng(6)), "vllm")
    assert first == second
    assert first.queries != other.queries
