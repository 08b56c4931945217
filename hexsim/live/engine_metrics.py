"""Read the load an engine reports on vLLM's Prometheus `/metrics` endpoint."""

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

RUNNING, WAITING, KV_USAGE = "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"


class MetricsError(ValueError):
    """The text is not vLLM's metrics."""


@dataclass(frozen=True)
class EngineLoad:
    running: int
    waiting: int
    kv_usage: float  # 0..1: the busiest engine's, when the server runs several (data parallel)


def read_engine_load(text: str) -> EngineLoad:
    """Requests running and waiting (summed over the server's engines) and KV-cache usage."""
    values: dict[str, list[float]] = {RUNNING: [], WAITING: [], KV_USAGE: []}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in values:
                    values[sample.name].append(sample.value)
    except ValueError as error:
        raise MetricsError(f"not Prometheus text ({error})") from None
    missing = [name for name, found in values.items() if not found]
    if missing:
        raise MetricsError(f"no {', '.join(missing)} (is it a vLLM server?)")
    return EngineLoad(round(sum(values[RUNNING])), round(sum(values[WAITING])), max(values[KV_USAGE]))
