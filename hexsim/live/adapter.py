"""The gateway's side of the scheduler seam: events at wall-clock time, decisions to per-call waiters.

A gateway holds each call's HTTP request until the core admits (or fails) it. It says what to
do then with `on_decision(call, action)` before (or after) sending the event that dispatches
the call; an Admit or Fail for a call no one waits for yet is kept until someone does. The
adapter neither sleeps nor does I/O, so a gateway's event loop, a thread or a test can drive it.
"""

import time
from collections.abc import Callable

from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.events import Admit, CallId, Event, Fail
from hexsim.scheduler.log import DecisionLog
from hexsim.scheduler.seam import Seam

Action = Callable[[Admit | Fail], None]


class GatewayAdapter:
    def __init__(self, core: SchedulerCore, clock: Callable[[], float] | None = None, log: DecisionLog | None = None):
        if clock is None:
            start = time.monotonic()

            def clock() -> float:
                return time.monotonic() - start

        self.seam = Seam(core, clock, {Admit: self._decided, Fail: self._decided}, log)
        self._actions: dict[CallId, Action] = {}
        self._decisions: dict[CallId, Admit | Fail] = {}

    def send(self, event: Event) -> None:
        """Tell the core what happened now and carry out its decisions, in order."""
        self.seam.send(event)

    def on_decision(self, call: CallId, action: Action) -> None:
        """Run `action` when the core admits or fails `call` (now, if it already has)."""
        decided = self._decisions.pop(call, None)
        if decided is None:
            self._actions[call] = action
        else:
            action(decided)

    def _decided(self, decision: Admit | Fail) -> None:
        action = self._actions.pop(decision.call, None)
        if action is None:
            self._decisions[decision.call] = decision
        else:
            action(decision)
