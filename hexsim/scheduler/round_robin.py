"""Round-robin dispatch, as a plain load balancer in front of vLLM engines does it.

The candidates are the same list for every call (the instances serving the model), so one
counter keeps the turn.
"""

from collections.abc import Sequence

from hexsim.scheduler.protocols import InstanceView
from hexsim.scheduler.state import ScheduledCall


class RoundRobin:
    def __init__(self) -> None:
        self._turn = 0

    def choose(self, call: ScheduledCall, candidates: Sequence[InstanceView]) -> InstanceView:
        self._turn += 1
        return candidates[(self._turn - 1) % len(candidates)]
