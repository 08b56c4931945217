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
        """The best score of `scores`, in one pass; a call's time is computed once per instance type."""
        balance, alpha, eps = (1.0 - self.alpha) * self.beta, self.alpha, self.eps
        times: dict[int, float] = {}
        best, best_score, best_time = candidates[0], -float("inf"), float("inf")
        for inst in candidates:
            t_comp = times.get(id(inst.profile))
            if t_comp is None:
                t_comp = times[id(inst.profile)] = inst.est_compute(call)
            queued = inst.queued_work
            score = balance / (queued if queued > eps else eps) - alpha * t_comp
            if score > best_score or (score == best_score and t_comp < best_time):
                best, best_score, best_time = inst, score, t_comp
        return best
