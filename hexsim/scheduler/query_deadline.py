"""Budget rule of the baselines: every stage inherits the query's end-to-end deadline."""

from collections.abc import Sequence

from hexsim.scheduler.state import QueryState, ScheduledCall


class QueryDeadline:
    def stage_deadline(self, query: QueryState, stage: Sequence[ScheduledCall], now: float) -> float:
        return query.deadline
