"""Round-robin dispatch, as a plain load balancer in front of vLLM engines does it."""

from collections.abc import Sequence

from hexsim.scheduler.protocols import InstanceView
from hexsim.scheduler.task import CallTask


class RoundRobin:
    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def choose(self, task: CallTask, candidates: Sequence[InstanceView], now: float) -> InstanceView:
        turn = self._next.get(task.model, 0)
        self._next[task.model] = turn + 1
        return candidates[turn % len(candidates)]
