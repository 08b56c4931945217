"""A small, fast tuning workload."""

from hexsim.cluster import load_cluster
from hexsim.metrics.base_slo import base_slo
from hexsim.resources import default_cluster, default_trace
from hexsim.scheduler.template import default_template
from hexsim.tune.objective import Workload
from hexsim.workload.traces import load_trace


def small_workload(queries: int = 20, seeds=(0,), rates=(0.03,), objective: str = "attainment") -> Workload:
    cluster = load_cluster(default_cluster())
    return Workload(
        cluster=cluster,
        queries=tuple(load_trace(default_trace())[:queries]),
        template=default_template(),
        base_slo=base_slo(i.profile for i in cluster.instances),
        rates=rates,
        seeds=seeds,
        slo_scale=2.0,
        objective=objective,
    )
