"""Least-outstanding-requests dispatch: the instance with the fewest unfinished calls."""

from collections.abc import Sequence

from hexsim.scheduler.protocols import InstanceView
from hexsim.scheduler.task import CallTask


class LeastOutstanding:
    def choose(self, task: CallTask, candidates: Sequence[InstanceView], now: float) -> InstanceView:
        return min(candidates, key=lambda inst: (inst.outstanding, inst.index))
