"""One experiment: what simulate, compare, tune and capacity all run.

A cluster, a trace and the scheduler's template and configuration; arrivals drawn from a
process at each of `rates` (queries/s), once per seed; an end-to-end SLO of `slo_scale`
base SLOs, the base SLO derived by `base_slo_rule` (see `hexsim.metrics.base_slo`: `trace`,
the trace's queries alone, or `chess`, the paper's standard CHESS workflow alone). A mixed
trace (`hexsim.workload.mix`) has a base SLO per workflow, and each query is scheduled and
counted against its own workflow's SLO. Picklable, so worker processes can rebuild it.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from hexsim.cluster import ClusterSpec
from hexsim.defaults import DEFAULT_BASE_SLO, DEFAULT_RATE, DEFAULT_SLO_SCALE
from hexsim.metrics.base_slo import cluster_base_slo, workflow_base_slos
from hexsim.metrics.summary import Slo, scaled
from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.template import WorkflowTemplate, default_template
from hexsim.workload.arrivals import with_arrivals
from hexsim.workload.model import Query


@dataclass(frozen=True)
class Experiment:
    cluster: ClusterSpec
    queries: tuple[Query, ...]
    template: WorkflowTemplate
    base_slo: float
    config: SchedulerConfig = SchedulerConfig()
    rates: tuple[float, ...] = (DEFAULT_RATE,)
    seeds: tuple[int, ...] = (0,)
    slo_scale: float = DEFAULT_SLO_SCALE
    arrivals: str = "poisson"
    cv: float = 2.0
    target: float = 0.95
    base_slo_rule: str = "chess"  # how `base_slo` was derived: "trace" or "chess"
    true_outputs: bool = False  # the scheduler is told each call's output length (an upper bound)
    # A mixed trace's base SLO per workflow, by the same rule over its own queries; empty for a trace of one.
    base_slos: dict[str, float] = field(default_factory=dict)

    @property
    def slo(self) -> float:
        """The end-to-end SLO in seconds (of a mixed trace: over all its queries, see `slos`)."""
        return self.slo_scale * self.base_slo

    @property
    def bases(self) -> Slo:
        """The base SLO each query is counted against: `base_slo`, or per workflow of a mixed trace."""
        return self.base_slos or self.base_slo

    @property
    def slos(self) -> Slo:
        """The end-to-end SLO each query is scheduled and counted against: `slo`, or per workflow of a mixed trace."""
        return scaled(self.bases, self.slo_scale)

    @classmethod
    def create(
        cls,
        cluster: ClusterSpec,
        queries,
        template: WorkflowTemplate | None = None,
        base_slo_rule: str = DEFAULT_BASE_SLO,
        **settings,
    ) -> "Experiment":
        """An experiment whose base SLO follows `base_slo_rule` on `cluster`'s instances serving its model:
        `trace` (default), the mean standalone latency of `queries`; `chess`, the standard CHESS workflow's."""
        queries = tuple(queries)
        return cls(
            cluster=cluster,
            queries=queries,
            template=template or default_template(),
            base_slo=cluster_base_slo(cluster, queries, base_slo_rule),
            base_slo_rule=base_slo_rule,
            base_slos=workflow_base_slos(cluster, queries, base_slo_rule),
            **settings,
        )

    def with_queries(self, queries) -> "Experiment":
        """The experiment on other queries; under the `trace` rule, with their base SLO (and their workflows')."""
        queries = tuple(queries)
        rule = self.base_slo_rule
        base_slo = cluster_base_slo(self.cluster, queries, rule) if rule == "trace" else self.base_slo
        return replace(
            self, queries=queries, base_slo=base_slo, base_slos=workflow_base_slos(self.cluster, queries, rule)
        )

    def with_slos(self, queries: list[Query]) -> list[Query]:
        """`queries` with their workflow's SLO, where a mixed trace gives each workflow its own and a query has none
        of its own; as they are otherwise (the simulator gives a query without one `slo`)."""
        slos = self.slos
        if not isinstance(slos, dict):
            return queries
        return [q if q.slo is not None else replace(q, slo=slos[q.workflow]) for q in queries]

    def with_policy(self, name: str) -> "Experiment":
        return replace(self, config=replace(self.config, policy=name))

    def sample(self, rate: float, seed: int) -> list[Query]:
        """The queries with arrival times drawn at `rate` from `seed` (and, in a mixed trace, their workflow's SLO).

        A seed's gaps are the same at every rate, scaled by 1/rate: rates share randomness.
        """
        drawn = with_arrivals(list(self.queries), self.arrivals, rate, np.random.default_rng(seed), cv=self.cv)
        return self.with_slos(drawn)
