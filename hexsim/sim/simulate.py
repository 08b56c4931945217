"""simulate(): one policy, one workload, one cluster -> the run's records."""

from collections.abc import Callable, Sequence

import numpy as np

from hexsim.cluster import ClusterSpec
from hexsim.metrics.records import QueryRecord, RunRecords
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.registry import Policy
from hexsim.scheduler.template import WorkflowTemplate, default_template
from hexsim.sim.cluster import SimulatedCluster
from hexsim.workload.arrivals import with_arrivals
from hexsim.workload.model import Query


def simulate(
    cluster: ClusterSpec,
    queries: Sequence[Query],
    policy: Policy,
    slo: float,
    *,
    config: SchedulerConfig = SchedulerConfig(),
    template: WorkflowTemplate | None = None,
    timeline: list | None = None,
    on_query_done: Callable[[object], None] | None = None,
    until: float | None = None,
) -> RunRecords:
    """Replay `queries` (with arrival times) through `policy` on `cluster`.

    `slo` (seconds) is the end-to-end SLO of queries that carry none; `config` holds the
    policy's hyperparameters and `template` the scheduler's workflow estimates (default: the
    template learned from the bundled trace). `timeline`, if given, collects every batch.
    """
    model = SimulatedCluster(cluster, policy, template or default_template(), slo, config, timeline, on_query_done)
    return model.run(queries, until=until)


def simulate_poisson(
    cluster: ClusterSpec,
    queries: Sequence[Query],
    policy: Policy,
    slo: float,
    rate: float,
    seed: int,
    *,
    config: SchedulerConfig,
    template: WorkflowTemplate,
) -> tuple[QueryRecord, ...]:
    """The query records of `queries` arriving as a Poisson process of `rate` drawn from `seed`.

    A seed's inter-arrival gaps are the same at every rate, scaled by 1/rate: rates share randomness.
    """
    arrivals = with_arrivals(list(queries), "poisson", rate, np.random.default_rng(seed))
    return tuple(simulate(cluster, arrivals, policy, slo, config=config, template=template).queries)
