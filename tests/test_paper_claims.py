"""The paper's headline, in simulation: on its cluster and its traces, hexgen beats plain vLLM."""

from pathlib import Path

import pytest

from hexsim.cluster import load_cluster
from hexsim.experiment import Experiment
from hexsim.metrics.summary import latency_deadline
from hexsim.resources import default_cluster
from hexsim.sim.comparison import compare_trace
from hexsim.workload.traces import load_trace

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "traces"


@pytest.mark.slow  # each a throughput search under sustained load for two policies
@pytest.mark.parametrize("trace", [1, 2, 3])
def test_hexgen_has_lower_deadline_and_higher_throughput_than_vllm(trace):
    path = SHARED / f"chess_bird_trace{trace}.json"
    if not path.is_file():
        pytest.skip("the shared traces are not beside this checkout")
    setup = Experiment.create(
        load_cluster(default_cluster()), load_trace(path), base_slo_rule="chess", rates=(0.03,), slo_scale=3.0
    )
    results = compare_trace(setup, ["vllm", "hexgen"])
    vllm, hexgen = results["vllm"], results["hexgen"]
    assert latency_deadline(hexgen.by_rate[0], 0.95) < latency_deadline(vllm.by_rate[0], 0.95)
    assert hexgen.throughput > vllm.throughput
