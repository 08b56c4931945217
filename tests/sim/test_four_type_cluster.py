"""The shipped cluster of four GPU types (H100, A100, L40S, A6000): it loads as its file says and simulates."""

from pathlib import Path

import numpy as np
import pytest

from hexsim.cluster import load_cluster
from hexsim.metrics.base_slo import base_slo, workflow_time
from hexsim.profiles.resolve import resolve_profile
from hexsim.resources import default_trace
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.template import default_template
from hexsim.sim.simulate import simulate
from hexsim.workload.arrivals import with_arrivals
from hexsim.workload.model import Call, Query, Stage
from hexsim.workload.traces import load_trace

CLUSTER = Path(__file__).parents[2] / "clusters" / "h100-a100-l40s-a6000.toml"
MODEL = "meta-llama/Llama-3.1-70B-Instruct"


@pytest.fixture(scope="module")
def cluster():
    return load_cluster(CLUSTER)


def test_one_instance_of_each_type_at_the_tp_of_its_shipped_profile(cluster):
    assert cluster.model == MODEL
    assert [(i.name, i.gpu, i.profile.tp) for i in cluster.instances] == [
        ("h100", "H100-80GB", 4),
        ("a100", "A100-80GB", 4),
        ("l40s", "L40S", 8),
        ("a6000", "A6000", 8),
    ]
    for inst in cluster.instances:
        assert inst.profile == resolve_profile(MODEL, inst.gpu, None, "test")
    # Only the H100's profile is the roofline's alone; the others are calibrated to published step latencies.
    provenance = {i.name: i.profile.provenance for i in cluster.instances}
    assert provenance["h100"].startswith("Roofline-derived, not measured")
    assert all(provenance[n].startswith("Calibrated to the 7 HexGen-Text2SQL") for n in ("a100", "l40s", "a6000"))


def test_the_h100_is_the_fastest_and_the_chess_base_slo_is_the_mean_over_the_four(cluster):
    times = {i.name: workflow_time(i.profile) for i in cluster.instances}
    assert min(times, key=times.get) == "h100"
    assert base_slo(i.profile for i in cluster.instances) == pytest.approx(sum(times.values()) / 4, rel=1e-12)


def test_a_call_alone_goes_to_the_h100_under_hexgen_and_takes_its_standalone_time_there(cluster):
    # Every queue is empty, so HexGen's score is highest where the call computes fastest: the H100.
    query = Query("q", (Stage((Call("revise", 5963, 79),)),), arrival=1.0)
    records = simulate(cluster, [query], get_policy("hexgen"), 100.0, template=default_template())
    (call,) = records.calls
    assert call.instance == "h100"
    h100 = cluster.instances[0].profile
    assert records.queries[0].latency == pytest.approx(h100.standalone_time(5963, 79), rel=1e-9)


def test_the_bundled_trace_runs_to_the_end_under_every_policy(cluster):
    queries = with_arrivals(load_trace(default_trace())[:40], "poisson", 0.05, np.random.default_rng(0))
    for name in ("vllm", "lor", "hexgen"):
        records = simulate(cluster, queries, get_policy(name), 200.0, template=default_template())
        assert all(q.finished is not None for q in records.queries), name
        used = {c.instance for c in records.calls}
        assert used == {"h100", "a100", "l40s", "a6000"}, name
