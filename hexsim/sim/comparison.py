"""Compare policies the way the paper does: attainment curves, latency deadlines and
throughput at an attainment target, per trace, with ratios against the baselines.

Attainment and deadlines are those of the trace replayed at each of the experiment's rates;
throughput is measured under sustained load (`hexsim.sim.throughput`)."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hexsim.experiment import Experiment
from hexsim.metrics.records import InstanceRecord, QueryRecord
from hexsim.metrics.report import by_workflow, deadline_summary, json_seconds, workflow_base_slos
from hexsim.metrics.summary import Slo, completed_percentiles, prefix_cache, scale_deadline
from hexsim.metrics.throughput import Throughput
from hexsim.sim.simulate import run_records
from hexsim.sim.throughput import sustained_throughput

BASELINES = ("vllm", "lor")


@dataclass(frozen=True)
class PolicyResult:
    """Query and instance records at each of the experiment's rates (every seed's, pooled), and the throughput
    at the target under sustained load (`bound`: None, or "at_least" / "at_most" where the search met its cap
    or floor)."""

    by_rate: tuple[tuple[QueryRecord, ...], ...]
    throughput: float
    bound: str | None = None
    instances_by_rate: tuple[tuple[InstanceRecord, ...], ...] = ()

    @property
    def found(self) -> Throughput:
        return Throughput(self.throughput, self.bound)


def run_at_rate(
    experiment: Experiment, rate: float, on_simulation: Callable[[], None]
) -> tuple[tuple[QueryRecord, ...], tuple[InstanceRecord, ...]]:
    """One simulation per seed, records pooled: every number is over all their queries (and instances)."""
    queries: list[QueryRecord] = []
    instances: list[InstanceRecord] = []
    for seed in experiment.seeds:
        records = run_records(experiment, rate, seed)
        queries += records.queries
        instances += records.instances
        on_simulation()
    return tuple(queries), tuple(instances)


def compare_trace(
    experiment: Experiment,
    policies: Sequence[str],
    on_simulation: Callable[[], None] = lambda: None,
    max_queries: int | None = None,
    span_slos: float | None = None,
) -> dict[str, PolicyResult]:
    """Every policy at every rate, and its throughput at the attainment target under sustained load (of the
    pooled seeds; samples of at most `max_queries` queries whose arrivals span `span_slos` SLOs, defaults
    `hexsim.sim.throughput.MAX_QUERIES` and `SPAN_SLOS`)."""
    results = {}
    for name in policies:
        run = experiment.with_policy(name)
        pooled = [run_at_rate(run, rate, on_simulation) for rate in run.rates]
        found = sustained_throughput(run, on_simulation, max_queries, span_slos=span_slos)
        by_rate = tuple(queries for queries, _ in pooled)
        results[name] = PolicyResult(by_rate, found.rate, found.bound, tuple(instances for _, instances in pooled))
    return results


def _ratio(numerator: float, denominator: float) -> float | None:
    if math.isinf(numerator) or math.isinf(denominator) or denominator == 0:
        return None
    return round(numerator / denominator, 4)


def _throughput_ratio(policy: PolicyResult, baseline: PolicyResult) -> float | None:
    """The policy's throughput over the baseline's; None where either is only a bound."""
    if policy.bound is not None or baseline.bound is not None:
        return None
    return _ratio(policy.throughput, baseline.throughput)


def rate_summary(
    experiment: Experiment,
    scales: Sequence[float],
    queries: Sequence[QueryRecord],
    instances: Sequence[InstanceRecord] = (),
) -> dict:
    """Attainment, deadlines and P95 latency of `queries` (and of each workflow's alone, in a mixed trace), and the
    prefix cache's hit rate over `instances`."""
    summary = _latency(queries, experiment.bases, scales)
    summary["prefix_cache_hit_rate"] = prefix_cache(instances).get("all", {}).get("hit_rate")
    return summary | by_workflow(queries, experiment.bases, lambda qs, base: _latency(qs, base, scales))


def _latency(queries: Sequence[QueryRecord], base_slo: Slo, scales: Sequence[float]) -> dict:
    (p95,) = completed_percentiles(queries, (95,))
    return {**deadline_summary(queries, base_slo, scales), "p95_s": json_seconds(p95)}


def trace_report(experiment: Experiment, scales: Sequence[float], results: dict[str, PolicyResult]) -> dict:
    """One trace's report: headline numbers at the first rate, every rate under `by_rate`. Deadline ratios are of
    deadlines in base SLOs (in a mixed trace, each query's workflow's)."""
    rates = experiment.rates

    def deadline(queries: Sequence[QueryRecord], share: float) -> float:
        return scale_deadline(queries, share, experiment.bases)

    policies = {}
    for name, result in results.items():
        instances = result.instances_by_rate or tuple(() for _ in rates)
        by_rate = {
            f"{rate:g}": rate_summary(experiment, scales, qs, insts)
            for rate, qs, insts in zip(rates, result.by_rate, instances, strict=True)
        }
        policies[name] = {
            **by_rate[f"{rates[0]:g}"],
            "throughput_p95_qps": round(result.throughput, 6),
            "throughput_p95_bound": result.bound,
        }
        policies[name]["by_rate"] = by_rate
        first = result.by_rate[0]
        for baseline in BASELINES:
            if baseline in results:
                other = results[baseline]
                policies[name][f"ratios_vs_{baseline}"] = {
                    "deadline_p95": _ratio(deadline(other.by_rate[0], 0.95), deadline(first, 0.95)),
                    "deadline_p99": _ratio(deadline(other.by_rate[0], 0.99), deadline(first, 0.99)),
                    "throughput_p95": _throughput_ratio(result, other),
                }
    return {
        "base_slo_s": round(experiment.base_slo, 6),
        **workflow_base_slos(experiment.base_slos),
        "reference_rate": rates[0],
        "policies": policies,
    }
