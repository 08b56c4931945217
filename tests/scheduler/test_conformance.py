"""The policy conformance suite: every registered policy keeps these promises."""

from collections import defaultdict

import numpy as np
import pytest

from hexsim.cluster import ClusterSpec, InstanceSpec, load_cluster
from hexsim.resources import default_cluster, default_trace
from hexsim.scheduler.registry import POLICIES
from hexsim.workload.arrivals import with_arrivals
from hexsim.workload.traces import load_trace
from tests.sim.helpers import MODEL, check_run, cluster, profile, run

ALL = pytest.mark.parametrize("policy", list(POLICIES))


def workload(n: int, rate: float, seed: int = 3):
    return with_arrivals(load_trace(default_trace())[:n], "poisson", rate, np.random.default_rng(seed))


@ALL
def test_no_call_lost_or_run_twice_and_stages_in_order(policy, watched):
    queries = workload(150, 0.05)
    records = run(load_cluster(default_cluster()), queries, policy)
    assert all(q.finished is not None for q in records.queries)
    check_run(records, queries, *watched)


@ALL
def test_only_instances_serving_the_model_are_chosen(policy, watched):
    other = profile(model="other/model", base=0.001)
    spec = ClusterSpec(
        MODEL,
        (
            InstanceSpec("other-0", other),
            InstanceSpec("ours-0", profile()),
            InstanceSpec("other-1", other),
            InstanceSpec("ours-1", profile(base=0.02)),
        ),
    )
    queries = workload(30, 0.5)
    records = run(spec, queries, policy)
    used = defaultdict(int)
    for call in records.calls:
        used[call.instance] += 1
    assert set(used) <= {"ours-0", "ours-1"} and used["ours-0"] > 0
    check_run(records, queries, *watched)


@ALL
def test_works_on_a_one_instance_cluster(policy, watched):
    queries = workload(20, 0.05)
    records = run(cluster(profile()), queries, policy)
    assert all(q.finished is not None for q in records.queries)
    check_run(records, queries, *watched)


@ALL
def test_deterministic_for_a_seed(policy):
    spec = load_cluster(default_cluster())
    first, second = (run(spec, workload(60, 0.05, seed=9), policy) for _ in range(2))
    assert first == second
