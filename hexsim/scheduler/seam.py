"""A runtime's connection to the scheduler core: events stamped with the runtime's clock in,
decisions carried out by the runtime's handlers (one per kind of decision it acts on).

Both runtimes go through this: the simulator with simulated time, the live adapter
(`hexsim.live.adapter`) with the wall clock. Every event and its decisions go to the decision
log, if there is one, before the decisions are carried out (carrying one out may send further
events).
"""

from collections.abc import Callable, Mapping

from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.events import Decision, Event
from hexsim.scheduler.log import DecisionLog


class Seam:
    def __init__(
        self,
        core: SchedulerCore,
        clock: Callable[[], float],
        carry_out: Mapping[type, Callable[[Decision], None]],
        log: DecisionLog | None = None,
    ):
        self.core = core
        self.clock = clock
        self.log = log
        self._handlers = core.handlers
        self._carry_out = carry_out

    def send(self, event: Event) -> None:
        now = self.clock()
        decisions = self._handlers[type(event)](event, now)
        if self.log is not None:
            self.log.write(now, event)
            for decision in decisions:
                self.log.write(now, decision)
        carry_out = self._carry_out
        for decision in decisions:
            handler = carry_out.get(type(decision))
            if handler is not None:
                handler(decision)
