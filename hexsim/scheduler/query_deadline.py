"""Budget rule of the baselines: every stage inherits the query's end-to-end deadline."""

from collections.abc import Sequence

from hexsim.scheduler.task import CallTask, QueryState


class QueryDeadline:
    def stage_deadline(self, query: QueryState, stage: Sequence[CallTask], now: float) -> float:
        return query.deadline
