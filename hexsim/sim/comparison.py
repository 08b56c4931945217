"""Compare policies the way the paper does: attainment curves, latency deadlines and
throughput at an attainment target, per trace, with ratios against the baselines."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hexsim.cluster import ClusterSpec
from hexsim.metrics.records import QueryRecord
from hexsim.metrics.report import deadline_summary, json_seconds
from hexsim.metrics.summary import attainment, completed_percentiles, latency_deadline
from hexsim.metrics.throughput import max_rate
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.registry import Policy
from hexsim.scheduler.template import WorkflowTemplate
from hexsim.sim.simulate import simulate_poisson
from hexsim.workload.model import Query

BASELINES = ("vllm", "lor")


@dataclass(frozen=True)
class ComparisonSetup:
    cluster: ClusterSpec
    policies: Sequence[Policy]
    config: SchedulerConfig
    template: WorkflowTemplate
    base_slo: float
    rates: Sequence[float]
    slo_scale: float
    scales: Sequence[float]
    seeds: Sequence[int] = (0,)  # arrival samples, pooled: every number is over all their queries
    target: float = 0.95


@dataclass(frozen=True)
class PolicyResult:
    """Query records at each of the setup's rates (every seed's, pooled), and the throughput at the target."""

    by_rate: tuple[tuple[QueryRecord, ...], ...]
    throughput: float


def run_at_rate(
    setup: ComparisonSetup, queries: Sequence[Query], policy: Policy, rate: float, on_simulation: Callable[[], None]
) -> tuple[QueryRecord, ...]:
    """One simulation per seed, records pooled."""
    slo = setup.slo_scale * setup.base_slo
    pooled: list[QueryRecord] = []
    for seed in setup.seeds:
        pooled += simulate_poisson(
            setup.cluster, queries, policy, slo, rate, seed, config=setup.config, template=setup.template
        )
        on_simulation()
    return tuple(pooled)


def compare_trace(
    setup: ComparisonSetup, queries: Sequence[Query], on_simulation: Callable[[], None] = lambda: None
) -> dict[str, PolicyResult]:
    """Every policy at every rate, and its throughput at the attainment target (of the pooled seeds)."""
    slo = setup.slo_scale * setup.base_slo
    results = {}
    for policy in setup.policies:
        runs = {rate: run_at_rate(setup, queries, policy, rate, on_simulation) for rate in setup.rates}

        def attained(rate: float, policy: Policy = policy, runs: dict = runs) -> float:
            records = runs[rate] if rate in runs else run_at_rate(setup, queries, policy, rate, on_simulation)
            return attainment(records, slo)

        by_rate = tuple(runs[rate] for rate in setup.rates)
        results[policy.name] = PolicyResult(by_rate, max_rate(attained, setup.target, setup.rates[0]))
    return results


def _ratio(numerator: float, denominator: float) -> float | None:
    if math.isinf(numerator) or math.isinf(denominator) or denominator == 0:
        return None
    return round(numerator / denominator, 4)


def rate_summary(setup: ComparisonSetup, queries: Sequence[QueryRecord]) -> dict:
    (p95,) = completed_percentiles(queries, (95,))
    return {**deadline_summary(queries, setup.base_slo, setup.scales), "p95_s": json_seconds(p95)}


def trace_report(setup: ComparisonSetup, results: dict[str, PolicyResult]) -> dict:
    """One trace's report: headline numbers at the first rate, every rate under `by_rate`."""
    policies = {}
    for name, result in results.items():
        by_rate = {f"{rate:g}": rate_summary(setup, qs) for rate, qs in zip(setup.rates, result.by_rate, strict=True)}
        policies[name] = {**by_rate[f"{setup.rates[0]:g}"], "throughput_p95_qps": round(result.throughput, 6)}
        policies[name]["by_rate"] = by_rate
        first = result.by_rate[0]
        for baseline in BASELINES:
            if baseline in results:
                other = results[baseline]
                policies[name][f"ratios_vs_{baseline}"] = {
                    "deadline_p95": _ratio(latency_deadline(other.by_rate[0], 0.95), latency_deadline(first, 0.95)),
                    "deadline_p99": _ratio(latency_deadline(other.by_rate[0], 0.99), latency_deadline(first, 0.99)),
                    "throughput_p95": _ratio(result.throughput, other.throughput),
                }
    return {"reference_rate": setup.rates[0], "policies": policies}
