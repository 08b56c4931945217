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
        misses = CounterMetricFamily(
            "hexsim_stage_deadline_misses", "Calls finished after their stage deadline.", labels=["model", "step"]
        )
        for (model, step), count in sorted(gateway.outcomes.deadline_misses.items()):
            misses.add_metric([model, step], count)
        yield misses
        queries = CounterMetricFamily(
            "hexsim_queries", "Queries closed, by whether they met their SLO.", labels=["model", "slo_met"]
        )
        attainment = GaugeMetricFamily(
            "hexsim_slo_attainment", "Share of the queries closed so far that met their SLO.", labels=["model"]
        )
        for model in gateway.models:
            met, missed = (gateway.outcomes.queries[model, flag] for flag in (True, False))
            queries.add_metric([model, "true"], met)
            queries.add_metric([model, "false"], missed)
            if met + missed:
                attainment.add_metric([model], met / (met + missed))
        yield queries
        yield attainment
        yield GaugeMetricFamily("hexsim_gateway_queries_open", "Queries open at the gateway.", len(gateway.queries))
        yield GaugeMetricFamily(
            "hexsim_gateway_calls_waiting", "Calls waiting for the scheduler to admit them.", gateway.waiting
        )
        counters = {
            "dispatches": ("hexsim_engine_dispatches", "Calls the gateway sent the engine."),
            "retried": ("hexsim_engine_retries", "Calls that failed at the engine before answering, placed again."),
        }
        gauges = {
            "held": ("hexsim_gateway_calls_held", "Calls dispatched to the instance, waiting for room at the gateway."),
            "in_flight": ("hexsim_gateway_calls_in_flight", "Calls the gateway sent the instance's engine."),
            "foreign": ("hexsim_engine_foreign_requests", "Requests the engine holds that the gateway did not send."),
            "running": ("hexsim_engine_requests_running", "vllm:num_requests_running at the last scrape."),
            "waiting": ("hexsim_engine_requests_waiting", "vllm:num_requests_waiting at the last scrape."),
            "kv": ("hexsim_engine_kv_cache_usage", "vllm:kv_cache_usage_perc at the last scrape (0 to 1)."),
            "age": ("hexsim_engine_metrics_age_seconds", "Seconds since the engine's metrics were last read."),
            "up": ("hexsim_engine_up", "1 while the engine answers, 0 once taken out for failing."),
            "room": ("hexsim_engine_room", "1 if the engine's metrics are fresh and it takes calls, else 0."),
        }
        families = {key: CounterMetricFamily(name, text, labels=["instance"]) for key, (name, text) in counters.items()}
        families |= {key: GaugeMetricFamily(name, text, labels=["instance"]) for key, (name, text) in gauges.items()}
        now = time.monotonic()
        for engine in gateway.engines:
            state = gateway.adapters[engine.model].seam.core.instances[engine.index]
            label = [engine.name]
            families["dispatches"].add_metric(label, engine.dispatches)
            families["retried"].add_metric(label, engine.retried)
            families["held"].add_metric(label, len(state.held))
            families["in_flight"].add_metric(label, engine.in_flight)
            families["foreign"].add_metric(label, state.foreign)
            families["up"].add_metric(label, 1.0 if engine.up else 0.0)
            families["room"].add_metric(label, 1.0 if engine.room else 0.0)
            if engine.load is not None:
                families["running"].add_metric(label, engine.load.running)
                families["waiting"].add_metric(label, engine.load.waiting)
                families["kv"].add_metric(label, engine.load.kv_usage)
                families["age"].add_metric(label, now - engine.scraped)
        yield from families.values()


def gateway_registry(gateway: Gateway) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(gateway))
    registry.register(gateway.decision_seconds)
    return registry
