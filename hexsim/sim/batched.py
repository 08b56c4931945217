"""Latency of a batch of identical calls arriving together on an idle instance, by simulation."""

from hexsim.cluster import ClusterSpec, InstanceSpec
from hexsim.errors import InputError
from hexsim.profiles.latency import Profile
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.template import WorkflowTemplate
from hexsim.sim.simulate import simulate
from hexsim.workload.model import Call, Query, Stage


def batched_call_latency(profile: Profile, input_tokens: int, output_tokens: int, batch: int) -> tuple[float, float]:
    """(time to the last first token, time to the last completion) of `batch` calls sent at once."""
    call = Call("call", input_tokens, output_tokens)
    queries = [Query(f"q{i}", (Stage((call,)),), arrival=0.0) for i in range(batch)]
    cluster = ClusterSpec(profile.model, (InstanceSpec("instance", profile),))
    template = WorkflowTemplate.from_queries(queries)
    records = simulate(cluster, queries, get_policy("vllm"), slo=float("inf"), template=template)
    if any(c.finished is None for c in records.calls):
        raise InputError(
            "--input/--output",
            f"{input_tokens} + {output_tokens} tokens do not fit the KV cache of {profile.tp} x {profile.gpu} "
            f"({profile.kv_capacity_tokens} tokens)",
        )
    return max(c.first_token for c in records.calls), max(c.finished for c in records.calls)
