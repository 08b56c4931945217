"""Latency of a batch of identical calls arriving together on an idle instance, by simulation."""

from hexsim.cluster import ClusterSpec, InstanceSpec
from hexsim.errors import ParameterError
from hexsim.profiles.latency import Profile
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.template import WorkflowTemplate
from hexsim.sim.simulate import simulate
from hexsim.workload.model import Call, Query, Stage


def batched_call_latency(profile: Profile, input_tokens: int, output_tokens: int, batch: int) -> tuple[float, float]:
    """(time to the last first token, time to the last completion) of `batch` calls sent at once."""
    if input_tokens + output_tokens > profile.kv_capacity_tokens_usable:
        raise ParameterError(
            "input_tokens",
            f"{input_tokens} + {output_tokens} output tokens do not fit the KV cache of {profile.tp} x {profile.gpu} "
            f"({profile.kv_capacity_tokens_usable} tokens)",
        )
    call = Call("call", input_tokens, output_tokens)
    queries = [Query(f"q{i}", (Stage((call,)),), arrival=0.0) for i in range(batch)]
    cluster = ClusterSpec(profile.model, (InstanceSpec("instance", profile),))
    template = WorkflowTemplate.from_queries(queries)
    records = simulate(cluster, queries, get_policy("vllm"), slo=float("inf"), template=template)
    return max(c.first_token for c in records.calls), max(c.finished for c in records.calls)
