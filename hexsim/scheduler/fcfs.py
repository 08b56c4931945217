"""First come, first served (vLLM's default): every call has the same key, so dispatch order decides."""

from hexsim.scheduler.state import ScheduledCall


class Fcfs:
    engine_priority = False

    def key(self, call: ScheduledCall) -> float:
        return 0.0
