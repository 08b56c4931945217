"""The engine emulator's Prometheus metrics, under the names and labels vLLM exports them.

Gauges read the planner at scrape time: `vllm:num_requests_running` (requests in the batch),
`vllm:num_requests_waiting` (queued, preempted ones included) and `vllm:kv_cache_usage_perc`
(KV blocks in use as a share of the cache, 0..1); counters `vllm:prompt_tokens_total` and
`vllm:generation_tokens_total`, and the prefix cache's `vllm:prefix_cache_queries_total` and
`vllm:prefix_cache_hits_total` (prompt tokens of new requests looked up, and found). Every
sample is labelled `model_name` and `engine="0"`. Each app has its own registry, so several
emulators share a process.
"""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hexsim.live.emulated_engine import EmulatedEngine

LABELS = ["model_name", "engine"]
# (kind, name, vLLM's documentation, the engine's attribute); a counter's samples are named `<name>_total`
METRICS = (
    (
        GaugeMetricFamily,
        "vllm:num_requests_running",
        "Number of requests in model execution batches.",
        "requests_running",
    ),
    (GaugeMetricFamily, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", "requests_waiting"),
    (GaugeMetricFamily, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", "kv_cache_usage"),
    (CounterMetricFamily, "vllm:prompt_tokens", "Number of prefill tokens processed.", "prompt_tokens_total"),
    (
        CounterMetricFamily,
        "vllm:generation_tokens",
        "Number of generation tokens processed.",
        "generation_tokens_total",
    ),
    (
        CounterMetricFamily,
        "vllm:prefix_cache_queries",
        "Prefix cache queries, in terms of number of queried tokens.",
        "prefix_cache_queries",
    ),
    (
        CounterMetricFamily,
        "vllm:prefix_cache_hits",
        "Prefix cache hits, in terms of number of cached tokens.",
        "prefix_cache_hits",
    ),
)


class _EngineCollector(Collector):
    def __init__(self, engine: EmulatedEngine, model_name: str):
        self.engine = engine
        self.labels = [model_name, "0"]

    def collect(self) -> Iterator[Metric]:
        for kind, name, documentation, attribute in METRICS:
            family = kind(name, documentation, labels=LABELS)
            family.add_metric(self.labels, getattr(self.engine, attribute))
            yield family


def engine_registry(engine: EmulatedEngine, model_name: str) -> CollectorRegistry:
    """A registry of its own holding the engine's metrics."""
    registry = CollectorRegistry()
    registry.register(_EngineCollector(engine, model_name))
    return registry
