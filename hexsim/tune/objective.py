"""What a trial scores: one scheduler config simulated over several seeds and arrival rates."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hexsim.cluster import ClusterSpec
from hexsim.metrics.records import QueryRecord
from hexsim.metrics.summary import attainment, latency_deadline
from hexsim.metrics.throughput import max_rate
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.registry import get_policy
from hexsim.scheduler.template import WorkflowTemplate
from hexsim.sim.simulate import simulate_poisson
from hexsim.workload.model import Query

OBJECTIVES = {"attainment": "maximize", "deadline": "minimize", "throughput": "maximize"}
# A latency deadline no share of queries meets scores as this many base SLOs.
UNMET_DEADLINE_SCALE = 1000.0


@dataclass(frozen=True)
class Workload:
    """Everything a trial simulates: picklable, so worker processes can rebuild the objective."""

    cluster: ClusterSpec
    queries: tuple[Query, ...]
    template: WorkflowTemplate
    base_slo: float
    rates: tuple[float, ...]
    seeds: tuple[int, ...]
    slo_scale: float
    objective: str = "attainment"
    target: float = 0.95


def run_queries(workload: Workload, config: SchedulerConfig, rate: float, seed: int) -> tuple[QueryRecord, ...]:
    slo = workload.slo_scale * workload.base_slo
    policy = get_policy(config.policy)
    return simulate_poisson(
        workload.cluster, workload.queries, policy, slo, rate, seed, config=config, template=workload.template
    )


def run_value(workload: Workload, queries: Sequence[QueryRecord]) -> float:
    """One run's attainment, or latency deadline in base SLOs, as `score` averages them."""
    if workload.objective == "attainment":
        return attainment(queries, workload.slo_scale * workload.base_slo)
    deadline = latency_deadline(queries, workload.target) / workload.base_slo
    return UNMET_DEADLINE_SCALE if math.isinf(deadline) else deadline


def score(workload: Workload, config: SchedulerConfig) -> float:
    """The objective averaged over seeds (and, but for throughput, arrival rates)."""
    slo = workload.slo_scale * workload.base_slo
    values = []
    for seed in workload.seeds:
        if workload.objective == "throughput":

            def attained(rate: float, seed: int = seed) -> float:
                return attainment(run_queries(workload, config, rate, seed), slo)

            values.append(max_rate(attained, workload.target, workload.rates[0]))
            continue
        values += [run_value(workload, run_queries(workload, config, rate, seed)) for rate in workload.rates]
    return float(np.mean(values))
