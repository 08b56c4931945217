"""The gateway's side of the scheduler seam: events at wall-clock time, decisions to per-call waiters.

A gateway holds each call's HTTP request until the core admits (or fails) it. It says what to
do then with `on_decision(call, action)` before (or after) sending the event that dispatches
the call; an Admit or Fail for a call no one waits for yet is kept until someone does. The
dispatches an event made are there to read until the next event. The
adapter neither sleeps nor does I/O, so a gateway's event loop, a thread or a test can drive it.
"""

import time
from collections.abc import Callable

from hexsim.scheduler.core import SchedulerCore
from hexsim.scheduler.events import Admit, CallId, Dispatch, Event, Fail
from hexsim.scheduler.log import DecisionLog
from hexsim.scheduler.seam import Seam

Action = Callable[[Admit | Fail], None]


class GatewayAdapter:
    def __init__(
        self,
        core: SchedulerCore,
        clock: Callable[[], float] | None = None,
        log: DecisionLog | None = None,
        observe: Callable[[float], None] | None = None,
    ):
        if clock is None:
            start = time.monotonic()

            def clock() -> float:
                return time.monotonic() - start

        self.dispatches: list[Dispatch] = []
        handlers = {Admit: self._decided, Fail: self._decided, Dispatch: self.dispatches.append}
        self.seam = Seam(core, clock, handlers, log)
        self._observe = observe  # told how long each event took to handle, in wall seconds
        self._actions: dict[CallId, Action] = {}
        self._decisions: dict[CallId, Admit | Fail] = {}

    def send(self, event: Event) -> None:
        """Tell the core what happened now and carry out its decisions, in order; `dispatches` then
        holds the dispatches this event made."""
        self.dispatches.clear()
        if self._observe is None:
            self.seam.send(event)
            return
        began = time.perf_counter()
        self.seam.send(event)
        self._observe(time.perf_counter() - began)

    def on_decision(self, call: CallId, action: Action) -> None:
        """Run `action` when the core admits or fails `call` (now, if it already has)."""
        decided = self._decisions.pop(call, None)
        if decided is None:
            self._actions[call] = action
        else:
            action(decided)

    def forget(self, call: CallId) -> None:
        """No one waits for `call` any more: the core has given it up."""
        self._actions.pop(call, None)
        self._decisions.pop(call, None)

    def _decided(self, decision: Admit | Fail) -> None:
        action = self._actions.pop(decision.call, None)
        if action is None:
            self._decisions[decision.call] = decision
        else:
            action(decision)
