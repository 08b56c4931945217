"""The gateway's Prometheus metrics, read from its state at each scrape of its /metrics."""

import time

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from hexsim.live.gateway import Gateway


class GatewayCollector(Collector):
    def __init__(self, gateway: Gateway):
        self.gateway = gateway

    def collect(self):
        gateway = self.gateway
        calls = CounterMetricFamily(
            "hexsim_gateway_calls", "Calls that ended, by model and outcome.", labels=["model", "outcome"]
        )
        for (model, outcome), count in sorted(gateway.outcomes.counts.items()):
            calls.add_metric([model, outcome], count)
        yield calls
        yield GaugeMetricFamily("hexsim_gateway_queries_open", "Queries open at the gateway.", len(gateway.queries))
        gauges = {
            "held": ("hexsim_gateway_calls_held", "Calls dispatched to the instance, waiting for room at the gateway."),
            "in_flight": ("hexsim_gateway_calls_in_flight", "Calls the gateway sent the instance's engine."),
            "foreign": ("hexsim_engine_foreign_requests", "Requests the engine holds that the gateway did not send."),
            "running": ("hexsim_engine_requests_running", "vllm:num_requests_running at the last scrape."),
            "waiting": ("hexsim_engine_requests_waiting", "vllm:num_requests_waiting at the last scrape."),
            "kv": ("hexsim_engine_kv_cache_usage", "vllm:kv_cache_usage_perc at the last scrape (0 to 1)."),
            "age": ("hexsim_engine_metrics_age_seconds", "Seconds since the engine's metrics were last read."),
            "up": ("hexsim_engine_up", "1 if the engine's metrics are fresh (it takes calls), else 0."),
        }
        families = {key: GaugeMetricFamily(name, text, labels=["instance"]) for key, (name, text) in gauges.items()}
        now = time.monotonic()
        for engine in gateway.engines:
            state = gateway.adapters[engine.model].seam.core.instances[engine.index]
            label = [engine.name]
            families["held"].add_metric(label, len(state.held))
            families["in_flight"].add_metric(label, engine.in_flight)
            families["foreign"].add_metric(label, state.foreign)
            families["up"].add_metric(label, 1.0 if engine.room else 0.0)
            if engine.load is not None:
                families["running"].add_metric(label, engine.load.running)
                families["waiting"].add_metric(label, engine.load.waiting)
                families["kv"].add_metric(label, engine.load.kv_usage)
                families["age"].add_metric(label, now - engine.scraped)
        yield from families.values()


def gateway_registry(gateway: Gateway) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(gateway))
    return registry
