"""HexGen's workload-balanced dispatch: trade an instance's queued work against its speed.

    score(c, m) = (1 - alpha) * beta / max(t_queue(m), eps) - alpha * t_comp(c, m)

The call goes to the highest score; ties to the lower t_comp, then to the earlier instance.
"""

from collections.abc import Sequence

from hexsim.scheduler.config import SchedulerConfig
from hexsim.scheduler.protocols import InstanceView
from hexsim.scheduler.state import ScheduledCall


class WorkloadBalanced:
    def __init__(self, config: SchedulerConfig):
        self.alpha = config.alpha
        self.beta = config.beta
        self.eps = config.eps

    def scores(self, call: ScheduledCall, candidates: Sequence[InstanceView]) -> list[tuple[float, float]]:
        """(score, t_comp) per candidate."""
        balance = (1.0 - self.alpha) * self.beta
        out = []
        for inst in candidates:
            t_comp = inst.est_compute(call)
            out.append((balance / max(inst.queued_work, self.eps) - self.alpha * t_comp, t_comp))
        return out

    def choose(self, call: ScheduledCall, candidates: Sequence[InstanceView]) -> InstanceView:
        scored = self.scores(call, candidates)
        best = min(range(len(candidates)), key=lambda i: (-scored[i][0], scored[i][1], candidates[i].index))
        return candidates[best]
