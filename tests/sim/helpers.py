"""Small clusters, profiles and workloads built in code for simulator tests."""

from dataclasses import replace

from hexsim.cluster import ClusterSpec, InstanceSpec
from hexsim.profiles.latency import IterationCoefficients, Profile
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.template import WorkflowTemplate
from hexsim.sim.simulate import simulate
from hexsim.testing.records import check_records
from hexsim.workload.model import Call, Query, Stage

MODEL = "test/model"


def profile(**overrides) -> Profile:
    base = Profile(
        model=MODEL,
        gpu="A100-80GB",
        tp=1,
        coefficients=IterationCoefficients(
            base=0.01, prefill_token=0.001, prefill_token_sq=0.0, decode_seq=0.0, context_token=0.0
        ),
        kv_capacity_tokens=1_000_000,
        block_size=16,
        max_num_seqs=256,
        max_num_batched_tokens=8192,
    )
    coefficients = {k: overrides.pop(k) for k in list(overrides) if hasattr(base.coefficients, k)}
    return replace(base, coefficients=replace(base.coefficients, **coefficients), **overrides)


def cluster(*profiles: Profile) -> ClusterSpec:
    return ClusterSpec(MODEL, tuple(InstanceSpec(f"i{n}", p) for n, p in enumerate(profiles)))


def single_call_query(qid: str, arrival: float, input_tokens: int, output_tokens: int) -> Query:
    return Query(qid, (Stage((Call("step", input_tokens, output_tokens),)),), arrival=arrival)


def run(spec: ClusterSpec, queries, policy: str = "lor", slo: float = 1e9, **kwargs):
    template = WorkflowTemplate.from_queries(queries)
    return simulate(spec, queries, get_policy(policy), slo, template=template, **kwargs)


def check_run(records, queries, finished, kv_checks):
    """The records' invariants, every call finished once, and the KV cache accounted between iterations."""
    check_records(records, queries)
    assert all(n == 1 for n in finished.values()), "a call completed twice"
    assert len(finished) == sum(1 for c in records.calls if c.finished is not None)
    assert kv_checks, "no engine iteration planned"
    for in_use, tracked, capacity in kv_checks:
        assert in_use == tracked <= capacity
