"""HexGen's per-stage deadlines: split the remaining budget in proportion to expected work.

When stage k of a query becomes ready at t, with R = arrival + SLO - t left,

    d_k = t + R * E(k) / W,   W = E(k) + expected standalone work of the stages after k,

where E(s) is a stage's longest call's estimated standalone time averaged over the cluster's
instance types, and the stages after k come from the workflow template, not the query.
"""

from collections.abc import Sequence

from hexsim.profiles.latency import Profile
from hexsim.scheduler.estimates import Estimates
from hexsim.scheduler.state import QueryState, ScheduledCall
from hexsim.scheduler.template import WorkflowTemplate


class StageBudget:
    def __init__(self, template: WorkflowTemplate, instance_types: Sequence[Profile], estimates: Estimates):
        self.template = template
        self.types = tuple(instance_types)
        self.estimates = estimates
        self.step_time = {
            step: self.mean_time(shape.stage_input_mean, shape.output_mean)
            for step, shape in template.steps.items()
            if shape.stage_input_mean > 0
        }
        self._after: dict[tuple[str, int], float] = {}

    def mean_time(self, input_tokens: float, output_tokens: float) -> float:
        estimate = self.estimates
        return sum(estimate(p, input_tokens, output_tokens) for p in self.types) / len(self.types)

    def stage_time(self, stage: Sequence[ScheduledCall]) -> float:
        """E(k): the longest call of the stage, each call averaged over instance types."""
        return max(self.mean_time(c.spec.input_tokens, c.est_output) for c in stage)

    def expected_after(self, query: QueryState, stage_index: int) -> float:
        position = query.positions[stage_index]
        work = self._after.get(position)
        if work is None:
            after = self.template.stages_after(*position)
            work = self._after[position] = sum(count * self.step_time.get(name, 0.0) for name, count in after.items())
        return work

    def stage_deadline(self, query: QueryState, stage: Sequence[ScheduledCall], now: float) -> float:
        remaining = query.deadline - now
        e_k = self.stage_time(stage)
        total = e_k + self.expected_after(query, stage[0].stage)
        return now + remaining * e_k / total
