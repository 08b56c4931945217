"""Least-outstanding-requests dispatch: the instance with the fewest unfinished calls (ties: the first)."""

from collections.abc import Sequence

from hexsim.scheduler.protocols import InstanceView
from hexsim.scheduler.state import ScheduledCall


class LeastOutstanding:
    def choose(self, call: ScheduledCall, candidates: Sequence[InstanceView]) -> InstanceView:
        best = candidates[0]
        for inst in candidates:
            if inst.outstanding < best.outstanding:
                best = inst
        return best
